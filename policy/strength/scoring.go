package strength

import (
	"math"
	"unicode"
)

// The scoring's constants, from the zxcvbn paper.
const (
	// bruteforceCardinality is the characters a cracker tries per position
	// in a stretch no pattern explains.
	bruteforceCardinality = 10
	// minSubmatchGuesses are the fewest guesses a part of a longer password
	// counts for, so that a decomposition into many tiny parts is not
	// favoured.
	minSubmatchGuessesSingle = 10
	minSubmatchGuessesMulti  = 50
	// minGuessesBeforeGrowingSequence is the per-part cost the cracker pays
	// for not knowing how many parts the password has.
	minGuessesBeforeGrowingSequence = 10000
	// minYearSpace is the fewest years a year or date counts for.
	minYearSpace = 20
)

// guesses sets and returns m.Guesses for a match in a password of n
// characters.
func (e *estimator) guesses(m *Match, n int) float64 {
	if m.Guesses != 0 {
		return m.Guesses
	}
	length := m.J - m.I + 1
	floor := 1.0
	if length < n {
		floor = minSubmatchGuessesMulti
		if length == 1 {
			floor = minSubmatchGuessesSingle
		}
	}
	var g float64
	switch m.Pattern {
	case PatternBruteforce:
		g = math.Pow(bruteforceCardinality, float64(length))
		if math.IsInf(g, 0) {
			g = math.MaxFloat64
		}
		// One more than the fewest guesses a submatch counts for, so a
		// pattern of the same length wins over bruteforce.
		if length == 1 {
			g = math.Max(g, minSubmatchGuessesSingle+1)
		} else {
			g = math.Max(g, minSubmatchGuessesMulti+1)
		}
	case PatternDictionary:
		g = float64(m.Rank) * uppercaseVariations(m.Token) * l33tVariations(m)
		if m.Reversed {
			g *= 2
		}
	case PatternSpatial:
		g = spatialGuesses(m)
	case PatternRepeat:
		g = m.BaseGuesses * float64(m.Repeats)
	case PatternSequence:
		g = sequenceGuesses(m)
	case PatternYear:
		g = float64(max(abs(m.Year-e.year), minYearSpace))
	case PatternDate:
		g = float64(max(abs(m.Year-e.year), minYearSpace)) * 365
		if m.Separator != "" {
			g *= 4
		}
	}
	m.Guesses = math.Max(g, floor)
	return m.Guesses
}

// uppercaseVariations is how many ways of capitalising the word a cracker
// tries before this one: none for lower case, two for the usual ones (first
// letter, last letter, all), else every mix with as many capitals.
func uppercaseVariations(token string) float64 {
	upper, lower := 0, 0
	rs := []rune(token)
	for _, r := range rs {
		switch {
		case unicode.IsUpper(r):
			upper++
		case unicode.IsLower(r):
			lower++
		}
	}
	if upper == 0 {
		return 1
	}
	if lower == 0 {
		return 2
	}
	firstOnly := upper == 1 && unicode.IsUpper(rs[0])
	lastOnly := upper == 1 && unicode.IsUpper(rs[len(rs)-1])
	if firstOnly || lastOnly {
		return 2
	}
	v := 0.0
	for i := 1; i <= min(upper, lower); i++ {
		v += nCk(upper+lower, i)
	}
	return v
}

// l33tVariations is how many ways of substituting symbols for the word's
// letters a cracker tries: for each symbol used, two if every such letter
// was substituted, else every mix with as many substitutions.
func l33tVariations(m *Match) float64 {
	if !m.L33t {
		return 1
	}
	v := 1.0
	folded := []rune(lower(m.Token))
	for symbol, letter := range m.subs {
		subbed, unsubbed := 0, 0
		for _, r := range folded {
			switch r {
			case symbol:
				subbed++
			case letter:
				unsubbed++
			}
		}
		if subbed == 0 || unsubbed == 0 {
			v *= 2
			continue
		}
		p := 0.0
		for i := 1; i <= min(subbed, unsubbed); i++ {
			p += nCk(subbed+unsubbed, i)
		}
		v *= p
	}
	return v
}

// spatialGuesses counts the keyboard runs of at most this length and this
// many turns, from any starting key, then the ways to shift some keys.
func spatialGuesses(m *Match) float64 {
	var kb *keyboard
	for _, k := range loadKeyboards() {
		if k.name == m.Graph {
			kb = k
		}
	}
	length := len([]rune(m.Token))
	g := 0.0
	for i := 2; i <= length; i++ {
		for j := 1; j <= min(m.Turns, i-1); j++ {
			g += nCk(i-1, j-1) * float64(kb.starts) * math.Pow(kb.degree, float64(j))
		}
	}
	if s := m.Shifted; s > 0 {
		u := length - s
		if u == 0 {
			g *= 2
		} else {
			v := 0.0
			for i := 1; i <= min(s, u); i++ {
				v += nCk(s+u, i)
			}
			g *= v
		}
	}
	return g
}

// sequenceGuesses: a sequence starting where people start ("a", "1", "z",
// "9") costs little, any other digit ten, any other character 26; twice as
// much backwards; times its length.
func sequenceGuesses(m *Match) float64 {
	rs := []rune(m.Token)
	var base float64
	switch first := rs[0]; {
	case first == 'a' || first == 'A' || first == 'z' || first == 'Z' || first == '0' || first == '1' || first == '9':
		base = 4
	case first >= '0' && first <= '9':
		base = 10
	default:
		base = 26
	}
	if !m.Ascending {
		base *= 2
	}
	return base * float64(len(rs))
}

// mostGuessable finds the sequence of non-overlapping matches covering pw
// that takes the fewest guesses: with l parts, l! times the product of the
// parts' guesses (the parts may come in any order) plus 10000^(l-1) (the
// cracker tries shorter sequences first). Gaps are filled with bruteforce.
// Dynamic programming over the end position and the number of parts.
func (e *estimator) mostGuessable(pw []rune, matches []Match) (float64, []Match) {
	n := len(pw)
	if n == 0 {
		return 1, nil
	}
	byEnd := make([][]int, n)
	for k := range matches {
		byEnd[matches[k].J] = append(byEnd[matches[k].J], k)
	}
	// best[k][l]: the best sequence of l parts covering pw[0..k].
	type cell struct {
		match   *Match
		product float64 // product of the parts' guesses
		total   float64
	}
	// best[k][l] has a nil match where no sequence of l parts ends at k.
	best := make([][]cell, n)
	for k := range best {
		best[k] = make([]cell, k+2)
	}
	factorial := func(l int) float64 {
		f := 1.0
		for i := 2; i <= l; i++ {
			f *= float64(i)
		}
		return f
	}
	update := func(m *Match, l int) {
		k := m.J
		pi := e.guesses(m, n)
		if l > 1 {
			pi *= best[m.I-1][l-1].product
		}
		total := factorial(l)*pi + math.Pow(minGuessesBeforeGrowingSequence, float64(l-1))
		// Keep it only if no sequence with as many parts or fewer ending
		// here is as cheap.
		for other := 1; other <= l; other++ {
			if c := best[k][other]; c.match != nil && c.total <= total {
				return
			}
		}
		best[k][l] = cell{match: m, product: pi, total: total}
	}
	bruteforce := func(i, j int) *Match {
		return &Match{Pattern: PatternBruteforce, I: i, J: j, Token: string(pw[i : j+1])}
	}
	for k := range n {
		for _, idx := range byEnd[k] {
			m := &matches[idx]
			if m.I > 0 {
				for l, c := range best[m.I-1] {
					if c.match != nil {
						update(m, l+1)
					}
				}
			} else {
				update(m, 1)
			}
		}
		// Bruteforce from any start to k, after anything that is not
		// itself bruteforce (two in a row are one).
		update(bruteforce(0, k), 1)
		for i := 1; i <= k; i++ {
			m := bruteforce(i, k)
			for l, c := range best[i-1] {
				if c.match != nil && c.match.Pattern != PatternBruteforce {
					update(m, l+1)
				}
			}
		}
	}
	// Unwind from the cheapest sequence covering everything.
	l, total := 0, math.Inf(1)
	for parts, c := range best[n-1] {
		if c.match != nil && c.total < total {
			l, total = parts, c.total
		}
	}
	seq := make([]Match, l)
	for k := n - 1; k >= 0; l-- {
		m := best[k][l].match
		seq[l-1] = *m
		k = m.I - 1
	}
	return total, seq
}

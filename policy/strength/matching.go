package strength

import (
	"cmp"
	"slices"
	"unicode"
)

// omnimatch finds every pattern in pw, ordered by position.
func (e *estimator) omnimatch(pw []rune) []Match {
	if len(pw) == 0 {
		return nil
	}
	folded := make([]rune, len(pw))
	for i, r := range pw {
		folded[i] = unicode.ToLower(r)
	}
	var ms []Match
	ms = e.dictionaryMatches(ms, pw, folded)
	ms = e.reversedMatches(ms, pw, folded)
	ms = e.l33tMatches(ms, pw, folded)
	ms = spatialMatches(ms, pw)
	ms = e.repeatMatches(ms, pw)
	ms = sequenceMatches(ms, pw)
	ms = e.yearMatches(ms, pw)
	ms = e.dateMatches(ms, pw)
	slices.SortStableFunc(ms, func(a, b Match) int {
		return cmp.Or(cmp.Compare(a.I, b.I), cmp.Compare(a.J, b.J))
	})
	return ms
}

// lookup calls found for each stretch of word (lower case) that is in a
// list or the user inputs, with the stretch's first and last positions.
func (e *estimator) lookup(word []rune, found func(i, j int, dict, w string, rank int)) {
	s := string(word)
	offsets := make([]int, 0, len(word)+1)
	for i := range s {
		offsets = append(offsets, i)
	}
	offsets = append(offsets, len(s))
	n := len(word)
	for i := range n {
		for j := i; j < n && j-i < e.longest; j++ {
			w := s[offsets[i]:offsets[j+1]]
			for k, ranks := range e.lists.ranks {
				if r, ok := ranks[w]; ok {
					found(i, j, e.lists.names[k], w, int(r))
				}
			}
			if r, ok := e.inputs[w]; ok {
				found(i, j, DictUserInputs, w, r)
			}
		}
	}
}

func (e *estimator) dictionaryMatches(ms []Match, pw, folded []rune) []Match {
	e.lookup(folded, func(i, j int, dict, w string, rank int) {
		ms = append(ms, Match{Pattern: PatternDictionary, I: i, J: j, Token: string(pw[i : j+1]),
			Dictionary: dict, MatchedWord: w, Rank: rank})
	})
	return ms
}

// reversedMatches finds words spelt backwards ("drowssap"); a palindrome
// is already found forwards.
func (e *estimator) reversedMatches(ms []Match, pw, folded []rune) []Match {
	n := len(pw)
	back := slices.Clone(folded)
	slices.Reverse(back)
	e.lookup(back, func(i, j int, dict, w string, rank int) {
		token := pw[n-1-j : n-i]
		if string(back[i:j+1]) == string(folded[n-1-j:n-i]) {
			return
		}
		ms = append(ms, Match{Pattern: PatternDictionary, I: n - 1 - j, J: n - 1 - i, Token: string(token),
			Dictionary: dict, MatchedWord: w, Rank: rank, Reversed: true})
	})
	return ms
}

// lookAlikes are the symbols people put for letters ("p@ssw0rd"): symbol →
// the letters it can stand for.
var lookAlikes = map[rune][]rune{
	'4': {'a'}, '@': {'a'},
	'8': {'b'},
	'(': {'c'}, '{': {'c'}, '[': {'c'}, '<': {'c'},
	'3': {'e'},
	'6': {'g'}, '9': {'g'},
	'1': {'i', 'l'}, '!': {'i'}, '|': {'i', 'l'},
	'7': {'l', 't'},
	'0': {'o'},
	'$': {'s'}, '5': {'s'},
	'+': {'t'},
	'%': {'x'},
	'2': {'z'},
}

// l33tMatches finds words spelt with look-alike symbols. Each way of reading
// the password's symbols (a symbol standing for one letter throughout; at
// most 2^3 ways, for 1, | and 7) is looked up like a plain password, and a
// word counts when at least one symbol in it was read as a letter.
func (e *estimator) l33tMatches(ms []Match, pw, folded []rune) []Match {
	var symbols []rune
	for _, r := range folded {
		if _, ok := lookAlikes[r]; ok && !slices.Contains(symbols, r) {
			symbols = append(symbols, r)
		}
	}
	if len(symbols) == 0 {
		return ms
	}
	type key struct {
		i, j int
		dict string
		word string
	}
	seen := map[key]bool{}
	choice := make([]int, len(symbols))
	translated := make([]rune, len(folded))
	for {
		sub := make(map[rune]rune, len(symbols))
		for k, s := range symbols {
			sub[s] = lookAlikes[s][choice[k]]
		}
		for i, r := range folded {
			if l, ok := sub[r]; ok {
				translated[i] = l
			} else {
				translated[i] = r
			}
		}
		e.lookup(translated, func(i, j int, dict, w string, rank int) {
			if i == j {
				return
			}
			used := map[rune]rune{}
			for _, r := range folded[i : j+1] {
				if l, ok := sub[r]; ok {
					used[r] = l
				}
			}
			k := key{i, j, dict, w}
			if len(used) == 0 || seen[k] {
				return
			}
			seen[k] = true
			ms = append(ms, Match{Pattern: PatternDictionary, I: i, J: j, Token: string(pw[i : j+1]),
				Dictionary: dict, MatchedWord: w, Rank: rank, L33t: true, subs: used})
		})
		// Next combination of the ambiguous symbols' readings.
		k := 0
		for ; k < len(symbols); k++ {
			if choice[k]++; choice[k] < len(lookAlikes[symbols[k]]) {
				break
			}
			choice[k] = 0
		}
		if k == len(symbols) {
			return ms
		}
	}
}

// repeatMatches finds a unit typed several times over ("aaaa",
// "abcabcabc"): at the first place a repeat starts, the longer of the
// repeat of the shortest unit and the repeat of the longest unit, then on
// from its end.
func (e *estimator) repeatMatches(ms []Match, pw []rune) []Match {
	n := len(pw)
	copies := func(p, unit int) int {
		k := 1
		for p+(k+1)*unit <= n && slices.Equal(pw[p:p+unit], pw[p+k*unit:p+(k+1)*unit]) {
			k++
		}
		return k
	}
	for p := 0; p < n-1; {
		shortest, longest := 0, 0
		for unit := 1; p+2*unit <= n; unit++ {
			if slices.Equal(pw[p:p+unit], pw[p+unit:p+2*unit]) {
				if shortest == 0 {
					shortest = unit
				}
				longest = unit
			}
		}
		if shortest == 0 {
			p++
			continue
		}
		span, base := shortest*copies(p, shortest), shortest
		if l := longest * copies(p, longest); l > span {
			span = l
			base = period(pw[p : p+span])
		}
		baseRunes := pw[p : p+base]
		baseGuesses, _ := e.mostGuessable(baseRunes, e.omnimatch(baseRunes))
		ms = append(ms, Match{Pattern: PatternRepeat, I: p, J: p + span - 1, Token: string(pw[p : p+span]),
			BaseToken: string(baseRunes), BaseGuesses: baseGuesses, Repeats: span / base})
		p += span
	}
	return ms
}

// period is the shortest unit that s is a whole number of copies of.
func period(s []rune) int {
	for unit := 1; unit < len(s); unit++ {
		if len(s)%unit != 0 {
			continue
		}
		ok := true
		for i := unit; i < len(s) && ok; i++ {
			ok = s[i] == s[i-unit]
		}
		if ok {
			return unit
		}
	}
	return len(s)
}

// maxSequenceStep is the largest step between characters still taken for
// a sequence ("aceg", "9630").
const maxSequenceStep = 5

// sequenceMatches finds runs of characters a constant step apart
// ("abcd", "7531", "zyx"): three or more, or two a step of one apart.
func sequenceMatches(ms []Match, pw []rune) []Match {
	if len(pw) < 2 {
		return ms
	}
	emit := func(i, j, step int) {
		if step < 0 {
			step = -step
		}
		if (j-i > 1 || step == 1) && step > 0 && step <= maxSequenceStep {
			ms = append(ms, Match{Pattern: PatternSequence, I: i, J: j, Token: string(pw[i : j+1]), Ascending: pw[j] > pw[i]})
		}
	}
	start := 0
	step := int(pw[1]) - int(pw[0])
	for k := 2; k < len(pw); k++ {
		d := int(pw[k]) - int(pw[k-1])
		if d == step {
			continue
		}
		emit(start, k-1, step)
		start, step = k-1, d
	}
	emit(start, len(pw)-1, step)
	return ms
}

// yearMatches finds years 1900-2099, left to right.
func (e *estimator) yearMatches(ms []Match, pw []rune) []Match {
	for p := 0; p+4 <= len(pw); {
		y, ok := number(pw[p : p+4])
		if ok && y >= 1900 && y <= 2099 {
			ms = append(ms, Match{Pattern: PatternYear, I: p, J: p + 3, Token: string(pw[p : p+4]), Year: y})
			p += 4
			continue
		}
		p++
	}
	return ms
}

// number reads decimal digits; ok is false for anything else.
func number(rs []rune) (int, bool) {
	if len(rs) == 0 {
		return 0, false
	}
	n := 0
	for _, r := range rs {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}

// The years a date may have.
const (
	dateMinYear = 1000
	dateMaxYear = 2050
)

// dateSplits are, for a run of 4-8 digits with no separator, the places it
// may split into day, month and year in some order.
var dateSplits = map[int][][2]int{
	4: {{1, 2}, {2, 3}},         // 1191, 9111
	5: {{1, 3}, {2, 3}},         // 1/11/91, 11/1/91
	6: {{1, 2}, {2, 4}, {4, 5}}, // 1/1/1991, 11/11/91, 1991/1/1
	7: {{1, 3}, {2, 3}, {4, 5}, {4, 6}},
	8: {{2, 4}, {4, 6}}, // 11/11/1991, 1991/11/11
}

func isDateSeparator(r rune) bool {
	switch r {
	case ' ', '/', '\\', '_', '.', '-':
		return true
	}
	return false
}

// dateMatches finds dates, with or without separators (13.5.1987,
// 1987-05-13, 130587). Of the readings of a digit run the one whose year is
// nearest the reference year is kept; a date inside a longer date is
// dropped.
func (e *estimator) dateMatches(ms []Match, pw []rune) []Match {
	var found []Match
	n := len(pw)
	for i := 0; i+4 <= n; i++ {
		for j := i + 3; j <= i+7 && j < n; j++ {
			token := pw[i : j+1]
			if _, ok := number(token); !ok {
				break
			}
			best, ok := date{}, false
			for _, sp := range dateSplits[len(token)] {
				a, _ := number(token[:sp[0]])
				b, _ := number(token[sp[0]:sp[1]])
				c, _ := number(token[sp[1]:])
				if d, valid := readDate(a, b, c); valid && (!ok || abs(d.year-e.year) < abs(best.year-e.year)) {
					best, ok = d, true
				}
			}
			if ok {
				found = append(found, Match{Pattern: PatternDate, I: i, J: j, Token: string(token), Year: best.year})
			}
		}
	}
	for i := 0; i+6 <= n; i++ {
		for j := i + 5; j <= i+9 && j < n; j++ {
			token := pw[i : j+1]
			first := slices.IndexFunc(token, isDateSeparator)
			if first < 1 || first > 4 {
				continue
			}
			sep := token[first]
			second := slices.Index(token[first+1:], sep)
			if second < 1 || second > 2 {
				continue
			}
			second += first + 1
			a, okA := number(token[:first])
			b, okB := number(token[first+1 : second])
			c, okC := number(token[second+1:])
			if !okA || !okB || !okC || len(token)-second-1 > 4 {
				continue
			}
			if d, valid := readDate(a, b, c); valid {
				found = append(found, Match{Pattern: PatternDate, I: i, J: j, Token: string(token), Year: d.year, Separator: string(sep)})
			}
		}
	}
	for k, m := range found {
		inside := false
		for l, o := range found {
			if l != k && o.I <= m.I && o.J >= m.J && (o.I != m.I || o.J != m.J) {
				inside = true
				break
			}
		}
		if !inside {
			ms = append(ms, m)
		}
	}
	return ms
}

type date struct{ year, month, day int }

// readDate reads three numbers as a day, month and year in some order: the
// year first or last, two-digit years as the nearest century's.
func readDate(a, b, c int) (date, bool) {
	if b > 31 || b <= 0 {
		return date{}, false
	}
	over12, over31, under1 := 0, 0, 0
	for _, v := range []int{a, b, c} {
		if (v > 99 && v < dateMinYear) || v > dateMaxYear {
			return date{}, false
		}
		if v > 31 {
			over31++
		}
		if v > 12 {
			over12++
		}
		if v <= 0 {
			under1++
		}
	}
	if over31 >= 2 || over12 == 3 || under1 >= 2 {
		return date{}, false
	}
	splits := [][3]int{{c, a, b}, {a, b, c}} // year, then the other two
	for _, s := range splits {
		if s[0] >= dateMinYear && s[0] <= dateMaxYear {
			if d, m, ok := dayMonth(s[1], s[2]); ok {
				return date{s[0], m, d}, true
			}
			// A four-digit year with no day and month beside it is no date.
			return date{}, false
		}
	}
	for _, s := range splits {
		if d, m, ok := dayMonth(s[1], s[2]); ok {
			y := s[0]
			switch {
			case y > 99:
			case y > 50:
				y += 1900
			default:
				y += 2000
			}
			return date{y, m, d}, true
		}
	}
	return date{}, false
}

func dayMonth(a, b int) (day, month int, ok bool) {
	for _, p := range [][2]int{{a, b}, {b, a}} {
		if p[0] >= 1 && p[0] <= 31 && p[1] >= 1 && p[1] <= 12 {
			return p[0], p[1], true
		}
	}
	return 0, 0, false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Package strength estimates how many guesses a cracker would need for a
// password, after the published zxcvbn algorithm (Wheeler, "zxcvbn:
// Low-Budget Password Strength Estimation", USENIX Security 2016): it finds
// every pattern in the password (words from frequency lists, also reversed
// or with look-alike symbols, keyboard runs, sequences, repeats, years and
// dates), estimates the guesses each would take, and finds the
// decomposition of the whole password that needs the fewest guesses.
//
// The frequency lists are embedded compressed and decoded on the first
// estimate (sync.Once), so a program that never estimates pays nothing but
// the binary's size. The package does no I/O and reads no clock: the year
// dates are measured from is passed in.
package strength

import (
	"math"
	"unicode"
	"unicode/utf8"
)

// Pattern is the kind of a match.
type Pattern string

const (
	PatternDictionary Pattern = "dictionary"
	PatternSpatial    Pattern = "spatial"
	PatternRepeat     Pattern = "repeat"
	PatternSequence   Pattern = "sequence"
	PatternYear       Pattern = "year"
	PatternDate       Pattern = "date"
	// PatternBruteforce is a stretch of the password no pattern explains:
	// it costs the cracker every combination of its length.
	PatternBruteforce Pattern = "bruteforce"
)

// The dictionaries a dictionary match can come from.
const (
	DictPasswords   = "passwords"    // common passwords from breaches
	DictWikipedia   = "wikipedia"    // English words by frequency in Wikipedia
	DictCommonWords = "common-words" // English words by frequency in film and TV subtitles
	DictLastNames   = "last-names"
	DictFirstNames  = "first-names"
	DictUserInputs  = "user-inputs" // the words the caller passed about the user
)

// Match is one pattern found in the password. I and J are the first and
// last character (rune) positions it covers.
type Match struct {
	Pattern Pattern
	I, J    int
	Token   string // the password's characters I..J

	// Dictionary matches.
	Dictionary  string
	MatchedWord string // the list's word (lower case, substitutions undone, unreversed)
	Rank        int    // 1 is the list's most frequent word
	Reversed    bool
	L33t        bool
	subs        map[rune]rune // look-alike symbol → the letter it stands for

	// Spatial matches: the keyboard, the changes of direction and the
	// number of shifted characters.
	Graph   string
	Turns   int
	Shifted int

	// Repeat matches: the repeated unit, how often, and its own estimate.
	BaseToken   string
	BaseGuesses float64
	Repeats     int

	// Sequence matches.
	Ascending bool

	// Year and date matches.
	Year      int
	Separator string

	// Guesses is this match's own estimate, set by the scoring.
	Guesses float64
}

// Result is an estimate.
type Result struct {
	// Guesses is the fewest guesses the estimator found for the password.
	Guesses float64
	// Sequence is the decomposition that needs them, in order, covering
	// the whole password (bruteforce matches fill what no pattern explains).
	Sequence []Match
	// Matches are all the patterns found, whether used or not, ordered by
	// position.
	Matches []Match
}

// DefaultReferenceYear is the year dates are measured from when the caller
// gives none: a recent year is guessed first.
const DefaultReferenceYear = 2026

// Estimate estimates password. userInputs are words about the user (names,
// organisation, the service's own words) that make a password easy to guess
// for someone who knows them; referenceYear is the current year (0:
// DefaultReferenceYear).
func Estimate(password string, userInputs []string, referenceYear int) Result {
	if referenceYear == 0 {
		referenceYear = DefaultReferenceYear
	}
	if !utf8.ValidString(password) {
		password = string([]rune(password)) // invalid bytes become U+FFFD
	}
	e := &estimator{year: referenceYear, lists: loadLists(), inputs: rankInputs(userInputs)}
	e.longest = e.lists.longest
	for w := range e.inputs {
		e.longest = max(e.longest, utf8.RuneCountInString(w))
	}
	pw := []rune(password)
	matches := e.omnimatch(pw)
	guesses, seq := e.mostGuessable(pw, matches)
	return Result{Guesses: guesses, Sequence: seq, Matches: matches}
}

// Score turns a guess count into zxcvbn's 0-4 scale: under 10^3 guesses is
// 0, under 10^6 1, under 10^8 2, under 10^10 3, more is 4 (each with
// zxcvbn's margin of 5 guesses).
func Score(guesses float64) int {
	const margin = 5
	for i, limit := range []float64{1e3, 1e6, 1e8, 1e10} {
		if guesses < limit+margin {
			return i
		}
	}
	return 4
}

// estimator is one estimate's state.
type estimator struct {
	year   int
	lists  *wordLists
	inputs map[string]int
	// longest is the longest word in the lists and inputs, in characters.
	longest int
}

func rankInputs(inputs []string) map[string]int {
	ranked := make(map[string]int, len(inputs))
	for i, w := range inputs {
		w = lower(w)
		if _, ok := ranked[w]; !ok && w != "" {
			ranked[w] = i + 1
		}
	}
	return ranked
}

func lower(s string) string {
	r := []rune(s)
	for i := range r {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}

// nCk is the binomial coefficient as a float (it can exceed int64 for the
// lengths the scoring asks about only in theory, 64 choose 32 fits).
func nCk(n, k int) float64 {
	if k > n || k < 0 {
		return 0
	}
	if k == 0 {
		return 1
	}
	r := 1.0
	for d := 1; d <= k; d++ {
		r *= float64(n - k + d)
		r /= float64(d)
	}
	return math.Round(r)
}

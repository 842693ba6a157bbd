package policy

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cqrs-local/cqrs-signin/policy/strength"
	"golang.org/x/text/unicode/norm"
)

// The hardened policy's numbers.
const (
	// HardenedMinLength is NIST SP 800-63B rev 4's minimum for a password
	// used alone (single-factor).
	HardenedMinLength = 15
	// HardenedMaxLength is the longest accepted; NIST asks verifiers to
	// allow at least 64. Longer passwords are refused, never truncated.
	HardenedMaxLength = 64
	// MinStrength is the lowest acceptable strength score (0-4, zxcvbn's
	// scale); 3 is "safely unguessable", about 10^8 guesses or more.
	MinStrength = 3
)

// contextWords are refused in every password under the hardened policy:
// the words anyone attacking this service would try first.
var contextWords = []string{"nhs", "nhsmail", "cqrs"}

// hardenedRules is the hardened policy, in the order its box shows it. The
// length, common, context and strength rules follow NIST SP 800-63B rev 4
// (3.1.1.2) and OWASP ASVS 5.0 (6.2.1, 6.2.4, 6.2.9, 6.2.11, 6.2.12); there
// is no composition rule (NIST: SHALL NOT; ASVS 6.2.5). History, current
// and the 72 hours are kept from the CQRS policy.
var hardenedRules = []rule{
	{Rule: Rule{CodeLength, "Password must be 15-64 characters long. Spaces and any letters, digits or symbols may be used.", true}, listed: true, violated: hardenedBadLength},
	{Rule: Rule{CodeCommon, "Password must not be a commonly used password, or one with a few characters added.", true}, listed: true, violated: isCommon},
	{Rule: Rule{CodeContext, "Password can not contain the User ID or part of it, your first or last name, your organisation's name or ODS code, or the words NHS, NHSmail or CQRS.", true}, listed: true, violated: containsContext},
	{Rule: Rule{CodeStrength, "Password must be hard to guess: a strength of at least 3 out of 4.", true}, listed: true, violated: weak, reason: weakReason},
	historyRule,
	currentRule,
	minimumAgeRule,
	controlRule,
}

// analysis is what the hardened rules work out from a password once: its
// NFC form and the strength estimator's view of it.
type analysis struct {
	password string // NFC
	runes    int
	// estimated is false when the password is too long to estimate (it is
	// refused by the length rule anyway) or not valid UTF-8.
	estimated bool
	matches   []strength.Match
	sequence  []strength.Match
	guesses   float64
}

// analyse computes s.hardened on first use. The estimator runs only for a
// password of acceptable length, which bounds its cost.
func (s *subject) analyse() *analysis {
	if s.hardened != nil {
		return s.hardened
	}
	a := &analysis{password: norm.NFC.String(s.Password)}
	a.runes = utf8.RuneCountInString(a.password)
	if a.runes <= HardenedMaxLength && utf8.ValidString(a.password) && a.password != "" {
		year := 0
		if !s.Now.IsZero() {
			year = s.Now.Year()
		}
		r := strength.Estimate(a.password, s.contextInputs(), year)
		a.matches, a.sequence, a.guesses, a.estimated = r.Matches, r.Sequence, r.Guesses, true
	}
	s.hardened = a
	return a
}

// refusedWords are the user's own words (NFC) the context rule refuses: the
// User ID and each of its parts, the names, the organisation's name and
// ODS code, and contextWords.
func (s *subject) refusedWords() []string {
	words := append([]string(nil), contextWords...)
	add := func(w string) {
		if w = strings.TrimSpace(norm.NFC.String(w)); w != "" {
			words = append(words, w)
		}
	}
	add(s.UserID)
	for _, p := range UserIDParts(s.UserID) {
		add(p)
	}
	add(s.FirstName)
	add(s.LastName)
	add(s.Organisation)
	add(s.ODSCode)
	return words
}

// contextInputs are what the estimator is told about the user, so a
// password built from it scores low: the refused words and also each word
// of the organisation's name (which, alone, may be as plain as "Medical",
// so the context rule does not refuse them outright).
func (s *subject) contextInputs() []string {
	return append(s.refusedWords(), strings.FieldsFunc(norm.NFC.String(s.Organisation), notLetterOrDigit)...)
}

func notLetterOrDigit(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// compact folds case and keeps only letters and digits, so "Riverside
// Medical", "riverside-medical" and "RIVERSIDEMEDICAL" compare equal.
func compact(s string) string {
	return fold(strings.Map(func(r rune) rune {
		if notLetterOrDigit(r) {
			return -1
		}
		return r
	}, norm.NFC.String(s)))
}

// hardenedBadLength counts characters (runes) after NFC, so an accented
// letter typed as one or as two code points counts once.
func hardenedBadLength(s *subject) bool {
	n := s.analyse().runes
	return n < HardenedMinLength || n > HardenedMaxLength
}

// isCommon refuses a password that is, once leading and trailing digits and
// symbols are set aside, in the estimator's built-in list of common
// passwords (also spelt with look-alike symbols or backwards): "Password1!"
// and "Welcome2026!" are "password" and "welcome" with a few characters
// added.
func isCommon(s *subject) bool {
	a := s.analyse()
	if !a.estimated {
		return false
	}
	// Spans in characters (runes), as the estimator's matches count them.
	rs := []rune(a.password)
	spans := [][2]int{{0, len(rs) - 1}}
	if start := slices.IndexFunc(rs, unicode.IsLetter); start >= 0 {
		end := len(rs) - 1
		for !unicode.IsLetter(rs[end]) {
			end--
		}
		spans = append(spans, [2]int{start, end})
	}
	for _, m := range a.matches {
		if m.Pattern != strength.PatternDictionary || m.Dictionary != strength.DictPasswords {
			continue
		}
		for _, sp := range spans {
			if m.I == sp[0] && m.J == sp[1] {
				return true
			}
		}
	}
	return false
}

// containsContext refuses a password holding, in any case and ignoring
// spaces and punctuation, one of the user's own words (of at least
// MinUserIDPart characters, so an initial does not forbid every password
// with that letter) or one of contextWords.
func containsContext(s *subject) bool {
	pw := compact(s.Password)
	for _, w := range s.refusedWords() {
		c := compact(w)
		if utf8.RuneCountInString(c) >= MinUserIDPart && strings.Contains(pw, c) {
			return true
		}
	}
	return false
}

// weak is the strength rule: a score below MinStrength.
func weak(s *subject) bool {
	a := s.analyse()
	return a.estimated && strength.Score(a.guesses) < MinStrength
}

// weakReason is the estimator's feedback: what in the password made it easy
// to guess, from the longest pattern in the cheapest way to guess it, then
// what to do instead.
func weakReason(s *subject) string {
	a := s.analyse()
	var longest *strength.Match
	for i, m := range a.sequence {
		if m.Pattern == strength.PatternBruteforce {
			continue
		}
		if longest == nil || m.J-m.I > longest.J-longest.I {
			longest = &a.sequence[i]
		}
	}
	var why []string
	if longest != nil {
		why = patternFeedback(longest, len(a.sequence) == 1)
	}
	why = append(why, "Add another word or two that people rarely use.")
	return strings.Join(why, " ")
}

// patternFeedback explains why one pattern is easy to guess. alone is true
// when the pattern is the whole password.
func patternFeedback(m *strength.Match, alone bool) []string {
	switch m.Pattern {
	case strength.PatternDictionary:
		var why []string
		switch m.Dictionary {
		case strength.DictPasswords:
			plain := alone && !m.L33t && !m.Reversed
			switch {
			case plain && m.Rank <= 10:
				why = append(why, "This is a top-10 common password: it is among the first a cracker tries.")
			case plain && m.Rank <= 100:
				why = append(why, "This is a top-100 common password: it is among the first a cracker tries.")
			case alone:
				why = append(why, "This is a common password, and crackers try those first.")
			default:
				why = append(why, "This is similar to a commonly used password.")
			}
		case strength.DictWikipedia, strength.DictCommonWords:
			if alone {
				why = append(why, "A word by itself is easy to guess.")
			} else {
				why = append(why, "Everyday words are among the first a cracker tries.")
			}
		case strength.DictFirstNames, strength.DictLastNames:
			if alone {
				why = append(why, "A name by itself is easy to guess.")
			} else {
				why = append(why, "Common first names and surnames are among the first a cracker tries.")
			}
		case strength.DictUserInputs:
			why = append(why, "Words about you or this service are easy to guess for anyone who knows them.")
		}
		word := m.Token
		switch {
		case strings.ToUpper(word) == word && strings.ToLower(word) != word:
			why = append(why, "Capitals throughout add little: crackers try them too.")
		case startsUpper(word):
			why = append(why, "A capital first letter adds little: crackers try it first.")
		}
		if m.Reversed {
			why = append(why, "A word spelt backwards is tried soon after the word.")
		}
		if m.L33t {
			why = append(why, "Symbols for look-alike letters, like '@' for 'a', are tried soon after the word.")
		}
		return why
	case strength.PatternSpatial:
		if m.Turns == 1 {
			return []string{"Straight rows of keys are easy to guess."}
		}
		return []string{"Short runs of neighbouring keys are easy to guess."}
	case strength.PatternRepeat:
		if utf8.RuneCountInString(m.BaseToken) == 1 {
			return []string{`Repeats like "aaa" are easy to guess.`}
		}
		return []string{`Repeats like "abcabcabc" take hardly longer to guess than "abc" alone.`}
	case strength.PatternSequence:
		return []string{"Sequences like abc or 6543 are easy to guess."}
	case strength.PatternYear:
		return []string{"Years, recent ones most of all, are easy to guess."}
	case strength.PatternDate:
		return []string{"Dates, such as birthdays, are easy to guess."}
	}
	return nil
}

func startsUpper(w string) bool {
	r, _ := utf8.DecodeRuneInString(w)
	return unicode.IsUpper(r)
}

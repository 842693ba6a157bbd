// Package policy holds the password policies shown on the "Security
// Information" screen: the rules a new password must meet, their wording,
// and the checks behind them. Two policies exist: the faithful CQRS one (the
// default, what the job aid teaches) and a hardened one after NIST SP
// 800-63B rev 4 and OWASP ASVS 5.0 (see hardened.go).
//
// The package is pure: it does no I/O, keeps no changing state and never
// reads the clock. Whatever depends on the outside world (the current time,
// whether the password matches the current or a previous hash) is passed in
// through Input, so the same Input always gives the same answer. (The
// hardened policy's estimator, policy/strength, decodes its embedded word
// lists on its first estimate and only reads them afterwards.)
package policy

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Code identifies a rule. It is stable, so handlers, templates and tests can
// refer to a rule without depending on its wording.
type Code string

// The rule codes. CodeControl is an addition of this implementation (the
// document does not list it), so it is not part of Rules().
const (
	CodeMinimumAge Code = "minimum-age"
	CodeUserID     Code = "user-id"
	CodeLength     Code = "length"
	CodeHistory    Code = "history"
	CodeCurrent    Code = "current"
	CodeCategories Code = "categories"
	CodeControl    Code = "control-characters"
	// The hardened policy's own rules.
	CodeContext  Code = "context"
	CodeCommon   Code = "common"
	CodeStrength Code = "strength"
)

// The policy's numbers, named so callers (and the wording tests) share one
// source for them.
const (
	// MinLength is the fewest characters (runes) a password may have.
	MinLength = 8
	// MaxLength is the most characters (runes) a password may have.
	MaxLength = 32
	// HistoryDepth is how many previous passwords are remembered; the caller
	// uses it to decide Input.SameAsPrevious.
	HistoryDepth = 8
	// MinimumAge is how long a user must wait between two changes.
	MinimumAge = 72 * time.Hour
	// RequiredCategories is how many of the four categories must be present.
	RequiredCategories = 3
	// MinUserIDPart is the shortest User ID part (in runes) that is checked;
	// shorter parts such as an initial would forbid too many passwords.
	MinUserIDPart = 3
)

// Rule is one line of the Password Policy box.
type Rule struct {
	Code Code
	Text string
	// Live marks a cheap rule that can be checked while the user types
	// (length, categories, user-id): it needs only the password and User ID.
	Live bool
}

// Violation is one broken rule. Message is the rule's Text, so the screen can
// repeat the policy line the password failed; Reason, when set, says why this
// password broke it (the strength estimator's feedback).
type Violation struct {
	Code    Code
	Message string
	Reason  string
}

// Input is everything Check needs. The caller fills in the facts the policy
// cannot compute by itself: hash comparisons and the clock.
type Input struct {
	Password string
	UserID   string
	// SameAsCurrent is true when Password verifies against the current hash.
	SameAsCurrent bool
	// SameAsPrevious is true when Password verifies against one of the
	// previous HistoryDepth hashes.
	SameAsPrevious bool
	// LastChanged is when the password was last set; zero when the user never
	// set a password.
	LastChanged time.Time
	// Now is the time of the change, passed in to keep the package pure.
	Now time.Time
	// Reset is true for an emailed reset link: the 72-hour minimum does not
	// apply, since the user has lost the password.
	Reset bool
	// The user's context: the hardened policy refuses passwords built from
	// these (the CQRS policy knows only the User ID).
	FirstName    string
	LastName     string
	Organisation string
	ODSCode      string
}

// rule pairs a policy line with the test that finds it broken. listed is
// false for rules that are not in the document's box (shown only when
// violated). reason, when set, explains a violation beyond the rule's text.
type rule struct {
	Rule
	listed   bool
	violated func(s *subject) bool
	reason   func(s *subject) string
}

// subject is one password under check: the Input, and what the hardened
// rules work out from it once and share (see hardened.go).
type subject struct {
	Input
	hardened *analysis
}

// Policy is a named set of rules. The zero Policy is the CQRS policy.
type Policy struct {
	name  string
	rules []rule
}

// The policies' names, as --password-policy takes them.
const (
	NameCQRS     = "cqrs"
	NameHardened = "hardened"
)

// Names lists the policies, the default first.
func Names() []string { return []string{NameCQRS, NameHardened} }

// CQRS is the faithful CQRS policy, the default.
func CQRS() Policy { return Policy{name: NameCQRS, rules: cqrsRules} }

// Hardened is the policy after NIST SP 800-63B rev 4 and OWASP ASVS 5.0.
func Hardened() Policy { return Policy{name: NameHardened, rules: hardenedRules} }

// Named returns the policy called name, or an error naming the choices.
func Named(name string) (Policy, error) {
	switch name {
	case NameCQRS:
		return CQRS(), nil
	case NameHardened:
		return Hardened(), nil
	}
	return Policy{}, fmt.Errorf("unknown password policy %q: choose %s", name, strings.Join(Names(), " or "))
}

// Name is the policy's name.
func (p Policy) Name() string {
	if p.rules == nil {
		return NameCQRS
	}
	return p.name
}

func (p Policy) ruleset() []rule {
	if p.rules == nil {
		return cqrsRules
	}
	return p.rules
}

// Rules returns the policy's box, in the order it is shown. The slice is a
// fresh copy the caller may change.
func (p Policy) Rules() []Rule {
	var out []Rule
	for _, r := range p.ruleset() {
		if r.listed {
			out = append(out, r.Rule)
		}
	}
	return out
}

// Check applies every rule and returns the violations in Rules() order, then
// control-characters last. It returns nil when the password is acceptable.
func (p Policy) Check(in Input) []Violation {
	return check(p.ruleset(), in, false)
}

// CheckLive applies only the rules that need no hashes nor the clock, for
// as-you-type feedback; it never reports current, history or minimum-age.
func (p Policy) CheckLive(in Input) []Violation {
	in.SameAsCurrent, in.SameAsPrevious, in.Reset = false, false, false
	in.LastChanged, in.Now = time.Time{}, time.Time{}
	return check(p.ruleset(), in, true)
}

// The rules both policies share, with the documents' wording.
var (
	minimumAgeRule = rule{Rule: Rule{CodeMinimumAge, "Password may only be changed once every 72 hours.", false}, listed: true, violated: tooSoon}
	historyRule    = rule{Rule: Rule{CodeHistory, "Password must be different from the previous 8 passwords.", false}, listed: true, violated: func(s *subject) bool { return s.SameAsPrevious }}
	currentRule    = rule{Rule: Rule{CodeCurrent, "Password must be different from the current password.", false}, listed: true, violated: func(s *subject) bool { return s.SameAsCurrent }}
	controlRule    = rule{Rule: Rule{CodeControl, "Password must not contain control characters.", true}, violated: hasControl}
)

// cqrsRules is the whole CQRS policy in one place, in the document's order;
// unlisted rules come last. Check and CheckLive report violations in this
// order.
var cqrsRules = []rule{
	minimumAgeRule,
	{Rule: Rule{CodeUserID, "Password can not contain all or part (first or last part) of the User ID.", true}, listed: true, violated: containsUserID},
	{Rule: Rule{CodeLength, "Password must be 8-32 characters long.", true}, listed: true, violated: badLength},
	historyRule,
	currentRule,
	{Rule: Rule{CodeCategories, "Password must address three of the following four categories:", true}, listed: true, violated: fewCategories},
	controlRule,
}

// category is one sub-line of the categories rule and the runes it accepts.
type category struct {
	text string
	has  func(r rune) bool
}

// categories are the four sub-lines of the categories rule, in the
// document's order.
var categories = [4]category{
	{"Uppercase characters (A...Z)", unicode.IsUpper},
	{"Lowercase characters (a...z)", unicode.IsLower},
	{"Base 10 digits (0...9)", unicode.IsDigit},
	// A letter with no case (e.g. CJK) is a letter, so it is not counted
	// here, nor as upper or lower case.
	{"Non alphanumeric (!, ?, £ etc.)", func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }},
}

// Rules returns the CQRS policy box in the document's order: minimum-age,
// user-id, length, history, current, categories. The slice is a fresh copy
// the caller may change.
func Rules() []Rule { return CQRS().Rules() }

// Categories returns the four category lines, in the document's order, so
// the screen can list them under the categories rule.
func Categories() []string {
	out := make([]string, len(categories))
	for i, c := range categories {
		out[i] = c.text
	}
	return out
}

// Check applies every rule of the CQRS policy and returns the violations in
// Rules() order, then control-characters last. It returns nil when the
// password is acceptable.
func Check(in Input) []Violation { return CQRS().Check(in) }

// CheckLive applies only the cheap rules of the CQRS policy (length,
// categories, user-id, control-characters) for as-you-type feedback; it
// never reports current, history or minimum-age, which need hashes or the
// clock.
func CheckLive(password, userID string) []Violation {
	return CQRS().CheckLive(Input{Password: password, UserID: userID})
}

func check(rules []rule, in Input, liveOnly bool) []Violation {
	var vs []Violation
	s := &subject{Input: in}
	for _, r := range rules {
		if liveOnly && !r.Live {
			continue
		}
		if r.violated(s) {
			v := Violation{Code: r.Code, Message: r.Text}
			if r.reason != nil {
				v.Reason = r.reason(s)
			}
			vs = append(vs, v)
		}
	}
	return vs
}

// CategoriesMet reports which of the four categories the password has, in
// Categories() order, so each sub-line can be ticked while the user types.
// Invalid UTF-8 bytes count as non-alphanumeric.
func CategoriesMet(password string) [4]bool {
	var met [4]bool
	for _, r := range password {
		for i, c := range categories {
			if !met[i] && c.has(r) {
				met[i] = true
			}
		}
	}
	return met
}

// ChangeAllowedAt is when a user who last changed at lastChanged may change
// again, for telling a refused user when to come back. It returns the zero
// time when lastChanged is zero (never changed: allowed at any time).
func ChangeAllowedAt(lastChanged time.Time) time.Time {
	if lastChanged.IsZero() {
		return time.Time{}
	}
	return lastChanged.Add(MinimumAge)
}

// Violates reports whether vs contains code; a convenience for templates and
// handlers that mark a single rule.
func Violates(vs []Violation, code Code) bool {
	for _, v := range vs {
		if v.Code == code {
			return true
		}
	}
	return false
}

// UserIDParts splits a User ID into its maximal runs of letters or of digits
// ("j.smith01" gives "j", "smith", "01"; "abc123def" gives "abc", "123",
// "def"). Anything else separates parts. The user-id rule checks the first
// and last of them.
func UserIDParts(userID string) []string {
	var parts []string
	start, kind := 0, 0 // kind of the current run: 0 none, 1 letters, 2 digits
	for i, r := range userID {
		k := 0
		switch {
		case unicode.IsLetter(r):
			k = 1
		case unicode.IsDigit(r):
			k = 2
		}
		if k != kind {
			if kind != 0 {
				parts = append(parts, userID[start:i])
			}
			start, kind = i, k
		}
	}
	if kind != 0 {
		parts = append(parts, userID[start:])
	}
	return parts
}

// tooSoon is the minimum-age rule: a change within MinimumAge of the last
// one is refused, unless it comes from a reset link. Exactly MinimumAge
// later is allowed.
func tooSoon(in *subject) bool {
	return !in.Reset && !in.LastChanged.IsZero() && in.Now.Before(ChangeAllowedAt(in.LastChanged))
}

// containsUserID is the user-id rule: the password must not contain, in any
// case, the whole User ID nor its first or last part of MinUserIDPart runes
// or more. Middle parts are not checked, as the document says.
func containsUserID(in *subject) bool {
	if in.UserID == "" {
		return false
	}
	pw := fold(in.Password)
	if strings.Contains(pw, fold(in.UserID)) {
		return true
	}
	parts := UserIDParts(in.UserID)
	if len(parts) == 0 {
		return false
	}
	for _, p := range [2]string{parts[0], parts[len(parts)-1]} {
		if utf8.RuneCountInString(p) >= MinUserIDPart && strings.Contains(pw, fold(p)) {
			return true
		}
	}
	return false
}

// fold maps every rune to one representative of its Unicode case-folding
// orbit (the smallest rune in it), so two strings that differ only in case
// fold to the same string. It is stricter than strings.ToLower: 'K', 'k' and
// the Kelvin sign all match. Invalid bytes become U+FFFD.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < least {
				least = f
			}
		}
		return least
	}, s)
}

// badLength is the length rule, counted in characters (runes) rather than
// bytes so that "£" or an accented letter counts once.
func badLength(in *subject) bool {
	n := utf8.RuneCountInString(in.Password)
	return n < MinLength || n > MaxLength
}

// fewCategories is the categories rule: fewer than RequiredCategories of the
// four categories are present.
func fewCategories(in *subject) bool {
	n := 0
	for _, ok := range CategoriesMet(in.Password) {
		if ok {
			n++
		}
	}
	return n < RequiredCategories
}

// hasControl refuses control characters and invalid UTF-8: neither can be
// typed reliably nor stored and compared safely.
func hasControl(in *subject) bool {
	if !utf8.ValidString(in.Password) {
		return true
	}
	return strings.ContainsFunc(in.Password, unicode.IsControl)
}

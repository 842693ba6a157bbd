package policy

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func FuzzCheck(f *testing.F) {
	for _, s := range []struct {
		password, userID                 string
		sameCurrent, samePrevious, reset bool
		ageSeconds                       int64
	}{
		{"Tr0ub4dor&3", "j.smith01", false, false, false, 100 * 3600},
		{"j.smith01Xy!", "j.smith01", true, true, false, 0},
		{"", "", false, false, true, -1},
		{strings.Repeat("£", 33), "abc123def", false, false, false, 72 * 3600},
		{"ÉÉÉabc12", "josé.núñez", false, true, false, 72*3600 - 1},
		{"Tr0ub\t4dor&3", "\t", false, false, false, 1 << 40},
		{"\xff\xfe\x00", "\xff", true, false, true, -(1 << 40)},
		{"漢字漢字ab12", "漢字", false, false, false, 5},
		{"\u212Airk!2024", "kirk", false, false, false, 0},
	} {
		f.Add(s.password, s.userID, s.sameCurrent, s.samePrevious, s.reset, s.ageSeconds)
	}

	liveCodes := map[Code]bool{}
	order := map[Code]int{}
	for i, r := range Rules() {
		order[r.Code] = i
		if r.Live {
			liveCodes[r.Code] = true
		}
	}
	liveCodes[CodeControl] = true
	order[CodeControl] = len(order)

	now := time.Date(2025, 3, 10, 9, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, password, userID string, sameCurrent, samePrevious, reset bool, ageSeconds int64) {
		in := Input{
			Password:       password,
			UserID:         userID,
			SameAsCurrent:  sameCurrent,
			SameAsPrevious: samePrevious,
			Reset:          reset,
			Now:            now,
			LastChanged:    now.Add(-time.Duration(ageSeconds) * time.Second),
		}
		vs := Check(in)
		live := CheckLive(password, userID)

		// Violations come in rule order, without repeats, with the rule's text.
		last := -1
		for _, v := range vs {
			i, ok := order[v.Code]
			if !ok {
				t.Fatalf("unknown code %q", v.Code)
			}
			if i <= last {
				t.Fatalf("violations out of order: %v", vs)
			}
			last = i
			if v.Message == "" {
				t.Fatalf("empty message for %q", v.Code)
			}
		}

		// CheckLive is exactly the live part of Check.
		var wantLive []Violation
		for _, v := range vs {
			if liveCodes[v.Code] {
				wantLive = append(wantLive, v)
			}
		}
		if got, want := len(live), len(wantLive); got != want {
			t.Fatalf("CheckLive = %v, want %v", live, wantLive)
		}
		for i := range live {
			if got, want := live[i], wantLive[i]; got != want {
				t.Fatalf("CheckLive[%d] = %v, want %v", i, got, want)
			}
		}

		// Flags map straight to their rules.
		if got, want := Violates(vs, CodeCurrent), sameCurrent; got != want {
			t.Fatalf("current violated = %v, want %v", got, want)
		}
		if got, want := Violates(vs, CodeHistory), samePrevious; got != want {
			t.Fatalf("history violated = %v, want %v", got, want)
		}
		if got, want := Violates(vs, CodeMinimumAge), !reset && now.Before(ChangeAllowedAt(in.LastChanged)); got != want {
			t.Fatalf("minimum-age violated = %v, want %v (age %ds)", got, want, ageSeconds)
		}

		// Control characters and invalid UTF-8.
		clean := utf8.ValidString(password) && !strings.ContainsFunc(password, unicode.IsControl)
		if got, want := Violates(vs, CodeControl), !clean; got != want {
			t.Fatalf("control violated = %v, want %v", got, want)
		}

		// Length is counted in runes.
		if clean {
			n := utf8.RuneCountInString(password)
			if got, want := Violates(vs, CodeLength), n < MinLength || n > MaxLength; got != want {
				t.Fatalf("length violated = %v, want %v (%d runes)", got, want, n)
			}
		}

		// CategoriesMet agrees with the categories rule.
		met := 0
		for _, ok := range CategoriesMet(password) {
			if ok {
				met++
			}
		}
		if got, want := Violates(vs, CodeCategories), met < RequiredCategories; got != want {
			t.Fatalf("categories violated = %v, want %v (met %d)", got, want, met)
		}

		// A password holding the User ID verbatim, or its long first part, is
		// refused. (An invalid UTF-8 User ID may match half a character byte for
		// byte; that is not containing it, so only valid IDs are asserted.)
		if userID != "" && utf8.ValidString(userID) && strings.Contains(password, userID) {
			if got, want := Violates(vs, CodeUserID), true; got != want {
				t.Fatalf("user-id violated = %v, want %v", got, want)
			}
		}
		if parts := UserIDParts(userID); len(parts) > 0 && utf8.RuneCountInString(parts[0]) >= MinUserIDPart && strings.Contains(password, parts[0]) {
			if got, want := Violates(vs, CodeUserID), true; got != want {
				t.Fatalf("user-id violated for first part %q = %v, want %v", parts[0], got, want)
			}
		}
		if userID == "" {
			if got, want := Violates(vs, CodeUserID), false; got != want {
				t.Fatalf("user-id violated with empty User ID = %v, want %v", got, want)
			}
		}

		// The parts of a User ID are substrings of it, in order.
		rest := userID
		for _, p := range UserIDParts(userID) {
			i := strings.Index(rest, p)
			if p == "" || i < 0 {
				t.Fatalf("UserIDParts(%q) gave %q, not in the rest %q", userID, p, rest)
			}
			rest = rest[i+len(p):]
		}

		if vs != nil && len(vs) == 0 {
			t.Fatalf("Check returned an empty non-nil slice")
		}
	})
}

// FuzzHardened checks the hardened policy's invariants on any input: no
// panic from the estimator, violations in rule order with their text, the
// live check exactly the live part of Check, length counted after NFC, and
// a reason only on the strength rule.
func FuzzHardened(f *testing.F) {
	for _, s := range []struct{ password, userID, first, org string }{
		{"Password1!", "j.smith01", "Jane", "Riverside Medical Practice"},
		{"purple tortoise under lamplight", "j.smith01", "Jane", "Riverside"},
		{strings.Repeat("e\u0301", 40), "é", "É", "ÉÉÉ"},
		{"\xff\xfe\x00 nhs", "\xff", "", ""},
		{"漢字漢字漢字漢字漢字漢字漢字漢字", "漢字", "字", "漢字"},
		{"P@ssw0rd!!!!!!!!!!!", "", "", ""},
		{strings.Repeat("ab", 40), "ab", "a", "b"},
	} {
		f.Add(s.password, s.userID, s.first, s.org)
	}
	hardened := Hardened()
	order := map[Code]int{}
	live := map[Code]bool{}
	for i, r := range hardened.Rules() {
		order[r.Code] = i
		live[r.Code] = r.Live
	}
	order[CodeControl], live[CodeControl] = len(order), true
	f.Fuzz(func(t *testing.T, password, userID, first, org string) {
		in := Input{Password: password, UserID: userID, FirstName: first, Organisation: org}
		vs := hardened.Check(in)
		last := -1
		var wantLive []Violation
		for _, v := range vs {
			i, ok := order[v.Code]
			if !ok || i <= last || v.Message == "" {
				t.Fatalf("violations %v: unknown, out of order or without text", vs)
			}
			last = i
			if (v.Reason != "") != (v.Code == CodeStrength) {
				t.Fatalf("violation %v: reason %q", v.Code, v.Reason)
			}
			if live[v.Code] {
				wantLive = append(wantLive, v)
			}
		}
		got := hardened.CheckLive(in)
		if len(got) != len(wantLive) {
			t.Fatalf("CheckLive = %v, want %v", got, wantLive)
		}
		for i := range got {
			if got[i] != wantLive[i] {
				t.Fatalf("CheckLive[%d] = %v, want %v", i, got[i], wantLive[i])
			}
		}
		clean := utf8.ValidString(password) && !strings.ContainsFunc(password, unicode.IsControl)
		if got, want := Violates(vs, CodeControl), !clean; got != want {
			t.Fatalf("control violated = %v, want %v", got, want)
		}
		if clean {
			n := utf8.RuneCountInString(norm.NFC.String(password))
			if got, want := Violates(vs, CodeLength), n < HardenedMinLength || n > HardenedMaxLength; got != want {
				t.Fatalf("length violated = %v, want %v (%d characters)", got, want, n)
			}
		}
	})
}

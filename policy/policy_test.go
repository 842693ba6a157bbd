package policy

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// codes lists the codes of vs, for comparing whole results.
func codes(vs []Violation) []Code {
	var cs []Code
	for _, v := range vs {
		cs = append(cs, v.Code)
	}
	return cs
}

func TestRulesOrderAndText(t *testing.T) {
	want := []Rule{
		{CodeMinimumAge, "Password may only be changed once every 72 hours.", false},
		{CodeUserID, "Password can not contain all or part (first or last part) of the User ID.", true},
		{CodeLength, "Password must be 8-32 characters long.", true},
		{CodeHistory, "Password must be different from the previous 8 passwords.", false},
		{CodeCurrent, "Password must be different from the current password.", false},
		{CodeCategories, "Password must address three of the following four categories:", true},
	}
	if got := Rules(); !slices.Equal(got, want) {
		t.Errorf("Rules() = %v, want %v", got, want)
	}
	// Rules returns a copy: changing it must not change the policy.
	Rules()[0].Text = "changed"
	if got, want := Rules()[0].Text, want[0].Text; got != want {
		t.Errorf("Rules()[0].Text after caller change = %q, want %q", got, want)
	}
}

func TestTextMatchesConstants(t *testing.T) {
	texts := map[Code]string{}
	for _, r := range Rules() {
		texts[r.Code] = r.Text
	}
	for _, tc := range []struct {
		code Code
		want string
	}{
		{CodeLength, strconv.Itoa(MinLength) + "-" + strconv.Itoa(MaxLength)},
		{CodeHistory, strconv.Itoa(HistoryDepth)},
		{CodeMinimumAge, strconv.Itoa(int(MinimumAge.Hours())) + " hours"},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			if got, want := strings.Contains(texts[tc.code], tc.want), true; got != want {
				t.Errorf("text %q contains %q = %v, want %v", texts[tc.code], tc.want, got, want)
			}
		})
	}
}

func TestCategories(t *testing.T) {
	want := []string{
		"Uppercase characters (A...Z)",
		"Lowercase characters (a...z)",
		"Base 10 digits (0...9)",
		"Non alphanumeric (!, ?, £ etc.)",
	}
	if got := Categories(); !slices.Equal(got, want) {
		t.Errorf("Categories() = %q, want %q", got, want)
	}
}

func TestLength(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
		want     bool // length violated
	}{
		{"empty", "", true},
		{"7 chars", "Abcde1!", true},
		{"8 chars", "Abcdef1!", false},
		{"32 chars", "Abcdef1!" + strings.Repeat("x", 24), false},
		{"33 chars", "Abcdef1!" + strings.Repeat("x", 25), true},
		{"8 two-byte runes", strings.Repeat("£", 8), false},
		{"7 two-byte runes", strings.Repeat("£", 7), true},
		{"32 two-byte runes", strings.Repeat("É", 32), false},
		{"33 two-byte runes", strings.Repeat("É", 33), true},
		{"32 three-byte runes", strings.Repeat("€", 32), false},
		{"5 four-byte runes (20 bytes)", strings.Repeat("😀", 5), true},
		{"8 four-byte runes (32 bytes)", strings.Repeat("😀", 8), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := Violates(CheckLive(tc.password, ""), CodeLength), tc.want; got != want {
				t.Errorf("length violated for %q (%d bytes) = %v, want %v", tc.password, len(tc.password), got, want)
			}
		})
	}
}

func TestCategoriesRule(t *testing.T) {
	const (
		up    = "ABCD"
		low   = "abcd"
		digit = "1234"
		sym   = "!?£ "
	)
	for _, tc := range []struct {
		name     string
		password string
		met      [4]bool
	}{
		{"upper+lower", up + low, [4]bool{true, true, false, false}},
		{"upper+digit", up + digit, [4]bool{true, false, true, false}},
		{"upper+symbol", up + sym, [4]bool{true, false, false, true}},
		{"lower+digit", low + digit, [4]bool{false, true, true, false}},
		{"lower+symbol", low + sym, [4]bool{false, true, false, true}},
		{"digit+symbol", digit + sym, [4]bool{false, false, true, true}},
		{"upper+lower+digit", up + low + digit, [4]bool{true, true, true, false}},
		{"upper+lower+symbol", up + low + sym, [4]bool{true, true, false, true}},
		{"upper+digit+symbol", up + digit + sym, [4]bool{true, false, true, true}},
		{"lower+digit+symbol", low + digit + sym, [4]bool{false, true, true, true}},
		{"all four", up + low + digit + sym, [4]bool{true, true, true, true}},
		{"non-ASCII uppercase", "ÉÉÉabc12", [4]bool{true, true, true, false}},
		{"non-ASCII lowercase", "ABCéèê12", [4]bool{true, true, true, false}},
		{"pound is non-alphanumeric", "abcd1234£", [4]bool{false, true, true, true}},
		{"space is non-alphanumeric", "abcd1234 ", [4]bool{false, true, true, true}},
		{"uncased letters count as nothing", "漢字漢字ab12", [4]bool{false, true, true, false}},
		{"non-ASCII digits count as digits", "ABCDabcd٣", [4]bool{true, true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := CategoriesMet(tc.password), tc.met; got != want {
				t.Errorf("CategoriesMet(%q) = %v, want %v", tc.password, got, want)
			}
			n := 0
			for _, ok := range tc.met {
				if ok {
					n++
				}
			}
			if got, want := Violates(CheckLive(tc.password, ""), CodeCategories), n < RequiredCategories; got != want {
				t.Errorf("categories violated for %q = %v, want %v", tc.password, got, want)
			}
		})
	}
}

func TestUserIDParts(t *testing.T) {
	for _, tc := range []struct {
		userID string
		want   []string
	}{
		{"", nil},
		{"...", nil},
		{"j.smith01", []string{"j", "smith", "01"}},
		{"abc123def", []string{"abc", "123", "def"}},
		{"jsmith", []string{"jsmith"}},
		{"_x__y_", []string{"x", "y"}},
		{"José.Núñez7", []string{"José", "Núñez", "7"}},
	} {
		t.Run(tc.userID, func(t *testing.T) {
			if got, want := UserIDParts(tc.userID), tc.want; !slices.Equal(got, want) {
				t.Errorf("UserIDParts(%q) = %q, want %q", tc.userID, got, want)
			}
		})
	}
}

func TestUserID(t *testing.T) {
	for _, tc := range []struct {
		name     string
		userID   string
		password string
		want     bool // user-id violated
	}{
		{"whole id at start", "j.smith01", "j.smith01Xy!", true},
		{"whole id in middle", "j.smith01", "Xy!j.smith01?Z", true},
		{"whole id at end", "j.smith01", "Xy!?j.smith01", true},
		{"whole id in other case", "j.smith01", "Xy!J.SMITH01", true},
		{"short whole id still counts", "ab", "Xyz!ab12", true},
		{"first part at start", "smith.jones", "Smith!2024x", true},
		{"first part in middle", "smith.jones", "A1!smithZZ", true},
		{"first part at end", "smith.jones", "A1!ZZsmith", true},
		{"last part", "smith.jones", "A1!jonesZZ", true},
		{"last part in other case", "smith.jones", "A1!JoNeSZZ", true},
		{"digit last part", "abc123def4567", "Xyz!4567q", true},
		{"letters then digits then letters: last", "abc123def", "Xyz!DEF99", true},
		{"letters then digits then letters: middle not checked", "abc123def", "Xyz!12399q", false},
		{"short first part ignored", "j.smith01", "j!Abcdefg9", false},
		{"short last part ignored", "j.smith01", "01!Abcdefg", false},
		{"short first and last parts ignored", "j.smith01", "j01!Abcdefg", false},
		{"middle part of j.smith01 not checked", "j.smith01", "Smith!2024", false},
		{"three long parts: first", "alpha.bravo.charlie", "Alpha!2024x", true},
		{"three long parts: middle not checked", "alpha.bravo.charlie", "Bravo!2024x", false},
		{"three long parts: last", "alpha.bravo.charlie", "Charlie!2024", true},
		{"single part id", "jsmith", "Q1!JSmithQ", true},
		{"non-ASCII part in other case", "josé.núñez", "Q1!NÚÑEZ", true},
		{"kelvin sign folds to k", "kirk.marks", "Q1!\u212AIRKz", true},
		{"unrelated password", "j.smith01", "Tr0ub4dor&3", false},
		{"empty user id", "", "Tr0ub4dor&3", false},
		{"empty user id, empty password", "", "", false},
		{"separator-only user id, not contained", "...", "Abcdef1!", false},
		{"separator-only user id, contained", "...", "Abc...1!", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := Violates(CheckLive(tc.password, tc.userID), CodeUserID), tc.want; got != want {
				t.Errorf("user-id violated for password %q, user %q = %v, want %v", tc.password, tc.userID, got, want)
			}
		})
	}
}

func TestFlagsAndAge(t *testing.T) {
	now := time.Date(2025, 3, 10, 9, 30, 0, 0, time.UTC)
	const good = "Tr0ub4dor&3"
	for _, tc := range []struct {
		name string
		in   Input
		want []Code
	}{
		{"acceptable", Input{Password: good, Now: now}, nil},
		{"same as current", Input{Password: good, Now: now, SameAsCurrent: true}, []Code{CodeCurrent}},
		{"same as previous", Input{Password: good, Now: now, SameAsPrevious: true}, []Code{CodeHistory}},
		{"both flags", Input{Password: good, Now: now, SameAsCurrent: true, SameAsPrevious: true}, []Code{CodeHistory, CodeCurrent}},
		{"never changed", Input{Password: good, Now: now}, nil},
		{"changed just now", Input{Password: good, Now: now, LastChanged: now}, []Code{CodeMinimumAge}},
		{"71h59m ago", Input{Password: good, Now: now, LastChanged: now.Add(-(71*time.Hour + 59*time.Minute))}, []Code{CodeMinimumAge}},
		{"71h59m59s ago", Input{Password: good, Now: now, LastChanged: now.Add(-(72*time.Hour - time.Second))}, []Code{CodeMinimumAge}},
		{"one nanosecond short", Input{Password: good, Now: now, LastChanged: now.Add(-(72*time.Hour - 1))}, []Code{CodeMinimumAge}},
		{"exactly 72h ago", Input{Password: good, Now: now, LastChanged: now.Add(-72 * time.Hour)}, nil},
		{"a week ago", Input{Password: good, Now: now, LastChanged: now.Add(-7 * 24 * time.Hour)}, nil},
		{"changed in the future", Input{Password: good, Now: now, LastChanged: now.Add(time.Hour)}, []Code{CodeMinimumAge}},
		{"reset bypasses minimum age", Input{Password: good, Now: now, LastChanged: now.Add(-time.Minute), Reset: true}, nil},
		{"reset does not bypass history", Input{Password: good, Now: now, LastChanged: now, Reset: true, SameAsPrevious: true}, []Code{CodeHistory}},
		{"other time zone", Input{Password: good, Now: now, LastChanged: now.Add(-72 * time.Hour).In(time.FixedZone("X", 5*3600))}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(tc.in)
			if got, want := codes(got), tc.want; !slices.Equal(got, want) {
				t.Errorf("Check codes = %v, want %v", got, want)
			}
			if tc.want == nil && got != nil {
				t.Errorf("Check = %#v, want nil", got)
			}
		})
	}
}

func TestChangeAllowedAt(t *testing.T) {
	last := time.Date(2025, 3, 10, 9, 30, 0, 0, time.UTC)
	if got, want := ChangeAllowedAt(last), time.Date(2025, 3, 13, 9, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("ChangeAllowedAt(%v) = %v, want %v", last, got, want)
	}
	if got, want := ChangeAllowedAt(time.Time{}).IsZero(), true; got != want {
		t.Errorf("ChangeAllowedAt(zero).IsZero() = %v, want %v", got, want)
	}
}

func TestControlCharacters(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
		want     bool
	}{
		{"plain", "Tr0ub4dor&3", false},
		{"space is allowed", "Tr0ub 4dor&3", false},
		{"tab", "Tr0ub\t4dor&3", true},
		{"newline", "Tr0ub4dor&3\n", true},
		{"carriage return", "Tr0ub4dor&3\r", true},
		{"NUL", "Tr0ub\x004dor&3", true},
		{"DEL", "Tr0ub\x7f4dor&3", true},
		{"C1 control", "Tr0ub\u00854dor&3", true},
		{"invalid UTF-8 byte", "Tr0ub\xff4dor&3", true},
		{"truncated UTF-8 sequence", "Tr0ub4dor&3\xc2", true},
		{"encoded surrogate", "Tr0ub4dor&3\xed\xa0\x80", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := Check(Input{Password: tc.password})
			if got, want := Violates(vs, CodeControl), tc.want; got != want {
				t.Errorf("control violated for %q = %v, want %v", tc.password, got, want)
			}
			if got, want := Violates(CheckLive(tc.password, ""), CodeControl), tc.want; got != want {
				t.Errorf("live control violated for %q = %v, want %v", tc.password, got, want)
			}
			if tc.want {
				if got, want := vs[len(vs)-1].Code, CodeControl; got != want {
					t.Errorf("last violation = %v, want %v", got, want)
				}
			}
		})
	}
}

func TestCheckOrder(t *testing.T) {
	now := time.Date(2025, 3, 10, 9, 30, 0, 0, time.UTC)
	in := Input{
		Password:       "\t",
		UserID:         "\t",
		SameAsCurrent:  true,
		SameAsPrevious: true,
		LastChanged:    now,
		Now:            now,
	}
	got := Check(in)
	var want []Code
	for _, r := range Rules() {
		want = append(want, r.Code)
	}
	want = append(want, CodeControl)
	if got, want := codes(got), want; !slices.Equal(got, want) {
		t.Errorf("Check codes = %v, want %v", got, want)
	}
	texts := map[Code]string{CodeControl: "Password must not contain control characters."}
	for _, r := range Rules() {
		texts[r.Code] = r.Text
	}
	for _, v := range got {
		if got, want := v.Message, texts[v.Code]; got != want {
			t.Errorf("Message for %v = %q, want %q", v.Code, got, want)
		}
	}
}

func TestCheckLive(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
		userID   string
		want     []Code
	}{
		{"acceptable", "Tr0ub4dor&3", "j.smith01", nil},
		{"everything live broken", "\tsmith", "smith.jones", []Code{CodeUserID, CodeLength, CodeCategories, CodeControl}},
		{"too short", "Ab1!", "", []Code{CodeLength}},
		{"too few categories", "abcdefgh", "", []Code{CodeCategories}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckLive(tc.password, tc.userID)
			if got, want := codes(got), tc.want; !slices.Equal(got, want) {
				t.Errorf("CheckLive codes = %v, want %v", got, want)
			}
			for _, c := range []Code{CodeCurrent, CodeHistory, CodeMinimumAge} {
				if got, want := Violates(got, c), false; got != want {
					t.Errorf("CheckLive reports %v = %v, want %v", c, got, want)
				}
			}
		})
	}
}

func TestViolates(t *testing.T) {
	vs := []Violation{{Code: CodeLength, Message: "x"}, {Code: CodeCategories, Message: "y"}}
	for _, tc := range []struct {
		vs   []Violation
		code Code
		want bool
	}{
		{vs, CodeLength, true},
		{vs, CodeCategories, true},
		{vs, CodeUserID, false},
		{nil, CodeLength, false},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			if got, want := Violates(tc.vs, tc.code), tc.want; got != want {
				t.Errorf("Violates(%v, %v) = %v, want %v", tc.vs, tc.code, got, want)
			}
		})
	}
}

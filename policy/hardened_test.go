package policy

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// jane is the user the hardened table tests check passwords for.
var jane = Input{
	UserID:       "j.smith01",
	FirstName:    "Jane",
	LastName:     "Smith",
	Organisation: "Riverside Medical Practice",
	ODSCode:      "Y02345",
}

func janeWith(password string) Input {
	in := jane
	in.Password = password
	return in
}

// passphrase64 is a 64-character passphrase of ordinary words.
const passphrase64 = "quietly the orange bicycle hummed past seven lighthouses at noon"

func TestHardenedRulesOrderAndText(t *testing.T) {
	want := []Code{CodeLength, CodeCommon, CodeContext, CodeStrength, CodeHistory, CodeCurrent, CodeMinimumAge}
	rules := Hardened().Rules()
	var got []Code
	for _, r := range rules {
		got = append(got, r.Code)
		if r.Text == "" {
			t.Errorf("rule %v has no text", r.Code)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Hardened().Rules() codes = %v, want %v", got, want)
	}
	for _, r := range rules {
		if r.Code == CodeLength {
			if got, want := r.Text, strconv.Itoa(HardenedMinLength)+"-"+strconv.Itoa(HardenedMaxLength); !strings.Contains(got, want) {
				t.Errorf("length text %q does not contain %q", got, want)
			}
		}
		if r.Code == CodeCategories {
			t.Errorf("the hardened policy has a composition rule")
		}
	}
	// The shared rules keep the documents' wording.
	cqrs := map[Code]string{}
	for _, r := range Rules() {
		cqrs[r.Code] = r.Text
	}
	for _, r := range rules {
		if c, ok := cqrs[r.Code]; ok && r.Code != CodeLength && c != r.Text {
			t.Errorf("text for %v = %q, want the CQRS text %q", r.Code, r.Text, c)
		}
	}
}

func TestNamed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		want    string
		wantErr bool
	}{
		{"cqrs", NameCQRS, false},
		{"hardened", NameHardened, false},
		{"", "", true},
		{"Hardened", "", true},
		{"nist", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Named(tc.name)
			if got, want := err != nil, tc.wantErr; got != want {
				t.Fatalf("Named(%q) error = %v, want error %v", tc.name, err, want)
			}
			if err == nil && p.Name() != tc.want {
				t.Errorf("Named(%q).Name() = %q, want %q", tc.name, p.Name(), tc.want)
			}
		})
	}
	if got, want := (Policy{}).Name(), NameCQRS; got != want {
		t.Errorf("zero Policy name = %q, want %q", got, want)
	}
	if got, want := (Policy{}).Rules(), Rules(); !slices.Equal(got, want) {
		t.Errorf("zero Policy rules = %v, want the CQRS rules %v", got, want)
	}
}

func TestHardened(t *testing.T) {
	if got, want := utf8.RuneCountInString(passphrase64), 64; got != want {
		t.Fatalf("passphrase64 has %d characters, want %d", got, want)
	}
	for _, tc := range []struct {
		name     string
		password string
		want     []Code
	}{
		// The three: accepted by the CQRS policy, refused here.
		{"Password1!", "Password1!", []Code{CodeLength, CodeCommon, CodeStrength}},
		{"Welcome2026!", "Welcome2026!", []Code{CodeLength, CodeCommon, CodeStrength}},
		{"Nhsmail123!", "Nhsmail123!", []Code{CodeLength, CodeContext, CodeStrength}},
		{"64-character passphrase", passphrase64, nil},
		{"65 characters", passphrase64 + "s", []Code{CodeLength}},
		{"65 characters, first 64 fine: never truncated", passphrase64 + "!", []Code{CodeLength}},
		{"15-character random string", "Xk9#mQ2vL7pR4wZ", nil},
		{"14-character random string", "Xk9#mQ2vL7pR4w", []Code{CodeLength}},
		{"no composition rule: lower case and spaces", "purple tortoise under lamplight", nil},
		{"common password padded", "P@ssw0rd!!!!!!!!!!", []Code{CodeCommon, CodeStrength}},
		{"common password reversed", "drowssap12345678!", []Code{CodeCommon}},
		{"common but strong enough", "Sunshine2026!!!!", []Code{CodeCommon}},
		{"two common passwords joined", "qwertyuiopasdfgh", []Code{CodeStrength}},
		{"repeat", strings.Repeat("ab", 10), []Code{CodeStrength}},
		{"single long word", "internationalization", []Code{CodeStrength}},
		{"first name", "violet Jane copper 42", []Code{CodeContext}},
		{"first name upper case", "violetJANEcopper42", []Code{CodeContext}},
		{"last name mixed case", "violet sMiTh copper 42", []Code{CodeContext}},
		{"user id", "violet J.SMITH01 copper", []Code{CodeContext}},
		{"user id part", "violet copper smith 42x", []Code{CodeContext}},
		{"organisation name", "riverside medical practice 42!", []Code{CodeContext, CodeStrength}},
		{"organisation name, other case and punctuation", "RIVERSIDE-MEDICAL-PRACTICE-42!", []Code{CodeContext}},
		{"ODS code", "violet y02345 copper lamp", []Code{CodeContext}},
		{"nhs", "violet copper nhs lamp 42", []Code{CodeContext}},
		{"cqrs upper case", "violet copper CQRS lamp 42", []Code{CodeContext}},
		{"an initial is not refused", "violet j copper lamp 42x", nil},
		{"one organisation word alone is not refused", "violet medical copper lamp", nil},
		{"control character", "purple tortoise\tunder lamplight", []Code{CodeControl}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := Hardened().Check(janeWith(tc.password))
			if got, want := codes(vs), tc.want; !slices.Equal(got, want) {
				t.Fatalf("Check(%q) codes = %v, want %v (%v)", tc.password, got, want, vs)
			}
			for _, v := range vs {
				if v.Message == "" {
					t.Errorf("violation %v has no message", v.Code)
				}
				if got, want := v.Reason != "", v.Code == CodeStrength; got != want {
					t.Errorf("violation %v reason %q: has reason = %v, want %v", v.Code, v.Reason, got, want)
				}
			}
			if got, want := codes(Hardened().CheckLive(janeWith(tc.password))), tc.want; !slices.Equal(got, want) {
				t.Errorf("CheckLive(%q) codes = %v, want %v", tc.password, got, want)
			}
		})
	}
}

func TestHardenedStrengthReason(t *testing.T) {
	for _, tc := range []struct {
		password string
		want     string
	}{
		{"Password1!", "similar to a commonly used password"},
		{"password", "top-10 common password"},
		{"qwertyuiopasdfgh", "similar to a commonly used password"},
		{"zxcvbnm,./asdfg", "Straight rows of keys"},
		{strings.Repeat("a", 20), `Repeats like "aaa"`},
		{strings.Repeat("abc", 7), `Repeats like "abcabcabc"`},
		{"internationalization", "A word by itself is easy to guess."},
		{"abcdefghijklmnopqrst", "Sequences like abc"},
		{"Nhsmail123!", "Words about you or this service"},
	} {
		t.Run(tc.password, func(t *testing.T) {
			vs := Hardened().CheckLive(janeWith(tc.password))
			var reason string
			for _, v := range vs {
				if v.Code == CodeStrength {
					reason = v.Reason
				}
			}
			if !strings.Contains(reason, tc.want) {
				t.Errorf("strength reason for %q = %q, want it to contain %q", tc.password, reason, tc.want)
			}
		})
	}
}

func TestHardenedNFC(t *testing.T) {
	// "é" as e + combining acute is two code points but one character.
	decomposed := strings.Repeat("e\u0301", 15)
	composed := strings.Repeat("\u00e9", 15)
	a, b := Hardened().CheckLive(Input{Password: decomposed}), Hardened().CheckLive(Input{Password: composed})
	if got, want := Violates(a, CodeLength), false; got != want {
		t.Errorf("15 decomposed é: length violated = %v, want %v", got, want)
	}
	if got, want := codes(a), codes(b); !slices.Equal(got, want) {
		t.Errorf("decomposed codes = %v, composed %v: want the same", got, want)
	}
	// 64 characters after NFC, 65 code points before.
	pw := passphrase64[:63] + "e\u0301"
	if got, want := Violates(Hardened().CheckLive(Input{Password: pw}), CodeLength), false; got != want {
		t.Errorf("64 characters after NFC: length violated = %v, want %v", got, want)
	}
	// A name typed decomposed is found in a composed password.
	in := Input{Password: "violet Zoë copper lamp 42", FirstName: "Zoe\u0308"}
	if got, want := Violates(Hardened().CheckLive(in), CodeContext), true; got != want {
		t.Errorf("decomposed first name: context violated = %v, want %v", got, want)
	}
}

func TestHardenedStoredRules(t *testing.T) {
	now := time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		in   Input
		want []Code
	}{
		{"acceptable", Input{Password: passphrase64, Now: now}, nil},
		{"same as current", Input{Password: passphrase64, Now: now, SameAsCurrent: true}, []Code{CodeCurrent}},
		{"same as previous", Input{Password: passphrase64, Now: now, SameAsPrevious: true}, []Code{CodeHistory}},
		{"within 72 hours", Input{Password: passphrase64, Now: now, LastChanged: now.Add(-time.Hour)}, []Code{CodeMinimumAge}},
		{"exactly 72 hours", Input{Password: passphrase64, Now: now, LastChanged: now.Add(-MinimumAge)}, nil},
		{"reset link exempt from 72 hours", Input{Password: passphrase64, Now: now, LastChanged: now.Add(-time.Hour), Reset: true}, nil},
		{"reset link not exempt from history", Input{Password: passphrase64, Now: now, Reset: true, SameAsPrevious: true}, []Code{CodeHistory}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := codes(Hardened().Check(tc.in)), tc.want; !slices.Equal(got, want) {
				t.Errorf("Check codes = %v, want %v", got, want)
			}
			if got := Hardened().CheckLive(tc.in); got != nil {
				t.Errorf("CheckLive = %v, want nil (the stored rules are checked on submit)", got)
			}
		})
	}
}

// A huge password is refused by length without running the estimator, so
// its cost stays bounded.
func TestHardenedLongInputIsCheap(t *testing.T) {
	pw := strings.Repeat("correct horse ", 5000)
	start := time.Now()
	vs := Hardened().Check(Input{Password: pw})
	if got, want := codes(vs), []Code{CodeLength}; !slices.Equal(got, want) {
		t.Errorf("codes = %v, want %v", got, want)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("checking a 70,000-character password took %v", d)
	}
}

func BenchmarkHardenedCheckLive(b *testing.B) {
	in := janeWith(passphrase64)
	for b.Loop() {
		Hardened().CheckLive(in)
	}
}

// The strength estimator is our own (policy/strength) since issue 28; it
// replaced github.com/trustelem/zxcvbn. Both follow the zxcvbn algorithm
// and agreed on 2,939 of 3,000 generated passwords (words from the lists,
// capitals, look-alike symbols, reversals, dates and digits); they differ
// where their word lists and keyboards differ. Each case says what the old
// estimator decided and what ours decides.
func TestHardenedOwnEstimator(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
		want     []Code
	}{
		// Old: strength only. Ours also refuses it as common: the newer list
		// (49,233 passwords against 30,000) has it.
		{"in the newer list only", "passwordpassword", []Code{CodeCommon, CodeStrength}},
		// Old: accepted. Ours: common, "violet" is a common password in the
		// newer list (rank 2,138) and the rest is a date and symbols.
		{"word from the newer list after a date", "19870513violet!!", []Code{CodeCommon}},
		// Old: accepted (neither name in its frequency-ranked name lists).
		// Ours: too weak, both are in the first-names list, which is
		// alphabetical and so gives every name its middle rank.
		{"two rarer first names", "fayinacairistiona", []Code{CodeStrength}},
		// Old: too weak. Ours: accepted; its English lists rank these words
		// lower (they come from newer Wikipedia and subtitle counts).
		{"two words ranked differently", "acquisitionsbedlam", nil},
		// Both refuse it as too weak: the old one because its password list
		// had "qwertzuiop", ours because it knows the German keyboard.
		{"German keyboard walk", "qwertzuiopasdfgh", []Code{CodeStrength}},
		// Both refuse it: a walk along the Dvorak layout's home row.
		{"Dvorak keyboard walk", "aoeuidhtns',.pyf", []Code{CodeStrength}},
		// Old read 2031 as four random digits (its years ended at 2019); ours
		// as a year near the reference year. Both: common only.
		{"a year after 2019", "Sunshine2031!!!!", []Code{CodeCommon}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := codes(Hardened().Check(janeWith(tc.password))), tc.want; !slices.Equal(got, want) {
				t.Errorf("Check(%q) codes = %v, want %v", tc.password, got, want)
			}
		})
	}
}

// BenchmarkHardenedFirstCheck is the first hardened check in a fresh
// process: the estimator decodes its lists (see strength's
// BenchmarkFirstEstimate, which repeats that part alone).
func BenchmarkHardenedFirstCheck(b *testing.B) {
	if os.Getenv("HARDENED_FIRST_CHECK_CHILD") == "1" {
		start := time.Now()
		Hardened().Check(janeWith(passphrase64))
		fmt.Printf("first check %d ns\n", time.Since(start).Nanoseconds())
		os.Exit(0)
	}
	var total time.Duration
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkHardenedFirstCheck$", "-test.benchtime=1x")
		cmd.Env = append(os.Environ(), "HARDENED_FIRST_CHECK_CHILD=1")
		out, err := cmd.Output()
		if err != nil {
			b.Fatal(err)
		}
		var ns int64
		if _, err := fmt.Sscanf(string(out), "first check %d ns", &ns); err != nil {
			b.Fatalf("child said %q: %v", out, err)
		}
		total += time.Duration(ns)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "first-check-ns/op")
}

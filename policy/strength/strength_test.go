package strength

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestEstimateFindsPatterns(t *testing.T) {
	inputs := []string{"nhsmail", "jane", "riverside medical practice"}
	for _, tc := range []struct {
		password string
		// want is the cheapest decomposition's patterns and tokens.
		want []string
	}{
		{"password", []string{"dictionary:password"}},
		{"P@ssw0rd", []string{"dictionary:P@ssw0rd"}},
		{"drowssap", []string{"dictionary:drowssap"}},
		{"internationalization", []string{"dictionary:internationalization"}},
		{"Nhsmail123!", []string{"dictionary:Nhsmail", "bruteforce:123!"}},
		{"zxcvbnm,./", []string{"spatial:zxcvbnm,./"}},
		{"aoeuidhtns", []string{"spatial:aoeuidhtns"}},
		{"+96325", []string{"spatial:+96325"}},
		{strings.Repeat("a", 20), []string{"repeat:" + strings.Repeat("a", 20)}},
		{strings.Repeat("abc", 7), []string{"repeat:" + strings.Repeat("abc", 7)}},
		{"abcdefghijklmnopqrst", []string{"sequence:abcdefghijklmnopqrst"}},
		{"97531", []string{"sequence:97531"}},
		{"Sunshine2026!!!!", []string{"dictionary:Sunshine", "year:2026", "repeat:!!!!"}},
		{"13.05.1987", []string{"date:13.05.1987"}},
		{"Xk9#mQ2vL7pR4wZ", []string{"bruteforce:Xk9#mQ2vL7pR4wZ"}},
	} {
		t.Run(tc.password, func(t *testing.T) {
			r := Estimate(tc.password, inputs, 2026)
			var got []string
			for _, m := range r.Sequence {
				got = append(got, string(m.Pattern)+":"+m.Token)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("Estimate(%q) sequence = %q, want %q (%.3g guesses)", tc.password, got, tc.want, r.Guesses)
			}
		})
	}
}

// The guesses of the cheapest decomposition: l! times the parts' product
// plus 10000^(l-1), each part at least 50 (10 for one character).
func TestEstimateGuesses(t *testing.T) {
	for _, tc := range []struct {
		password string
		want     float64
	}{
		{"password", 2 + 1},                // rank 2, plus 10000^0
		{"Password", 4 + 1},                // a capital first letter doubles it
		{"Password1!", 2*50*100 + 1e4},     // "Password" (4, floored to 50), "1!" (10^2)
		{"abcdefghijklmnopqrst", 4*20 + 1}, // from "a" (4), times the length
		{"Sunshine2026!!!!", 6*98*50*50 + 1e8},
	} {
		r := Estimate(tc.password, nil, 2026)
		if r.Guesses != tc.want {
			t.Errorf("Estimate(%q) = %.6g guesses, want %.6g", tc.password, r.Guesses, tc.want)
		}
	}
}

func TestEstimateUsesReferenceYear(t *testing.T) {
	near := Estimate("1999", nil, 2000).Guesses // within 20 years: 20 (+1)
	far := Estimate("1999", nil, 2099).Guesses  // 100 years away
	if near != 21 || far != 101 {
		t.Errorf("guesses for 1999 = %v (from 2000), %v (from 2099); want 21, 101", near, far)
	}
}

func TestScore(t *testing.T) {
	for _, tc := range []struct {
		guesses float64
		want    int
	}{{1, 0}, {1e3 + 4, 0}, {1e3 + 5, 1}, {1e6 + 5, 2}, {1e8 + 4, 2}, {1e8 + 5, 3}, {1e10 + 5, 4}} {
		if got := Score(tc.guesses); got != tc.want {
			t.Errorf("Score(%v) = %d, want %d", tc.guesses, got, tc.want)
		}
	}
}

// The lists are decoded on the first estimate, not when the package is
// initialised: a child process checks before and after its first call.
func TestListsDecodedOnFirstUse(t *testing.T) {
	if os.Getenv("STRENGTH_LAZY_CHILD") == "1" {
		if lists != nil || keyboards != nil {
			t.Fatal("lists or keyboards built before the first estimate")
		}
		Estimate("correct horse", nil, 0)
		if lists == nil || len(lists.ranks[0]) == 0 {
			t.Fatal("lists not built by the first estimate")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestListsDecodedOnFirstUse$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STRENGTH_LAZY_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestListsDecoded(t *testing.T) {
	wl := loadLists()
	for i, name := range wl.names {
		if len(wl.ranks[i]) < 4000 {
			t.Errorf("list %s has %d words", name, len(wl.ranks[i]))
		}
	}
	if got := wl.ranks[0]["password"]; got != 2 {
		t.Errorf(`rank of "password" = %d, want 2`, got)
	}
}

// FuzzEstimate: on any input the decomposition covers the password in
// order, and the guesses are at least one.
func FuzzEstimate(f *testing.F) {
	for _, s := range []string{"", "a", "P@ssw0rd!!!!", "1|1|7|7|1|", "\xff\xfe", "漢字漢字ab12", "13/5/87 13-05-1987", strings.Repeat("ab", 32)} {
		f.Add(s, "jane")
	}
	f.Fuzz(func(t *testing.T, password, input string) {
		if utf8.RuneCountInString(password) > 64 {
			return
		}
		r := Estimate(password, []string{input}, 0)
		if r.Guesses < 1 {
			t.Fatalf("guesses %v", r.Guesses)
		}
		next := 0
		for _, m := range r.Sequence {
			if m.I != next || m.J < m.I {
				t.Fatalf("sequence %+v does not cover the password in order", r.Sequence)
			}
			next = m.J + 1
		}
		if n := len([]rune(password)); next != n {
			t.Fatalf("sequence ends at %d of %d", next, n)
		}
	})
}

// BenchmarkFirstEstimate is the one-off cost of the first estimate after
// start: decoding the lists (and the keyboards), then the estimate.
func BenchmarkFirstEstimate(b *testing.B) {
	for b.Loop() {
		listsOnce, lists = sync.Once{}, nil
		keyboardsOnce, keyboards = sync.Once{}, nil
		Estimate("quietly the orange bicycle hummed past seven lighthouses at noon", nil, 0)
	}
}

func BenchmarkEstimate(b *testing.B) {
	loadLists()
	for _, pw := range []string{
		"quietly the orange bicycle hummed past seven lighthouses at noon",
		strings.Repeat("4@(1|!$5+7", 6) + "4@(1",
	} {
		b.Run(strings.Fields(pw)[0], func(b *testing.B) {
			for b.Loop() {
				Estimate(pw, []string{"jane", "smith"}, 0)
			}
		})
	}
}

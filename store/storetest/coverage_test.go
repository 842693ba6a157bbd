package storetest

import (
	"slices"
	"testing"
)

// TestEveryMethodHasCases fails for a method of the app's store interface
// (storage.Engine) that no contract case covers: a method added to a
// journey's store interface needs its cases here, run on both engines.
func TestEveryMethodHasCases(t *testing.T) {
	missing, unknown := Uncovered(cases)
	for _, m := range missing {
		t.Errorf("storage.Engine.%s has no contract cases: register a Case whose Covers names it (see register)", m)
	}
	for _, m := range unknown {
		t.Errorf("a contract case covers %q, which is not a method of storage.Engine", m)
	}
}

// TestUncoveredNamesAMethodWithoutCases: the check sees a method whose
// only case is taken away.
func TestUncoveredNamesAMethodWithoutCases(t *testing.T) {
	var without []Case
	for _, c := range cases {
		if !slices.Contains(c.Covers, "Unlock") {
			without = append(without, c)
		}
	}
	if missing, _ := Uncovered(without); !slices.Contains(missing, "Unlock") {
		t.Errorf("without Unlock's cases, Uncovered missed it: %v", missing)
	}
	if _, unknown := Uncovered([]Case{{Name: "stale", Covers: []string{"NoSuchMethod"}}}); !slices.Equal(unknown, []string{"NoSuchMethod"}) {
		t.Errorf("a case covering no method: unknown = %v", unknown)
	}
}

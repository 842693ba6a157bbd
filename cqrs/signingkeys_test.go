package cqrs

import (
	"testing"
	"time"
)

// TestRetiredSigningKeys: a replaced key stays published for a day after
// it was replaced, newest first, then drops out of the list.
func TestRetiredSigningKeys(t *testing.T) {
	first, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if got := RetireSigningKey(nil, nil, t0); len(got) != 0 {
		t.Fatalf("no current key: %d retired, want 0", len(got))
	}
	retired := RetireSigningKey(first, nil, t0)                    // first replaced at t0
	retired = RetireSigningKey(second, retired, t0.Add(time.Hour)) // second replaced an hour later
	if len(retired) != 2 || string(retired[0].DER) != string(second) {
		t.Fatalf("retired = %d keys, newest first wanted", len(retired))
	}
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{{2 * time.Hour, 2}, {RetiredKeyLifespan, 1}, {RetiredKeyLifespan + time.Hour, 0}} {
		keys, err := PublishedRetiredKeys(retired, t0.Add(tc.at))
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != tc.want {
			t.Errorf("at +%v: %d published, want %d", tc.at, len(keys), tc.want)
		}
	}
	if got := RetireSigningKey(nil, retired, t0.Add(RetiredKeyLifespan+time.Hour)); len(got) != 0 {
		t.Errorf("a rotation a day later keeps %d expired keys", len(got))
	}
	if _, err := ParseSigningKey([]byte("not a key")); err == nil {
		t.Error("a damaged key parses")
	}
}

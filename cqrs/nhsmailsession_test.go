package cqrs

import (
	"testing"
	"time"
)

func TestNHSmailSessionOver(t *testing.T) {
	expires := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now  time.Time
		over bool
	}{
		{expires.Add(-time.Nanosecond), false},
		{expires, true},
		{expires.Add(time.Hour), true},
	} {
		if got := NHSmailSessionOver(expires, tc.now); got != tc.over {
			t.Errorf("at %v: over %v, want %v", tc.now, got, tc.over)
		}
	}
}

package handlers

import (
	"bytes"
	"testing"
	"time"
)

// TestIdleTimeoutIsExact: with a 4-second idle limit, a page every 1.5
// seconds keeps the session for as long as it goes on, and the session
// ends 4 seconds after the last page, not earlier; pages in between do not
// write to the database.
func TestIdleTimeoutIsExact(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SessionIdle = 4 * time.Second; c.SignInRateLimit = 0 })
	e.registeredAdmin()
	c := e.client()
	wantStatus(t, c.signIn("admin.jones", strongPassword, ""), 303)
	wantStatus(t, c.get("/messages"), 200)
	for i := range 8 {
		e.clock.Advance(1500 * time.Millisecond)
		before := e.dbBytes()
		if r := c.get("/messages"); r.StatusCode != 200 {
			t.Fatalf("a page %v after the last one (page %d, %v after sign-in) answered %d (%s): signed out early",
				1500*time.Millisecond, i+1, time.Duration(i+1)*1500*time.Millisecond, r.StatusCode, r.Header.Get("Location"))
		}
		if !bytes.Equal(before, e.dbBytes()) {
			t.Errorf("page %d wrote to the database", i+1)
		}
	}
	e.clock.Advance(3900 * time.Millisecond)
	wantStatus(t, c.get("/messages"), 200)
	e.clock.Advance(4 * time.Second)
	if r := c.get("/messages"); r.StatusCode != 303 {
		t.Errorf("4 seconds after the last page the session still answers %d", r.StatusCode)
	}
}

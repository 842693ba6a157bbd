// Package clocktest is the tests' one settable clock: a time that stands
// still until the test moves it, safe to read from the goroutines of the
// code under test. The store, the app, the mail sender and the NHSmail
// simulator take its Now as their time source, as they take clock.Clock's
// in the program.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a time source moved by hand.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New is a clock standing at start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

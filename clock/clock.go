// Package clock is the app's one time source: the time now, plus an offset
// the trainer moves forward in training mode (+72 hours, +14 days). The
// store, the handlers, the mailer and the NHSmail simulator all read it,
// so they see the same time.
package clock

import (
	"sync"
	"time"
)

// Clock is a time source with an offset the trainer moves forward.
type Clock struct {
	mu     sync.RWMutex
	base   func() time.Time
	offset time.Duration
}

// New returns a clock reading base (time.Now when nil) plus an offset.
func New(base func() time.Time) *Clock {
	if base == nil {
		base = time.Now
	}
	return &Clock{base: base}
}

// Now is the training time.
func (c *Clock) Now() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.base().Add(c.offset)
}

// Base is the time without the trainer's moves: the room's own time.
func (c *Clock) Base() time.Time { return c.base() }

// Offset is how far the training time is ahead of the base clock.
func (c *Clock) Offset() time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.offset
}

// SetOffset sets how far the training time is ahead.
func (c *Clock) SetOffset(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = d
}

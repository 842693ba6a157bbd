package handlers

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Readiness is whether a load balancer should send this instance new
// requests: not once it is shutting down, nor while its database cannot
// be reached.
type Readiness struct {
	draining atomic.Bool
	// Database reaches the database; nil when there is none to lose (the
	// database file is in this process).
	Database func(context.Context) error
	// Unreachable reports whether a store's error is the database out of
	// reach (restarting, failing over) rather than a fault: such a
	// request is answered 503 "try again in a moment". Nil: never.
	Unreachable func(error) bool
}

// unreachable reports whether err is the database out of reach.
func (r *Readiness) unreachable(err error) bool {
	return r.Unreachable != nil && r.Unreachable(err)
}

// Drain marks the instance as shutting down: /readyz fails from now on,
// and every answer closes its connection, so the proxy opens its next one
// to another instance while this one finishes what it has.
func (r *Readiness) Drain() { r.draining.Store(true) }

// Draining reports whether Drain was called.
func (r *Readiness) Draining() bool { return r.draining.Load() }

// closeWhileDraining is the first middleware: see Drain.
func (a *app) closeWhileDraining(c *fiber.Ctx) error {
	if a.readiness.Draining() {
		c.Context().SetConnectionClose()
	}
	return c.Next()
}

// health answers while the process does (/healthz).
func (a *app) health(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"service": "cqrs-signin", "version": a.cfg.Version})
}

// ready answers 200 while this instance should be given requests, and 503
// (with the reason) once it is shutting down or cannot reach its database.
func (a *app) ready(c *fiber.Ctx) error {
	status := "ready"
	if a.readiness.Draining() {
		status = "shutting down"
	} else if a.readiness.Database != nil {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := a.readiness.Database(ctx); err != nil {
			a.log.Warn("readiness: the database cannot be reached", "err", err)
			status = "database unreachable"
		}
	}
	if status != "ready" {
		c.Status(fiber.StatusServiceUnavailable)
	}
	return c.JSON(fiber.Map{"service": "cqrs-signin", "status": status})
}

// healthPath is a load balancer's check, answered whatever the Host: a
// check often names no host, or the public one.
func healthPath(path string) bool { return path == "/healthz" || path == "/readyz" }

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

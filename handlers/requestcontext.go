package handlers

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// clientCheckEvery is how often a request still running asks whether its
// client's connection has closed. Most requests end before the first ask.
const clientCheckEvery = 100 * time.Millisecond

// requestContext is the first middleware: c.UserContext(), which every
// store call takes, ends when the request's time is up (RequestTimeout),
// when the server has shut down, or when the client's connection closes.
// fasthttp's own context (c.Context()) ends only at shutdown: it never
// looks at the connection while a handler runs, so a browser that went
// away would leave its query running.
func (a *app) requestContext(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(a.serving, a.cfg.RequestTimeout)
	defer cancel()
	stop := watchClient(c.Context().Conn(), cancel)
	defer stop()
	c.SetUserContext(ctx)
	return c.Next()
}

// watchClient calls gone once the client closes conn, asking the socket
// every clientCheckEvery without reading from it (see clientClosed), until
// stop is called. A connection it cannot ask (not TCP, or a platform
// without the check) is not watched: the request's deadline still ends it.
func watchClient(conn net.Conn, gone func()) (stop func()) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok || !canAskSocket {
		return func() {}
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return func() {}
	}
	var (
		mu      sync.Mutex
		stopped bool
		timer   *time.Timer
	)
	check := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if clientClosed(raw) {
			gone()
			return
		}
		timer.Reset(clientCheckEvery)
	}
	mu.Lock()
	timer = time.AfterFunc(clientCheckEvery, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		timer.Stop()
	}
}

// serveSimulator hands a request to the embedded NHSmail simulator (an
// http.Handler) with the request's context: the adaptor alone would give
// it fasthttp's, which ends as soon as a shutdown begins, cutting off the
// simulator's queries during the drain, and never when its client leaves.
func (a *app) serveSimulator(c *fiber.Ctx) error {
	ctx := c.UserContext()
	return adaptor.HTTPHandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.nhsmailServer.ServeHTTP(w, r.WithContext(ctx))
	})(c)
}

package handlers

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCancelledRequestEndsItsQuery: on PostgreSQL, a request whose query
// waits behind a lock the test holds stops waiting when its client goes
// away, when the server has stopped, and when its time (RequestTimeout)
// runs out, when the page says the service is busy. The lock is held throughout, so a query that left
// was cancelled, not finished.
func TestCancelledRequestEndsItsQuery(t *testing.T) {
	if testEngine != enginePostgres {
		t.Skip("the PostgreSQL pass's test: the bbolt file has no query to cancel")
	}
	t.Run("the client leaves", func(t *testing.T) {
		e := newEnv(t)
		waiting := lockUsers(t, e.dbPath)
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.serve(), "http://"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: " + testHost + "\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the request's query to wait for the lock", func() bool { return waiting() == 1 })
		conn.Close()
		waitFor(t, 5*time.Second, "the query to end after its client left", func() bool { return waiting() == 0 })
	})
	t.Run("the server stops", func(t *testing.T) {
		e := newEnv(t) // the request's own time (30 s) outlasts the test
		waiting := lockUsers(t, e.dbPath)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go e.app.Listener(ln)
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: " + testHost + "\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the request's query to wait for the lock", func() bool { return waiting() == 1 })
		// The drain's time runs out with the request still waiting: once
		// the server has stopped, its query ends too.
		e.app.ShutdownWithTimeout(500 * time.Millisecond)
		waitFor(t, 5*time.Second, "the query to end after the server stopped", func() bool { return waiting() == 0 })
	})
	t.Run("the deadline passes", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.RequestTimeout = time.Second })
		waiting := lockUsers(t, e.dbPath)
		req, _ := http.NewRequest("GET", e.serve()+"/", nil)
		req.Host = testHost
		start := time.Now()
		resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("no answer while the lock was held: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("answered after %v with a 1 s request timeout", took)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "The service is busy") {
			t.Errorf("answer = %d (Retry-After %q), want 503 The service is busy: %s", resp.StatusCode, resp.Header.Get("Retry-After"), excerpt(string(body)))
		}
		waitFor(t, 2*time.Second, "no query left waiting after the answer", func() bool { return waiting() == 0 })
	})
}

// lockUsers holds an exclusive lock on the users table of the test's
// schema until t ends, and returns a count of the queries it blocks, read
// on a connection of its own (pg_stat_activity is read once per
// transaction, so never inside the locking one).
func lockUsers(t *testing.T, dsn string) (waiting func() int) {
	t.Helper()
	ctx := t.Context()
	locker, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var pid int32
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background() // t.Context() has ended by now
		tx.Rollback(ctx)
		locker.Close(ctx)
		watcher.Close(ctx)
	})
	return func() int {
		var n int
		if err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWatchClientTakesNothingAndSeesTheClose: the watch leaves bytes the
// client sent (a pipelined request) for the server to read, does not call
// an open connection gone, and sees the client close it.
func TestWatchClientTakesNothingAndSeesTheClose(t *testing.T) {
	if !canAskSocket {
		t.Skip("this platform has no way to peek at a socket")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	gone := make(chan struct{})
	stop := watchClient(server, func() { close(gone) })
	defer stop()

	const next = "GET /next HTTP/1.1\r\n\r\n"
	if _, err := client.Write([]byte(next)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
		t.Fatal("a connection with a request waiting was called gone")
	case <-time.After(5 * clientCheckEvery):
	}
	buf := make([]byte, len(next))
	server.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != next {
		t.Fatalf("the server read %q, %v; want the client's bytes untouched", buf, err)
	}
	client.Close()
	select {
	case <-gone:
	case <-time.After(2 * time.Second):
		t.Fatal("the client's close was not seen")
	}
}

package handlers

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that sends its request a byte at a time is cut off by the read
// timeout, and others are served meanwhile.
func TestSlowClientIsCutOffAndDoesNotStarveOthers(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReadTimeout, c.IdleTimeout = time.Second, time.Second })
	base := e.serve()
	addr := strings.TrimPrefix(base, "http://")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		req := "GET /login HTTP/1.1\r\nHost: " + testHost + "\r\nX-Slow: " + strings.Repeat("a", 200) + "\r\n\r\n"
		for i := 0; i < len(req); i++ {
			if _, err := conn.Write([]byte{req[i]}); err != nil {
				return // the server closed the connection
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// Meanwhile ordinary requests are answered.
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("GET", base+"/login", nil)
		req.Host = testHost
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /login during the slow client = %d", resp.StatusCode)
		}
	}

	select {
	case <-closed:
	case <-time.After(15 * time.Second): // the whole request would take 25 s
		t.Fatal("the slow client was not cut off")
	}
	// A 408 answer before closing is acceptable; then the connection ends.
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the connection stayed open after the timeout")
		}
	}
}

package handlers

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// rawRequest writes req as is over a real connection to addr, so neither
// the client library nor app.Test tidies the path or headers, and reads
// the answer.
func rawRequest(t *testing.T, addr, req string) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// Fiber answers 413 and 431 before any middleware runs: those answers
// must carry the security headers all the same.
func TestEarlyErrorsCarryTheSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	addr := strings.TrimPrefix(e.serve(), "http://")
	big := strings.Repeat("a", DefaultConfig().BodyLimit+1)
	for name, tc := range map[string]struct {
		req  string
		want int
	}{
		"413 body too large":    {"POST /login HTTP/1.1\r\nHost: " + testHost + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + fmt.Sprint(len(big)) + "\r\n\r\n" + big, 413},
		"431 headers too large": {"GET / HTTP/1.1\r\nHost: " + testHost + "\r\nX-Padding: " + strings.Repeat("b", 16<<10) + "\r\n\r\n", 431},
	} {
		t.Run(name, func(t *testing.T) {
			r := rawRequest(t, addr, tc.req)
			if r.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", r.StatusCode, tc.want)
			}
			for h, want := range map[string]string{"Content-Security-Policy": contentSecurity, "X-Content-Type-Options": "nosniff",
				"Referrer-Policy": "same-origin", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
				if got := r.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

// Odd asset paths are a 404 or the file they normalise to, never a
// server error, and never a file outside the assets.
func TestAssetPathsNeverFail(t *testing.T) {
	e := newEnv(t)
	addr := strings.TrimPrefix(e.serve(), "http://")
	for _, path := range []string{"/assets/../main.go", "/assets/./css/app.css", "/assets//css//app.css", "/assets/css/../css/app.css",
		"/assets/%2e%2e/main.go", "/assets/..%2fmain.go", "/assets/css/app.css/", "/assets/", "/assets", "/assets/.", "/assets/.."} {
		t.Run(path, func(t *testing.T) {
			r := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: "+testHost+"\r\nConnection: close\r\n\r\n")
			if r.StatusCode != 200 && r.StatusCode != 404 {
				t.Fatalf("status = %d, want 404 or 200", r.StatusCode)
			}
			if r.StatusCode == 200 && !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
				t.Errorf("200 with Content-Type %q: only the stylesheet should be found", r.Header.Get("Content-Type"))
			}
			if r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no security headers")
			}
		})
	}
}

// A control character in a field cannot start a forged line of the audit
// CSV (ASVS 16.4.1), and formula cells stay defused.
func TestAuditCSVEscapesControlCharacters(t *testing.T) {
	e := newAdminEnv(t)
	forged := "x\n2026-11-02T09:00:00Z,signin-success,admin.jones,admin.jones,127.0.0.1,password,forged"
	for _, ev := range []cqrs.AuditEvent{
		{Type: "signin-failure", Subject: forged, Detail: "line\rbreak and\ttab and \x1b[31mescape\u2028sep"},
		{Type: "signin-failure", Subject: "=HYPERLINK(\"http://evil\")", Detail: "@SUM(1)"},
	} {
		if err := e.store.Audit(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	r := e.sys.get("/admin/audit.csv")
	wantStatus(t, r, 200)
	for i, line := range strings.Split(strings.TrimRight(r.body, "\n"), "\n") {
		if strings.ContainsAny(line, "\r\t\x1b\u2028") {
			t.Errorf("line %d holds a control character: %q", i+1, line)
		}
		if strings.Contains(line, "forged") && !strings.Contains(line, "signin-failure") {
			t.Errorf("line %d is forged: %q", i+1, line)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var sawForged, sawFormula bool
	for _, row := range rows {
		for _, cell := range row {
			if strings.Contains(cell, "forged") {
				sawForged = true
				if !strings.Contains(cell, `\n`) {
					t.Errorf("the newline is not shown escaped: %q", cell)
				}
			}
			if strings.Contains(cell, "HYPERLINK") || strings.Contains(cell, "SUM(") {
				sawFormula = true
				if !strings.HasPrefix(cell, "'") {
					t.Errorf("formula cell not defused: %q", cell)
				}
			}
		}
	}
	if !sawForged || !sawFormula {
		t.Errorf("the test events are missing from the CSV:\n%s", r.body)
	}
}

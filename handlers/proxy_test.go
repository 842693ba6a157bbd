package handlers

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

const tooMany = "Too many sign-in attempts"

// proxyEnv is an app served on a real loopback listener (so requests come
// from 127.0.0.1) that trusts the proxies named, with a sign-in limit of
// two a minute.
func proxyEnv(t *testing.T, trusted ...string) (*testEnv, string) {
	e := newEnv(t, func(c *Config) {
		c.SignInRateLimit = 2
		for _, p := range trusted {
			c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
		}
	})
	e.registeredAdmin()
	return e, e.serve()
}

// wrongSignIn is a failed sign-in sent over the listener with headers.
func wrongSignIn(e *testEnv, base string, headers ...[2]string) response {
	c := e.client()
	form := url.Values{"user_id": {"nobody"}, "password": {"wrong-password"}, "csrf_token": {c.csrf("/login")}}
	opts := []reqOpt{header("Content-Type", "application/x-www-form-urlencoded")}
	for _, h := range headers {
		opts = append(opts, header(h[0], h[1]))
	}
	return c.over(base, "POST", "/login", form.Encode(), opts...)
}

// newestAuditIP is the address on the audit log's newest entry.
func newestAuditIP(t *testing.T, e *testEnv) string {
	t.Helper()
	events, _, err := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{})
	if err != nil || len(events) == 0 {
		t.Fatalf("audit log: %v, %d entries", err, len(events))
	}
	return events[0].IP
}

func xff(v string) [2]string { return [2]string{"X-Forwarded-For", v} }

// TestForgedForwardingHeadersAreIgnored: sent straight to an instance by
// anyone who is not a trusted proxy, X-Forwarded-For and Forwarded change
// nothing: a new forged address each time buys no more attempts, and the
// audit log keeps the connection's address.
func TestForgedForwardingHeadersAreIgnored(t *testing.T) {
	e, base := proxyEnv(t, "10.0.0.0/8") // a proxy elsewhere; 127.0.0.1 is not it
	for i, h := range [][2]string{xff("198.51.100.1"), {"Forwarded", "for=198.51.100.2"}, xff("198.51.100.3")} {
		r := wrongSignIn(e, base, h)
		if limited := strings.Contains(r.body, tooMany); limited != (i == 2) {
			t.Errorf("attempt %d with forged %s: limited %v (status %d)", i+1, h[0], limited, r.StatusCode)
		}
		if i < 2 {
			if ip := newestAuditIP(t, e); ip != "127.0.0.1" {
				t.Errorf("audit entry's address %q, want the connection's 127.0.0.1", ip)
			}
		}
	}
}

// TestTrustedProxyNamesThePerson: from a trusted proxy the person's
// address is the one the proxy appended (the rightmost untrusted entry:
// what the person wrote to its left proves nothing), so each person has
// their own limit and the audit log names them.
func TestTrustedProxyNamesThePerson(t *testing.T) {
	e, base := proxyEnv(t, "127.0.0.1/32")
	for i := 0; i < 2; i++ {
		wantNoText(t, wrongSignIn(e, base, xff("198.51.100.1")), tooMany)
		if ip := newestAuditIP(t, e); ip != "198.51.100.1" {
			t.Fatalf("audit entry's address %q, want the person's 198.51.100.1", ip)
		}
	}
	// A forged entry to the left of the proxy's does not make a new person.
	wantText(t, wrongSignIn(e, base, xff("203.0.113.50, 198.51.100.1")), tooMany)
	wantText(t, wrongSignIn(e, base, xff("203.0.113.51"), xff("198.51.100.1")), tooMany)
	// Someone else behind the same proxy has their own attempts.
	wantNoText(t, wrongSignIn(e, base, xff("203.0.113.9")), tooMany)
	// Forwarded (RFC 7239), with a port and IPv6, from a proxy that writes
	// only it.
	wantNoText(t, wrongSignIn(e, base, [2]string{"Forwarded", `for="[2001:db8::7]:4711";proto=https`}), tooMany)
	if ip := newestAuditIP(t, e); ip != "2001:db8::7" {
		t.Errorf("audit entry's address %q, want 2001:db8::7 from Forwarded", ip)
	}
	// A Forwarded header the person wrote, passed on by a proxy that
	// writes X-Forwarded-For, is not believed: the attempt counts against
	// 198.51.100.1, which has had its two.
	wantText(t, wrongSignIn(e, base, [2]string{"Forwarded", "for=203.0.113.77"}, xff("198.51.100.1")), tooMany)
	// Through a chain of trusted proxies the person is the first untrusted hop.
	wantNoText(t, wrongSignIn(e, base, xff("192.0.2.44, 127.0.0.1")), tooMany)
	if ip := newestAuditIP(t, e); ip != "192.0.2.44" {
		t.Errorf("audit entry's address %q, want 192.0.2.44 behind two proxies", ip)
	}
}

package handlers

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

const publicURL = "https://cqrs.example.nhs.uk"

// publicEnv is an instance behind a load balancer at publicURL, as main
// configures it from --public-url.
func publicEnv(t *testing.T) (*testEnv, *client) {
	e := newEnv(t, func(c *Config) {
		c.BaseURL, c.PublicOrigin, c.Secure = publicURL, publicURL, true
		c.Hosts = append(c.Hosts, "cqrs.example.nhs.uk")
	})
	c := e.client()
	c.host = "cqrs.example.nhs.uk"
	return e, c
}

// TestPublicURL: behind the public address the app answers to its host,
// takes forms only from its origin, and its cookies are Secure with the
// __Host- prefix even though the instance itself speaks plain HTTP to the
// proxy.
func TestPublicURL(t *testing.T) {
	e, c := publicEnv(t)
	fresh := e.client()
	fresh.host = c.host
	r := fresh.get("/login")
	wantStatus(t, r, 200)
	e.setUp(c)
	if sc := strings.Join(r.Header.Values("Set-Cookie"), "\n"); !strings.Contains(sc, "__Host-") || !strings.Contains(strings.ToLower(sc), "; secure") {
		t.Errorf("cookies %q, want __Host- and Secure under an https public address", sc)
	}
	wantStatus(t, c.get("/login", host("rebind.example")), 403)
	form := url.Values{"password": {strongPassword}, "confirm_password": {strongPassword}, "csrf_token": {c.csrf("/register")}}
	// The instance's own address is not the site's origin.
	wantText(t, c.post("/register", form, header("Origin", "http://127.0.0.1:8420")), "another site")
	r = c.post("/register", form, header("Origin", publicURL))
	if r.StatusCode == 403 {
		t.Fatalf("a form from the public origin refused: %d %s", r.StatusCode, r.body)
	}
}

// TestReadiness: /readyz is 200 while the instance should get requests and
// 503 when its database cannot be reached or it is shutting down; from then
// every answer closes its connection. Both checks answer a load balancer
// that names no host or the public one, and no other.
func TestReadiness(t *testing.T) {
	e, c := publicEnv(t)
	var dbErr error
	ready := &Readiness{Database: func(context.Context) error { return dbErr }}
	cfg := e.cfg
	app, err := New(nilLogger(), cfg, Deps{Instance: e.instance(), Stores: storesOf(e.store), Hasher: e.hasher, Readiness: ready})
	if err != nil {
		t.Fatal(err)
	}
	e.app = app
	for _, h := range []string{"", "cqrs.example.nhs.uk"} {
		for _, path := range []string{"/healthz", "/readyz"} {
			wantStatus(t, c.get(path, host(h)), 200)
		}
	}
	wantStatus(t, c.get("/readyz", host("rebind.example")), 403)

	dbErr = errors.New("connection refused")
	r := c.get("/readyz")
	wantStatus(t, r, 503)
	wantText(t, r, "database unreachable")
	dbErr = nil
	wantStatus(t, c.get("/readyz"), 200)

	if r := c.get("/login"); r.Close {
		t.Error("a connection closed before draining")
	}
	ready.Drain()
	r = c.get("/readyz")
	wantStatus(t, r, 503)
	wantText(t, r, "shutting down")
	wantStatus(t, c.get("/healthz"), 200)
	if r := c.get("/login"); !r.Close || r.StatusCode != 200 {
		t.Errorf("while draining: status %d, Connection: close %v; want 200 and close", r.StatusCode, r.Close)
	}
}

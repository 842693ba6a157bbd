package storetest

import (
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// What disabling an account decides (cqrs.User.SetStatus): its sessions
// end, so enabling it again does not bring back a browser signed in
// before.

func init() {
	register(Case{"disabling an account ends its sessions for good",
		[]string{"SetStatus"}, testDisablingEndsSessions})
}

func testDisablingEndsSessions(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam, jo := v.active("sam.patel"), v.active("jo.bloggs")
	const idle, absolute = 30 * time.Minute, 12 * time.Hour
	for _, s := range []struct {
		id   uint64
		hash string
	}{{sam.ID, "sam"}, {jo.ID, "jo"}} {
		if _, err := v.e.SignedIn(t.Context(), s.id, hash(s.hash), nil); err != nil {
			t.Fatal(err)
		}
	}
	if u, err := v.e.SetStatus(t.Context(), sam.ID, cqrs.StatusDisabled); err != nil || u.Status != cqrs.StatusDisabled {
		t.Fatalf("disable: %q, %v", u.Status, err)
	}
	if u, err := v.e.SetStatus(t.Context(), sam.ID, cqrs.StatusActive); err != nil || u.Status != cqrs.StatusActive {
		t.Fatalf("enable again: %q, %v", u.Status, err)
	}
	if _, _, err := v.e.Session(t.Context(), hash("sam"), idle, absolute); err == nil {
		t.Error("a session from before the account was disabled works again once it is enabled")
	}
	if _, u, err := v.e.Session(t.Context(), hash("jo"), idle, absolute); err != nil || u.ID != jo.ID {
		t.Errorf("another account's session ended with it: %+v, %v", u, err)
	}
}

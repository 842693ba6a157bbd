package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// What using an emailed link decides (cqrs.UseLink), beyond its being
// used once: whose account it opens, and whose sessions it ends.

func init() {
	register(Case{"a link sets the password: not on a disabled account; a reset signs out everywhere",
		[]string{"SetPasswordWithLink", "LinkUser"}, testLinkUse})
}

func testLinkUse(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam, jo := v.active("sam.patel"), v.active("jo.bloggs")
	for _, s := range []string{"sam-1", "sam-2"} {
		if _, err := v.e.SignedIn(t.Context(), sam.ID, hash(s), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.e.SignedIn(t.Context(), jo.ID, hash("jo"), nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []cqrs.User{sam, jo} {
		if _, err := v.e.SendLink(t.Context(), u.ID, cqrs.LinkReset, hash("reset:"+u.UserID), time.Hour, cqrs.Email{Kind: "reset"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.e.SetStatus(t.Context(), jo.ID, cqrs.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.SetPasswordWithLink(t.Context(), hash("reset:jo.bloggs"), cqrs.LinkReset, "hash:new", nil); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("a disabled account's reset link: %v, want ErrConflict", err)
	}
	if u, _ := v.e.User(t.Context(), jo.ID); u.PasswordHash != jo.PasswordHash || u.Status != cqrs.StatusDisabled {
		t.Errorf("a refused link changed the account: %+v", u)
	}
	if h, _ := v.e.PasswordHistory(t.Context(), jo.ID); len(h) != 0 {
		t.Errorf("a refused link changed the history: %q", h)
	}

	v.clock.Advance(time.Minute)
	u, err := v.e.SetPasswordWithLink(t.Context(), hash("reset:sam.patel"), cqrs.LinkReset, "hash:new", nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "hash:new" || !u.PasswordChanged.Equal(v.clock.Now()) || u.Status != cqrs.StatusActive {
		t.Errorf("after the reset: %+v", u)
	}
	for _, s := range []string{"sam-1", "sam-2"} {
		if _, _, err := v.e.Session(t.Context(), hash(s), time.Hour, 12*time.Hour); err == nil {
			t.Errorf("session %s outlived the reset", s)
		}
	}
	// Registration: the invited user had no sessions to end, and nobody
	// else's end either.
	v.invite("al.jones")
	if _, err := v.e.SignedIn(t.Context(), sam.ID, hash("sam-3"), nil); err != nil {
		t.Fatal(err)
	}
	al, err := v.e.SetPasswordWithLink(t.Context(), hash("link:al.jones"), cqrs.LinkRegister, "hash:al", nil)
	if err != nil || al.Status != cqrs.StatusActive || !al.PasswordChanged.Equal(v.clock.Now()) {
		t.Fatalf("registration: %+v, %v", al, err)
	}
	if _, _, err := v.e.Session(t.Context(), hash("sam-3"), time.Hour, 12*time.Hour); err != nil {
		t.Errorf("another user's registration ended a session: %v", err)
	}
	if h, _ := v.e.PasswordHistory(t.Context(), al.ID); len(h) != 0 {
		t.Errorf("a registration's history: %q, want none", h)
	}
}

package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The NHSmail simulator's directory, sign-in sessions and registered
// applications.

func init() {
	register(
		Case{"the NHSmail directory", []string{"CreateNHSmailAccount", "NHSmailAccount", "NHSmailAccountByEmail", "NHSmailAccounts", "SetNHSmailFlags", "SetNHSmailPassword"}, testNHSmailDirectory},
		Case{"NHSmail sign-in sessions end at their expiry, on a password reset and when swept", []string{"CreateNHSmailSession", "NHSmailSessionStarted", "DeleteNHSmailSession", "DeleteExpiredNHSmailSessions"}, testNHSmailSessions},
		Case{"NHSmail applications", []string{"CreateNHSmailApplication", "NHSmailApplication", "NHSmailApplications", "DeleteNHSmailApplication"}, testNHSmailApplications},
	)
}

func testNHSmailDirectory(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam, err := v.e.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: " Sam.Patel@nhs.net ", FirstName: "Sam", LastName: "Patel", PasswordHash: "h1", ConsentRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	tenant, _ := v.e.NHSmailTenantID(t.Context())
	if sam.ID == 0 || sam.Email != "Sam.Patel@nhs.net" || sam.ObjectID == "" || sam.TenantID != tenant || !sam.Created.Equal(v.clock.Now()) {
		t.Errorf("created: %+v (tenant %s)", sam, tenant)
	}
	if _, err := v.e.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "sam.patel@NHS.NET"}); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("the same email in another case: %v, want ErrConflict", err)
	}
	if _, err := v.e.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "  "}); err == nil {
		t.Error("an account without an email was made")
	}
	al, err := v.e.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "al.jones@nhs.net", FirstName: "Al"})
	if err != nil {
		t.Fatal(err)
	}
	if al.ObjectID == sam.ObjectID {
		t.Error("two accounts share an object ID")
	}
	if got, err := v.e.NHSmailAccountByEmail(t.Context(), " SAM.PATEL@nhs.net"); err != nil || got != sam {
		t.Errorf("by email, any case: %+v, %v", got, err)
	}
	if got, err := v.e.NHSmailAccount(t.Context(), sam.ID); err != nil || got != sam {
		t.Errorf("by ID: %+v, %v", got, err)
	}
	if list, err := v.e.NHSmailAccounts(t.Context()); err != nil || len(list) != 2 || list[0] != al || list[1] != sam {
		t.Errorf("by email: %+v, %v", list, err)
	}
	if err := v.e.SetNHSmailFlags(t.Context(), sam.ID, true, true, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.e.NHSmailAccount(t.Context(), sam.ID); !got.Disabled || !got.Locked || got.ConsentRequired || got.PasswordHash != "h1" {
		t.Errorf("after the flags: %+v", got)
	}
	if err := v.e.SetNHSmailPassword(t.Context(), sam.ID, "h2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.e.NHSmailAccount(t.Context(), sam.ID); got.PasswordHash != "h2" || !got.Disabled {
		t.Errorf("after the password: %+v", got)
	}
	for name, err := range map[string]error{
		"flags":    v.e.SetNHSmailFlags(t.Context(), sam.ID+1000, false, false, false),
		"password": v.e.SetNHSmailPassword(t.Context(), sam.ID+1000, "h"),
	} {
		if !errors.Is(err, cqrs.ErrNotFound) {
			t.Errorf("%s of an unknown account: %v, want ErrNotFound", name, err)
		}
	}
	if _, err := v.e.NHSmailAccount(t.Context(), sam.ID+1000); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown account: %v, want ErrNotFound", err)
	}
	if _, err := v.e.NHSmailAccountByEmail(t.Context(), "nobody@nhs.net"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown email: %v, want ErrNotFound", err)
	}
}

func testNHSmailSessions(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam, err := v.e.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "sam@nhs.net", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	al, err := v.e.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "al@nhs.net", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	started := v.clock.Now()
	for name, acct := range map[string]uint64{"sam-1": sam.ID, "sam-2": sam.ID, "al": al.ID} {
		if err := v.e.CreateNHSmailSession(t.Context(), hash(name), acct, started.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	v.clock.Advance(time.Minute)
	if id, at, err := v.e.NHSmailSessionStarted(t.Context(), hash("sam-1")); err != nil || id != sam.ID || !at.Equal(started) {
		t.Errorf("session: account %d started %v, %v; want %d at %v", id, at, err, sam.ID, started)
	}
	if _, _, err := v.e.NHSmailSessionStarted(t.Context(), hash("nobody")); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown session: %v, want ErrNotFound", err)
	}
	if err := v.e.DeleteNHSmailSession(t.Context(), hash("sam-1")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.e.NHSmailSessionStarted(t.Context(), hash("sam-1")); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a signed-out session: %v, want ErrNotFound", err)
	}
	// A password reset signs the account out everywhere, and only it.
	if err := v.e.SetNHSmailPassword(t.Context(), sam.ID, "new"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.e.NHSmailSessionStarted(t.Context(), hash("sam-2")); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a session after the password reset: %v, want ErrNotFound", err)
	}
	if id, _, err := v.e.NHSmailSessionStarted(t.Context(), hash("al")); err != nil || id != al.ID {
		t.Errorf("another account's session after the reset: %d, %v", id, err)
	}

	// Expiry: refused at its time; the sweep takes expired sessions and the
	// provider's expired state, and leaves the rest.
	if err := v.e.CreateNHSmailSession(t.Context(), hash("short"), al.ID, v.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	err = v.e.UpdateNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
		return errors.Join(tx.Put("code", []byte("c-short"), "x", tx.Now().Add(time.Minute)), tx.Put("code", []byte("c-long"), "y", tx.Now().Add(3*time.Hour)))
	})
	if err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(time.Minute)
	if _, _, err := v.e.NHSmailSessionStarted(t.Context(), hash("short")); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("a session at its expiry: %v, want ErrExpired", err)
	}
	v.clock.Advance(time.Hour)
	if n, err := v.e.DeleteExpiredNHSmailSessions(t.Context()); err != nil || n != 2 {
		t.Errorf("swept %d, %v; want 2 (al's session and the short code)", n, err)
	}
	if n, err := v.e.DeleteExpiredNHSmailSessions(t.Context()); err != nil || n != 0 {
		t.Errorf("swept again %d, %v; want 0", n, err)
	}
	err = v.e.ViewNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
		var s string
		return tx.Get("code", []byte("c-long"), &s)
	})
	if err != nil {
		t.Errorf("the sweep took state not yet expired: %v", err)
	}
}

func testNHSmailApplications(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	if _, err := v.e.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: " ", RedirectURIs: []string{"https://a.example/cb"}}); err == nil {
		t.Error("an application without a name was registered")
	}
	if _, err := v.e.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "No redirect"}); err == nil {
		t.Error("an application without a redirect URI was registered")
	}
	rota, err := v.e.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: " rota ", SecretHash: hash("secret"), RedirectURIs: []string{"https://rota.example/cb", "https://rota.example/cb2"}})
	if err != nil {
		t.Fatal(err)
	}
	if rota.ClientID == "" || rota.Name != "rota" || !rota.Created.Equal(v.clock.Now()) || rota.Public() {
		t.Errorf("registered: %+v", rota)
	}
	audit, err := v.e.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "Audit tool", RedirectURIs: []string{"http://127.0.0.1:9000/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	if audit.ClientID == rota.ClientID || !audit.Public() {
		t.Errorf("second: %+v", audit)
	}
	same := func(a, b cqrs.NHSmailApplication) bool {
		return a.ClientID == b.ClientID && a.Name == b.Name && slices.Equal(a.SecretHash, b.SecretHash) && slices.Equal(a.RedirectURIs, b.RedirectURIs) && a.Created.Equal(b.Created)
	}
	if got, err := v.e.NHSmailApplication(t.Context(), rota.ClientID); err != nil || !same(got, rota) {
		t.Errorf("by client ID: %+v, %v", got, err)
	}
	if list, err := v.e.NHSmailApplications(t.Context()); err != nil || len(list) != 2 || !same(list[0], audit) || !same(list[1], rota) {
		t.Errorf("by name, ignoring case: %+v, %v", list, err)
	}
	if err := v.e.DeleteNHSmailApplication(t.Context(), rota.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.NHSmailApplication(t.Context(), rota.ClientID); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a deleted application: %v, want ErrNotFound", err)
	}
	if err := v.e.DeleteNHSmailApplication(t.Context(), rota.ClientID); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("deleted twice: %v, want ErrNotFound", err)
	}
	if list, _ := v.e.NHSmailApplications(t.Context()); len(list) != 1 {
		t.Errorf("%d left, want 1", len(list))
	}
}

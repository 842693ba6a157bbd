package store

import (
	"errors"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNHSmailAccountsUniqueIgnoringCase(t *testing.T) {
	s, clk := openTest(t)
	a, err := s.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: " Sam.Patel@nhs.net ", FirstName: "Sam", LastName: "Patel", PasswordHash: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || a.Email != "Sam.Patel@nhs.net" || !a.Created.Equal(clk.Now()) {
		t.Fatalf("created %+v", a)
	}
	if !uuidShape.MatchString(a.ObjectID) || !uuidShape.MatchString(a.TenantID) {
		t.Fatalf("object ID %q, tenant ID %q are not UUIDs", a.ObjectID, a.TenantID)
	}
	if _, err := s.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "sam.patel@NHS.NET"}); !errors.Is(err, cqrs.ErrConflict) {
		t.Fatalf("duplicate email: %v, want ErrConflict", err)
	}
	if _, err := s.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "  "}); err == nil {
		t.Fatal("created an account without an email")
	}
	b, err := s.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "alex.jones@nhs.net"})
	if err != nil {
		t.Fatal(err)
	}
	if b.TenantID != a.TenantID {
		t.Errorf("tenant IDs differ: %q, %q", a.TenantID, b.TenantID)
	}
	if b.ObjectID == a.ObjectID {
		t.Error("two accounts share an object ID")
	}
	if tid, err := s.NHSmailTenantID(t.Context()); err != nil || tid != a.TenantID {
		t.Errorf("NHSmailTenantID = %q, %v; want %q", tid, err, a.TenantID)
	}

	got, err := s.NHSmailAccountByEmail(t.Context(), "SAM.patel@nhs.net")
	if err != nil || got.ID != a.ID || got.PasswordHash != "h1" {
		t.Fatalf("by email: %+v, %v", got, err)
	}
	if _, err := s.NHSmailAccountByEmail(t.Context(), "nobody@nhs.net"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("unknown email: %v, want ErrNotFound", err)
	}
	if _, err := s.NHSmailAccount(t.Context(), 999); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("unknown ID: %v, want ErrNotFound", err)
	}

	list, err := s.NHSmailAccounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Email != "alex.jones@nhs.net" || list[1].Email != "Sam.Patel@nhs.net" {
		t.Fatalf("list = %+v", list)
	}

	if err := s.SetNHSmailFlags(t.Context(), a.ID, true, true, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNHSmailPassword(t.Context(), a.ID, "h2"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.NHSmailAccount(t.Context(), a.ID)
	if !got.Disabled || !got.Locked || !got.ConsentRequired || got.PasswordHash != "h2" || got.ObjectID != a.ObjectID {
		t.Fatalf("after update: %+v", got)
	}
	if err := s.SetNHSmailFlags(t.Context(), 999, false, false, false); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("flags of unknown account: %v", err)
	}
}

func TestNHSmailKeysPersistAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cqrs.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	key1, err := s.NHSmailSigningKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if key1.N.BitLen() != 2048 {
		t.Fatalf("key is %d bits", key1.N.BitLen())
	}
	again, _ := s.NHSmailSigningKey(t.Context())
	if !again.Equal(key1) {
		t.Fatal("second call made a new key")
	}
	secret1, err := s.NHSmailClientSecret(t.Context())
	if err != nil || len(secret1) < 43 {
		t.Fatalf("client secret %q, %v", secret1, err)
	}
	tenant1, _ := s.NHSmailTenantID(t.Context())
	if err := s.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key2, err := s.NHSmailSigningKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !key2.Equal(key1) {
		t.Error("signing key changed across reopen")
	}
	if secret2, _ := s.NHSmailClientSecret(t.Context()); secret2 != secret1 {
		t.Error("client secret changed across reopen")
	}
	if tenant2, _ := s.NHSmailTenantID(t.Context()); tenant2 != tenant1 {
		t.Error("tenant ID changed across reopen")
	}
}

func TestNHSmailSessionExpiry(t *testing.T) {
	s, clk := openTest(t)
	a, err := s.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "sam.patel@nhs.net"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNHSmailSession(t.Context(), hashOf(1), a.ID, clk.Now().Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNHSmailSession(t.Context(), hashOf(2), a.ID, clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if id, err := s.NHSmailSession(t.Context(), hashOf(1)); err != nil || id != a.ID {
		t.Fatalf("live session: %d, %v", id, err)
	}
	if _, err := s.NHSmailSession(t.Context(), hashOf(9)); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}

	clk.Advance(time.Hour)
	if _, err := s.NHSmailSession(t.Context(), hashOf(2)); !errors.Is(err, cqrs.ErrExpired) {
		t.Fatalf("session at its expiry: %v, want ErrExpired", err)
	}
	if _, err := s.NHSmailSession(t.Context(), hashOf(2)); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("expired session was not deleted: %v", err)
	}

	clk.Advance(11*time.Hour - time.Second)
	if _, err := s.NHSmailSession(t.Context(), hashOf(1)); err != nil {
		t.Fatalf("session a second before expiry: %v", err)
	}
	if err := s.DeleteNHSmailSession(t.Context(), hashOf(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NHSmailSession(t.Context(), hashOf(1)); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}

	// A password reset signs the account out everywhere; the sweep removes
	// what has run out.
	s.CreateNHSmailSession(t.Context(), hashOf(3), a.ID, clk.Now().Add(time.Hour))
	s.CreateNHSmailSession(t.Context(), hashOf(4), a.ID+1, clk.Now().Add(time.Minute))
	if err := s.SetNHSmailPassword(t.Context(), a.ID, "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NHSmailSession(t.Context(), hashOf(3)); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("session survived a password reset: %v", err)
	}
	clk.Advance(time.Minute)
	if n, err := s.DeleteExpiredNHSmailSessions(t.Context()); err != nil || n != 1 {
		t.Errorf("sweep removed %d, %v; want 1", n, err)
	}
}

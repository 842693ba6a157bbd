package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The provider's state: values expire on the store's clock, a failed
// update changes nothing, and the sweep deletes what expired.
func TestNHSmailState(t *testing.T) {
	s, clk := openTest(t)
	get := func(kind, key string) (string, error) {
		var v string
		err := s.ViewNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error { return tx.Get(kind, []byte(key), &v) })
		return v, err
	}
	if _, err := get("code", "none"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	err := s.UpdateNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
		if err := tx.Put("code", []byte("a"), "short", tx.Now().Add(time.Minute)); err != nil {
			return err
		}
		return tx.Put("token", []byte("b"), "long", tx.Now().Add(time.Hour))
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := get("code", "a"); err != nil || v != "short" {
		t.Fatalf("code = %q, %v", v, err)
	}
	// An update that fails writes nothing.
	boom := errors.New("boom")
	err = s.UpdateNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
		if err := tx.Put("code", []byte("c"), "kept?", tx.Now().Add(time.Hour)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := get("code", "c"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Error("a failed update was committed")
	}
	if s.ViewNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error { return tx.Put("code", []byte("d"), "x", tx.Now()) }) == nil {
		t.Error("a read transaction wrote")
	}

	clk.Advance(time.Minute)
	if _, err := get("code", "a"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an expired value was returned: %v", err)
	}
	if n, err := s.DeleteExpiredNHSmailSessions(t.Context()); err != nil || n != 1 {
		t.Errorf("swept %d, %v; want the expired code", n, err)
	}
	if v, err := get("token", "b"); err != nil || v != "long" {
		t.Errorf("the live token went: %q %v", v, err)
	}
}

// The provider's keys are made once and kept across a reopen.
func TestNHSmailProviderKeyIsKept(t *testing.T) {
	s, _ := openTest(t)
	k1, err := s.NHSmailProviderKey(t.Context(), "csrf")
	if err != nil || len(k1) != 32 {
		t.Fatalf("%x %v", k1, err)
	}
	k2, _ := s.NHSmailProviderKey(t.Context(), "csrf")
	other, _ := s.NHSmailProviderKey(t.Context(), "access-token")
	if !bytes.Equal(k1, k2) || bytes.Equal(k1, other) {
		t.Errorf("keys %x %x %x", k1, k2, other)
	}
}

// Rotating the signing key keeps the replaced one for a day.
func TestNHSmailSigningKeyRotation(t *testing.T) {
	s, clk := openTest(t)
	first, retired, err := s.NHSmailSigningKeys(t.Context())
	if err != nil || len(retired) != 0 {
		t.Fatalf("%v %v", retired, err)
	}
	if err := s.RotateNHSmailSigningKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	second, retired, err := s.NHSmailSigningKeys(t.Context())
	if err != nil || second.Equal(first) || len(retired) != 1 || !retired[0].Equal(first) {
		t.Fatalf("after rotating: retired %d, %v", len(retired), err)
	}
	clk.Advance(24 * time.Hour)
	if _, retired, _ := s.NHSmailSigningKeys(t.Context()); len(retired) != 0 {
		t.Errorf("a day later %d retired keys are still published", len(retired))
	}
}

// Applications: registered with a GUID client ID, listed by name, removed.
func TestNHSmailApplications(t *testing.T) {
	s, _ := openTest(t)
	if _, err := s.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "No URIs"}); err == nil {
		t.Error("an application without redirect URIs was registered")
	}
	b, err := s.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "b app", RedirectURIs: []string{"https://b.example/cb"}})
	if err != nil || len(b.ClientID) != 36 || !b.Public() {
		t.Fatalf("%+v %v", b, err)
	}
	a, _ := s.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "A app", SecretHash: []byte("h"), RedirectURIs: []string{"https://a.example/cb"}})
	list, err := s.NHSmailApplications(t.Context())
	if err != nil || len(list) != 2 || list[0].ClientID != a.ClientID || list[0].Public() {
		t.Fatalf("%+v %v", list, err)
	}
	if err := s.DeleteNHSmailApplication(t.Context(), a.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NHSmailApplication(t.Context(), a.ClientID); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("deleted application: %v", err)
	}
	if err := s.DeleteNHSmailApplication(t.Context(), a.ClientID); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
}

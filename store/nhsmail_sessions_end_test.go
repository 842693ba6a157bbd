package store

import (
	"errors"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

func TestEndNHSmailSessionsEndsOnlyThatAccounts(t *testing.T) {
	s, clk := openTest(t)
	mine, err := s.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "mine@nhs.net", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := s.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "theirs@nhs.net", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []uint64{mine.ID, mine.ID, theirs.ID} {
		if err := s.CreateNHSmailSession(t.Context(), hashOf(byte(i+1)), id, clk.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EndNHSmailSessions(t.Context(), mine.ID); err != nil {
		t.Fatal(err)
	}
	for _, h := range []byte{1, 2} {
		if _, err := s.NHSmailSession(t.Context(), hashOf(h)); !errors.Is(err, cqrs.ErrNotFound) {
			t.Errorf("session %d of the ended account: %v, want ErrNotFound", h, err)
		}
	}
	if id, err := s.NHSmailSession(t.Context(), hashOf(3)); err != nil || id != theirs.ID {
		t.Errorf("another account's session = %d, %v; want it kept", id, err)
	}
}

package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/clock/clocktest"
	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// MFAEngine is what the NHSmail simulator's second step needs of an
// engine: an account's method, set when it is made and changed later.
type MFAEngine interface {
	CreateNHSmailAccount(ctx context.Context, a cqrs.NHSmailAccount) (cqrs.NHSmailAccount, error)
	NHSmailAccount(ctx context.Context, id uint64) (cqrs.NHSmailAccount, error)
	NHSmailAccountByEmail(ctx context.Context, email string) (cqrs.NHSmailAccount, error)
	SetNHSmailMFA(ctx context.Context, id uint64, method string) error
}

func mfaEngine(t *testing.T, e Engine) MFAEngine {
	t.Helper()
	m, ok := e.(MFAEngine)
	if !ok {
		t.Fatalf("%T lacks the NHSmail MFA methods (MFAEngine)", e)
	}
	return m
}

// testNHSmailMFA: a new account's method is what it was made with (none by
// default), SetNHSmailMFA changes it and nothing else, survives a restart,
// refuses a method the simulator does not offer and an unknown account.
func testNHSmailMFA(t *testing.T, cfg Config) {
	clk := clocktest.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	var e Engine = cfg.Open(t, clk.Now)
	m := func() MFAEngine { return mfaEngine(t, e) }
	plain, err := m().CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "plain@nhs.net", FirstName: "Pat", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if plain.MFAMethod != cqrs.MFANone {
		t.Errorf("default method %q, want none", plain.MFAMethod)
	}
	texted, err := m().CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "texted@nhs.net", PasswordHash: "h", MFAMethod: cqrs.MFAText})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m().NHSmailAccountByEmail(t.Context(), "TEXTED@nhs.net"); err != nil || got.MFAMethod != cqrs.MFAText {
		t.Errorf("made with text message: %+v, %v", got, err)
	}
	if err := m().SetNHSmailMFA(t.Context(), plain.ID, cqrs.MFAAuthenticator); err != nil {
		t.Fatal(err)
	}
	e = cfg.Reopen(t, e)
	got, err := m().NHSmailAccount(t.Context(), plain.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := plain
	want.MFAMethod = cqrs.MFAAuthenticator
	if got != want {
		t.Errorf("after SetNHSmailMFA and a restart: %+v, want %+v", got, want)
	}
	if err := m().SetNHSmailMFA(t.Context(), texted.ID, "carrier-pigeon"); err == nil {
		t.Error("an unknown method was stored")
	}
	if got, _ := m().NHSmailAccount(t.Context(), texted.ID); got.MFAMethod != cqrs.MFAText {
		t.Errorf("a refused change changed the method to %q", got.MFAMethod)
	}
	if err := m().SetNHSmailMFA(t.Context(), texted.ID, cqrs.MFANone); err != nil {
		t.Fatal(err)
	}
	if got, _ := m().NHSmailAccount(t.Context(), texted.ID); got.MFAMethod != cqrs.MFANone {
		t.Errorf("back to none: %q", got.MFAMethod)
	}
	if err := m().SetNHSmailMFA(t.Context(), 999999, cqrs.MFAText); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown account: %v, want ErrNotFound", err)
	}
}

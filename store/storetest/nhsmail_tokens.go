package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// testNHSmailTokens: removing an application, changing an account's
// password and disabling an account each delete the access tokens they
// held, in the same change, and no one else's; locking an account or
// asking for consent leaves them.
func testNHSmailTokens(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	dir := v.e
	account := func(email string) cqrs.NHSmailAccount {
		a, err := dir.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: email, FirstName: "Sam", LastName: "Patel", PasswordHash: "hash"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	sam, ann, kim := account("sam@nhs.net"), account("ann@nhs.net"), account("kim@nhs.net")
	rota, err := dir.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "Rota", RedirectURIs: []string{"https://rota.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	// A token's value as the provider stores it: its owner and more.
	type token struct {
		cqrs.NHSmailTokenOwner
		Scopes []string `json:"scopes"`
	}
	issue := func(key, clientID string, accountID uint64) {
		err := v.e.UpdateNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
			return tx.Put(cqrs.NHSmailAccessTokens, []byte(key), token{cqrs.NHSmailTokenOwner{ClientID: clientID, AccountID: accountID}, []string{"openid"}},
				tx.Now().Add(time.Hour))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	live := func(key string) bool {
		var got token
		err := v.e.ViewNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error { return tx.Get(cqrs.NHSmailAccessTokens, []byte(key), &got) })
		if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	issue("rota-sam", rota.ClientID, sam.ID)
	issue("cqrs-sam", "cqrs", sam.ID)
	issue("cqrs-ann", "cqrs", ann.ID)
	issue("cqrs-kim", "cqrs", kim.ID)
	// A value of another kind with the same fields is not a token.
	if err := v.e.UpdateNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
		return tx.Put("auth-request", []byte("rota-request"), cqrs.NHSmailTokenOwner{ClientID: rota.ClientID, AccountID: sam.ID}, tx.Now().Add(time.Hour))
	}); err != nil {
		t.Fatal(err)
	}

	want := func(step string, tokens map[string]bool) {
		t.Helper()
		for key, wantLive := range tokens {
			if got := live(key); got != wantLive {
				t.Errorf("after %s: token %s live = %v, want %v", step, key, got, wantLive)
			}
		}
	}
	if err := dir.DeleteNHSmailApplication(t.Context(), rota.ClientID); err != nil {
		t.Fatal(err)
	}
	want("removing Rota", map[string]bool{"rota-sam": false, "cqrs-sam": true, "cqrs-ann": true, "cqrs-kim": true})
	var request cqrs.NHSmailTokenOwner
	if err := v.e.ViewNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error { return tx.Get("auth-request", []byte("rota-request"), &request) }); err != nil {
		t.Errorf("removing Rota deleted state of another kind: %v", err)
	}
	if err := dir.DeleteNHSmailApplication(t.Context(), rota.ClientID); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("removing Rota twice: %v, want ErrNotFound", err)
	}

	if err := dir.SetNHSmailPassword(t.Context(), sam.ID, "new hash"); err != nil {
		t.Fatal(err)
	}
	want("Sam's new password", map[string]bool{"cqrs-sam": false, "cqrs-ann": true, "cqrs-kim": true})

	if err := dir.SetNHSmailFlags(t.Context(), kim.ID, false, true, true); err != nil {
		t.Fatal(err)
	}
	want("locking Kim", map[string]bool{"cqrs-ann": true, "cqrs-kim": true})
	if err := dir.SetNHSmailFlags(t.Context(), ann.ID, true, false, false); err != nil {
		t.Fatal(err)
	}
	want("disabling Ann", map[string]bool{"cqrs-ann": false, "cqrs-kim": true})
	if err := dir.SetNHSmailFlags(t.Context(), ann.ID, false, false, false); err != nil {
		t.Fatal(err)
	}
	want("enabling Ann again", map[string]bool{"cqrs-ann": false})
}

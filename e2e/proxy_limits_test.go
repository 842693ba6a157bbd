package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
)

// TestProxySharesLimitsAndLockout: an attacker guessing through the proxy,
// whose round robin spreads the guesses over three instances, gets no more
// attempts than against one: the account locks at the fifth failure, and
// the address's sign-in limit (eight a minute here) counts every
// instance's attempts together.
func TestProxySharesLimitsAndLockout(t *testing.T) {
	const limit = 8
	s := startSite(t, "--signin-rate-limit", "8")
	st, err := postgres.Open(t.Context(), s.dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	org, err := st.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"})
	if err != nil {
		t.Fatal(err)
	}
	db := &sharedDB{t: t, dsn: s.dsn, st: st, org: org}
	sam := db.active("sam.patel", "Harbour#Lights42")

	// The limit's window is the clock's minute: every attempt falls in one.
	startOfAMinute(t, 30*time.Second)
	attempts := 0
	guess := func(password string) int {
		attempts++
		status, _ := newPerson(t).signIn(s.publicURL, "sam.patel", password)
		return status
	}
	for i := 1; i <= 5; i++ {
		if status := guess("wrong password " + string(rune('a'+i))); status != http.StatusUnauthorized {
			t.Fatalf("guess %d through the proxy: %d, want 401", i, status)
		}
	}
	u, err := st.User(t.Context(), sam.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.LockedAt.IsZero() || u.FailedSignIns != 5 {
		t.Fatalf("after 5 guesses spread over three instances: locked at %v, %d failures; want locked at the fifth", u.LockedAt, u.FailedSignIns)
	}
	if _, n, _ := st.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditLockout}); n != 1 {
		t.Errorf("%d lockout entries, want 1", n)
	}
	// The right password now, on each instance in turn: the lock holds.
	for attempts < limit {
		if status := guess("Harbour#Lights42"); status != http.StatusUnauthorized {
			t.Fatalf("the right password on a locked account, attempt %d: %d, want 401", attempts, status)
		}
	}
	// Past the address's limit, every instance refuses.
	for i := 0; i < 3; i++ {
		if status := guess("wrong password z"); status != http.StatusTooManyRequests {
			t.Errorf("attempt %d through the proxy (limit %d a minute): %d, want 429", attempts, limit, status)
		}
	}
	u, err = st.User(t.Context(), sam.ID)
	if err != nil || u.LockedAt.IsZero() {
		t.Fatalf("the account is no longer locked: %v", err)
	}
}

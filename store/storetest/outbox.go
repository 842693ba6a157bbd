package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The outbox after a claim: failed attempts and their retries, the local
// mailbox, and the reads of the mailbox and user list pages.

func init() {
	register(
		Case{"delivery states: a failed attempt waits its turn, a final one and the local mailbox are never claimed", []string{"MarkEmailAttemptFailed", "MarkEmailDelivered", "Email"}, testDeliveryStates},
		Case{"each user's latest email", []string{"LatestEmails"}, testLatestEmails},
	)
}

// queued makes n invited users, each with its registration email, and
// returns the emails' IDs in order.
func (v *env) queued(names ...string) []uint64 {
	v.t.Helper()
	var ids []uint64
	for _, name := range names {
		e := &cqrs.Email{Kind: "registration", To: name + "@nhs.net", Subject: "Welcome", Text: "hello " + name}
		if _, err := v.e.CreateUser(v.t.Context(), cqrs.User{UserID: name, Email: name + "@nhs.net", OrgID: v.org.ID, Role: cqrs.RoleUser},
			hash("link:"+name), time.Hour, e); err != nil {
			v.t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func testDeliveryStates(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	ids := v.queued("retry", "gives.up", "local")
	const lease = time.Minute
	if batch, err := v.e.ClaimDueEmails(t.Context(), 10, lease); err != nil || len(batch) != 3 {
		t.Fatalf("claimed %d, %v; want 3", len(batch), err)
	}
	retry, giveUp, local := ids[0], ids[1], ids[2]
	if err := v.e.MarkEmailAttemptFailed(t.Context(), retry, "421 try later", v.clock.Now().Add(5*time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if err := v.e.MarkEmailAttemptFailed(t.Context(), giveUp, "550 no such user", v.clock.Now(), true); err != nil {
		t.Fatal(err)
	}
	if err := v.e.MarkEmailDelivered(t.Context(), local); err != nil {
		t.Fatal(err)
	}
	e, err := v.e.Email(t.Context(), retry)
	if err != nil || e.Status != cqrs.EmailQueued || e.Attempts != 1 || e.LastError != "421 try later" || !e.NextAttempt.Equal(v.clock.Now().Add(5*time.Minute)) {
		t.Errorf("after a failed attempt: %+v, %v", e, err)
	}
	if e, err := v.e.Email(t.Context(), giveUp); err != nil || e.Status != cqrs.EmailFailed || e.Attempts != 1 || e.LastError != "550 no such user" {
		t.Errorf("after a final failure: %+v, %v", e, err)
	}
	if e, err := v.e.Email(t.Context(), local); err != nil || e.Status != cqrs.EmailLocal || !e.SentAt.Equal(v.clock.Now()) || e.Text != "hello local" {
		t.Errorf("in the local mailbox: %+v, %v", e, err)
	}
	v.clock.Advance(lease) // past the claim's lease, before the retry's time
	if batch, _ := v.e.ClaimDueEmails(t.Context(), 10, lease); len(batch) != 0 {
		t.Errorf("claimed before the retry's time: %+v", batch)
	}
	v.clock.Advance(4 * time.Minute)
	if batch, _ := v.e.ClaimDueEmails(t.Context(), 10, lease); len(batch) != 1 || batch[0].ID != retry {
		t.Errorf("at the retry's time: %+v; want the retried email alone", batch)
	}
	if err := v.e.MarkEmailDelivered(t.Context(), retry+1000); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown email delivered: %v, want ErrNotFound", err)
	}
	if err := v.e.MarkEmailAttemptFailed(t.Context(), retry+1000, "x", v.clock.Now(), false); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown email failed: %v, want ErrNotFound", err)
	}
	if _, err := v.e.Email(t.Context(), retry+1000); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an unknown email: %v, want ErrNotFound", err)
	}
}

func testLatestEmails(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	v.queued("sam.patel", "jo.bloggs", "no.email.asked")
	sam, _ := v.e.UserByUserID(t.Context(), "sam.patel")
	jo, _ := v.e.UserByUserID(t.Context(), "jo.bloggs")
	again, err := v.e.SendLink(t.Context(), sam.ID, cqrs.LinkRegister, hash("again"), time.Hour, cqrs.Email{Kind: "registration", To: sam.Email, Text: "again"})
	if err != nil {
		t.Fatal(err)
	}
	latest, err := v.e.LatestEmails(t.Context(), []uint64{sam.ID, jo.ID, again.ID + 1000})
	if err != nil || len(latest) != 2 || latest[sam.ID].Text != "again" || latest[jo.ID].Text != "hello jo.bloggs" || latest[sam.ID].UserID != sam.ID {
		t.Errorf("latest: %+v, %v; want sam's second email and jo's only one", latest, err)
	}
	if latest, err := v.e.LatestEmails(t.Context(), nil); err != nil || len(latest) != 0 {
		t.Errorf("for nobody: %+v, %v", latest, err)
	}
}

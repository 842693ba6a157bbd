package handlers

import (
	"net/url"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/policy"
)

// The trainer is a system administrator: their password is random, meets
// the CQRS policy, and no page shows it, whoever opens it. (The console
// that prints it is tested in the main package.)
func TestTrainerPasswordIsShownOnNoPage(t *testing.T) {
	for range 20 {
		pw := NewTrainerPassword()
		if v := policy.CheckLive(pw, TrainerUserID); len(v) != 0 {
			t.Fatalf("trainer password %q breaks the policy: %v", pw, v)
		}
	}
	e := newTrainingEnv(t)
	pw := e.cfg.TrainerPassword
	learner := e.client()
	learner.startLearner()
	tr := e.trainer()
	for who, c := range map[string]*client{"visitor": e.client(), "learner": learner, "trainer": tr} {
		for _, path := range []string{"/training", "/training/mailbox", "/login", "/help", "/forgotten", "/register", "/messages", "/training/trainer", "/mailbox", "/admin/users"} {
			if r := c.get(path); strings.Contains(r.body, pw) {
				t.Errorf("%s: GET %s shows the trainer's password", who, path)
			}
		}
	}
}

// A snapshot saved in an earlier run holds that run's trainer password
// hash; restoring it keeps the password this run printed.
func TestSnapshotRestoreKeepsThisRunsTrainerPassword(t *testing.T) {
	e := newTrainingEnv(t)
	tr := e.trainer()
	wantStatus(t, tr.post("/training/trainer/snapshots", url.Values{"name": {"Class start"}, "csrf_token": {tr.csrf("/training/trainer")}}), 303)

	// The next run, with its own password, restores that snapshot.
	next := *e
	next.cfg.TrainerPassword = NewTrainerPassword()
	next.app = e.start(nilLogger(), next.cfg, e.deps(Deps{Hasher: e.hasher}))
	tr2 := next.trainer()
	wantStatus(t, tr2.post("/training/trainer/snapshots/restore", url.Values{"name": {"Class start"}, "csrf_token": {tr2.csrf("/training/trainer")}}), 303)
	wantStatus(t, next.client().signIn(TrainerUserID, next.cfg.TrainerPassword, ""), 303)
	if r := next.client().signIn(TrainerUserID, e.cfg.TrainerPassword, ""); r.StatusCode == 303 {
		t.Error("the earlier run's trainer password works again after the restore")
	}
}

package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/clock"
	"github.com/cqrs-local/cqrs-signin/cqrs"

	bolt "go.etcd.io/bbolt"
)

func trainingSet(prefix string) cqrs.TrainingSet {
	return cqrs.TrainingSet{
		Org: cqrs.Organisation{Name: "Riverside Practice (training)", ODSCode: "TRN001"},
		Users: []cqrs.TrainingUser{
			{User: cqrs.User{UserID: prefix + "trainer", Email: prefix + "trainer@nhs.net", Role: cqrs.RoleSystemAdmin, Status: cqrs.StatusActive, PasswordHash: "h"}},
			{User: cqrs.User{UserID: prefix + "invited", Email: prefix + "invited@nhs.net", Role: cqrs.RoleUser}, LinkHash: hashOf(7), LinkTTL: 14 * 24 * time.Hour,
				Email: &cqrs.Email{Kind: "registration", To: prefix + "invited@nhs.net", Subject: "Complete your CQRS registration"}},
		},
		NHSmail: []cqrs.NHSmailAccount{{Email: prefix + "amy@nhs.net", PasswordHash: "h", Locked: true}},
	}
}

func TestResetTrainingReplacesDataAndKeepsSecrets(t *testing.T) {
	s, _ := openTest(t)
	seed(t, s)
	key, _ := s.CSRFKey(t.Context())
	clientSecret, _ := s.NHSmailClientSecret(t.Context())
	if _, err := s.CreateNHSmailAccount(t.Context(), cqrs.NHSmailAccount{Email: "old@nhs.net"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveClock(t.Context(), 72*time.Hour, nil, cqrs.AuditEvent{Type: "training-clock"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(t.Context(), hashOf(9), 1); err != nil {
		t.Fatal(err)
	}

	keep := &cqrs.KeepSignedIn{SessionHash: hashOf(9), UserID: "trainer"}
	if err := s.ResetTraining(t.Context(), trainingSet(""), keep, cqrs.AuditEvent{Type: "training-reset"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountUsers(t.Context()); n != 2 {
		t.Errorf("users after reset = %d, want 2", n)
	}
	if _, err := s.UserByUserID(t.Context(), "Sam.Patel"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("old user still there: %v", err)
	}
	inv, err := s.UserByUserID(t.Context(), "invited")
	if err != nil || inv.State() != cqrs.StateInvited || inv.Invitation(s.now()) != cqrs.InvitePending {
		t.Fatalf("invited user = %+v, %v", inv, err)
	}
	if _, u, err := s.LinkUser(t.Context(), hashOf(7), cqrs.LinkRegister); err != nil || u.ID != inv.ID {
		t.Errorf("registration link: %v", err)
	}
	if emails, _ := s.Emails(t.Context(), cqrs.EmailFilter{UserID: inv.ID}); len(emails) != 1 {
		t.Errorf("invited user's emails = %d, want 1", len(emails))
	}
	if _, err := s.NHSmailAccountByEmail(t.Context(), "old@nhs.net"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("old NHSmail account still there: %v", err)
	}
	if a, err := s.NHSmailAccountByEmail(t.Context(), "AMY@nhs.net"); err != nil || !a.Locked {
		t.Errorf("NHSmail account = %+v, %v", a, err)
	}
	if k, _ := s.CSRFKey(t.Context()); !bytes.Equal(k, key) {
		t.Error("CSRF key changed")
	}
	if cs, _ := s.NHSmailClientSecret(t.Context()); cs != clientSecret {
		t.Error("NHSmail client secret changed")
	}
	if off, _ := s.ClockOffset(t.Context()); off != 0 {
		t.Errorf("clock offset = %v, want 0", off)
	}
	if _, u, err := s.Session(t.Context(), hashOf(9), time.Hour, time.Hour); err != nil || u.UserID != "trainer" {
		t.Errorf("kept session = %+v, %v", u, err)
	}
	if _, n, _ := s.AuditEvents(t.Context(), cqrs.AuditFilter{Type: "training-reset"}); n != 1 {
		t.Errorf("reset audit entries = %d", n)
	}
	// A failing set changes nothing: the duplicate User ID aborts the whole transaction.
	bad := trainingSet("")
	bad.Users = append(bad.Users, bad.Users[0])
	if err := s.ResetTraining(t.Context(), bad, nil, cqrs.AuditEvent{Type: "training-reset"}); !errors.Is(err, cqrs.ErrConflict) {
		t.Fatalf("duplicate set: %v", err)
	}
	if _, err := s.UserByUserID(t.Context(), "invited"); err != nil {
		t.Errorf("data lost by a failed reset: %v", err)
	}
}

func TestLearnersAreCreatedTogetherAndFoundByToken(t *testing.T) {
	s, _ := openTest(t)
	if err := s.ResetTraining(t.Context(), trainingSet(""), nil, cqrs.AuditEvent{Type: "training-reset"}); err != nil {
		t.Fatal(err)
	}
	org, _ := s.Organisation(t.Context(), 1)
	nl := func(id string, token byte) cqrs.NewLearner {
		return cqrs.NewLearner{TokenHash: hashOf(token), User: cqrs.TrainingUser{User: cqrs.User{UserID: id, Email: id + "@nhs.net", OrgID: org.ID, Role: cqrs.RoleUser},
			LinkHash: hashOf(token + 100), LinkTTL: time.Hour, Email: &cqrs.Email{Subject: "x"}}, NHSmail: cqrs.NHSmailAccount{Email: id + "@nhs.net"}}
	}
	got, err := s.CreateLearners(t.Context(), []cqrs.NewLearner{nl("learner01", 1), nl("learner02", 2)})
	if err != nil || len(got) != 2 {
		t.Fatalf("create learners = %v, %v", got, err)
	}
	l, err := s.LearnerByToken(t.Context(), hashOf(2))
	if err != nil || l.UserID != "learner02" || l.NHSmailEmail != "learner02@nhs.net" {
		t.Fatalf("learner = %+v, %v", l, err)
	}
	// learner02 again: the whole batch is refused, learner03 included.
	if _, err := s.CreateLearners(t.Context(), []cqrs.NewLearner{nl("learner03", 3), nl("learner02", 4)}); !errors.Is(err, cqrs.ErrConflict) {
		t.Fatalf("duplicate learner: %v", err)
	}
	if _, err := s.UserByUserID(t.Context(), "learner03"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("half a batch written: %v", err)
	}
	if all, _ := s.Learners(t.Context()); len(all) != 2 {
		t.Errorf("learners = %d", len(all))
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s, _ := openTest(t)
	if err := s.ResetTraining(t.Context(), trainingSet(""), nil, cqrs.AuditEvent{Type: "training-reset"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(t.Context(), "../escape"); !errors.Is(err, cqrs.ErrSnapshotName) {
		t.Errorf("bad name: %v", err)
	}
	if err := s.SaveSnapshot(t.Context(), "Before lunch"); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := s.Snapshots(t.Context()); len(snaps) != 1 || snaps[0].Name != "Before lunch" {
		t.Fatalf("snapshots = %+v", snaps)
	}
	if err := s.ResetTraining(t.Context(), trainingSet("other-"), nil, cqrs.AuditEvent{Type: "training-reset"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveClock(t.Context(), time.Hour, nil, cqrs.AuditEvent{Type: "training-clock"}); err != nil {
		t.Fatal(err)
	}
	off, err := s.RestoreSnapshot(t.Context(), "Before lunch", nil, cqrs.AuditEvent{Type: "training-restore"})
	if err != nil || off != 0 {
		t.Fatalf("restore = %v, %v", off, err)
	}
	if _, err := s.UserByUserID(t.Context(), "invited"); err != nil {
		t.Errorf("restored user: %v", err)
	}
	if _, err := s.UserByUserID(t.Context(), "other-invited"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("later user survived the restore: %v", err)
	}
	// The nested email index of the NHSmail directory came back too.
	if _, err := s.NHSmailAccountByEmail(t.Context(), "amy@nhs.net"); err != nil {
		t.Errorf("nested bucket not restored: %v", err)
	}
	if _, n, _ := s.AuditEvents(t.Context(), cqrs.AuditFilter{}); n != 4 {
		t.Errorf("audit entries = %d, want 4 (the log is kept, not restored)", n)
	}
	if _, err := s.RestoreSnapshot(t.Context(), "missing", nil, cqrs.AuditEvent{}); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("missing snapshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(s.SnapshotDir(), "junk.db"), []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RestoreSnapshot(t.Context(), "junk", nil, cqrs.AuditEvent{}); err == nil {
		t.Error("a junk snapshot was restored")
	}
	if _, err := s.UserByUserID(t.Context(), "invited"); err != nil {
		t.Errorf("a refused restore changed the data: %v", err)
	}
}

func TestCopyBucketCopiesNestedBucketsAndSequences(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *bolt.DB {
		db, err := bolt.Open(filepath.Join(dir, name), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	src, dst := open("src.db"), open("dst.db")
	err := src.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("top"))
		b.SetSequence(41)
		b.Put([]byte("k"), []byte("v"))
		n, _ := b.CreateBucket([]byte("nested"))
		nn, _ := n.CreateBucket([]byte("deeper"))
		return nn.Put([]byte("a"), []byte("b"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = src.View(func(stx *bolt.Tx) error {
		return dst.Update(func(dtx *bolt.Tx) error {
			b, err := dtx.CreateBucket([]byte("top"))
			if err != nil {
				return err
			}
			return CopyBucket(b, stx.Bucket([]byte("top")))
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	dst.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("top"))
		if b.Sequence() != 41 || string(b.Get([]byte("k"))) != "v" {
			t.Errorf("top: seq %d, k=%q", b.Sequence(), b.Get([]byte("k")))
		}
		if v := b.Bucket([]byte("nested")).Bucket([]byte("deeper")).Get([]byte("a")); string(v) != "b" {
			t.Errorf("deeper a = %q", v)
		}
		return nil
	})
}

func TestClockOffset(t *testing.T) {
	s, clk := openTest(t)
	c := clock.New(clk.Now)
	off, err := s.MoveClock(t.Context(), 72*time.Hour, nil, cqrs.AuditEvent{Type: "training-clock", Detail: "+72 hours"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetOffset(off)
	if got, want := c.Now(), clk.Now().Add(72*time.Hour); !got.Equal(want) {
		t.Errorf("clock = %v, want %v", got, want)
	}
	if stored, _ := s.ClockOffset(t.Context()); stored != 72*time.Hour {
		t.Errorf("stored offset = %v", stored)
	}
}

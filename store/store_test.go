package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/clock/clocktest"
	"github.com/cqrs-local/cqrs-signin/cqrs"
)

func openTest(t *testing.T) (*Store, *clocktest.Clock) {
	t.Helper()
	clk := clocktest.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "cqrs.db"), Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(context.Background()); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		s.Close()
	})
	return s, clk
}

func hashOf(b byte) []byte {
	h := make([]byte, 32)
	for i := range h {
		h[i] = b
	}
	return h
}

func seed(t *testing.T, s *Store) (cqrs.Organisation, cqrs.User) {
	t.Helper()
	org, err := s.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(t.Context(), cqrs.User{UserID: "Sam.Patel", FirstName: "Sam", LastName: "Patel", Email: "Sam.Patel@nhs.net", OrgID: org.ID, Role: cqrs.RoleUser}, hashOf(1), 14*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	return org, u
}

func TestOpenCreatesBucketsAndSchema(t *testing.T) {
	s, _ := openTest(t)
	v, err := s.Schema(t.Context())
	if err != nil || v != SchemaVersion {
		t.Fatalf("schema = %d, %v; want %d", v, err, SchemaVersion)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := s.CSRFKey(t.Context())
	if len(key) != 32 {
		t.Fatalf("CSRF key is %d bytes", len(key))
	}
}

// TestInstanceIDIsMadeOnceAndKept: the cookies are named with it, so it
// must survive a restart and differ between two databases.
func TestInstanceIDIsMadeOnceAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cqrs.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.InstanceID(t.Context())
	s.Close()
	if err != nil || len(first) != 10 {
		t.Fatalf("instance id = %q, %v; want 10 hex digits", first, err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.InstanceID(t.Context())
	s.Close()
	if again != first {
		t.Errorf("instance id after reopening = %q, want %q", again, first)
	}
	other, _ := openTest(t)
	if id, _ := other.InstanceID(t.Context()); id == first {
		t.Errorf("two databases share the instance id %q", id)
	}
}

func TestMigrationFromAnEmptyFileAndRefusalOfNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { // a version-0 file: only meta, no schema
		_, err := tx.CreateBucket(bucketMeta)
		return err
	})
	db.Close()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Schema(t.Context()); v != SchemaVersion {
		t.Fatalf("migrated schema = %d, want %d", v, SchemaVersion)
	}
	key1, _ := s.CSRFKey(t.Context())
	s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, itob(SchemaVersion+1)) })
	s.Close()
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("opened a file from a newer version")
	}
	// Reopening the migrated file keeps its secret.
	db, _ = bolt.Open(path, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, itob(SchemaVersion)) })
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if key2, _ := s.CSRFKey(t.Context()); string(key1) != string(key2) {
		t.Fatal("CSRF key changed across reopen")
	}
}

func TestSecondOpenIsLockedNotHung(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cqrs.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestUniqueUserIDAndEmailIgnoringCase(t *testing.T) {
	s, _ := openTest(t)
	org, _ := seed(t, s)
	for _, u := range []cqrs.User{
		{UserID: "SAM.PATEL", Email: "other@nhs.net", OrgID: org.ID},
		{UserID: "someone", Email: "sam.patel@NHS.NET", OrgID: org.ID},
	} {
		if _, err := s.CreateUser(t.Context(), u, hashOf(9), time.Hour, nil); !errors.Is(err, cqrs.ErrConflict) {
			t.Errorf("create %+v: %v, want ErrConflict", u, err)
		}
	}
	if _, err := s.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Dup", ODSCode: "y12345"}); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("duplicate ODS code: %v", err)
	}
	if _, err := s.CreateUser(t.Context(), cqrs.User{UserID: "x.y", Email: "x@nhs.net", OrgID: 999}, hashOf(8), time.Hour, nil); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("user of a missing organisation: %v", err)
	}
	got, err := s.UserByEmail(t.Context(), "SAM.patel@nhs.net")
	if err != nil || got.UserID != "Sam.Patel" {
		t.Fatalf("by email: %+v %v", got, err)
	}
}

func TestLinkIsSingleUseAndExpires(t *testing.T) {
	s, clk := openTest(t)
	_, u := seed(t, s)
	if _, got, err := s.LinkUser(t.Context(), hashOf(1), cqrs.LinkRegister); err != nil || got.ID != u.ID {
		t.Fatalf("link user: %v", err)
	}
	if _, _, err := s.LinkUser(t.Context(), hashOf(1), cqrs.LinkReset); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("link used for another purpose: %v", err)
	}
	got, err := s.SetPasswordWithLink(t.Context(), hashOf(1), cqrs.LinkRegister, "$argon2id$first", nil)
	if err != nil || got.Status != cqrs.StatusActive || got.PasswordHash != "$argon2id$first" {
		t.Fatalf("set password: %+v %v", got, err)
	}
	if _, err := s.SetPasswordWithLink(t.Context(), hashOf(1), cqrs.LinkRegister, "$argon2id$again", nil); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("reuse: %v, want ErrNotFound", err)
	}

	// A new link for the same purpose revokes the old unused one.
	tx := func(f func(*bolt.Tx) error) {
		if err := s.db.Update(f); err != nil {
			t.Fatal(err)
		}
	}
	now := clk.Now()
	tx(func(t *bolt.Tx) error {
		return putLink(t, hashOf(2), cqrs.Link{UserID: u.ID, Purpose: cqrs.LinkReset, Created: now, Expires: now.Add(time.Hour)})
	})
	tx(func(t *bolt.Tx) error {
		return putLink(t, hashOf(3), cqrs.Link{UserID: u.ID, Purpose: cqrs.LinkReset, Created: now, Expires: now.Add(time.Hour)})
	})
	if _, _, err := s.LinkUser(t.Context(), hashOf(2), cqrs.LinkReset); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("superseded link: %v", err)
	}
	clk.Advance(time.Hour)
	if _, _, err := s.LinkUser(t.Context(), hashOf(3), cqrs.LinkReset); !errors.Is(err, cqrs.ErrExpired) {
		t.Fatalf("expired link: %v", err)
	}
	if _, err := s.SetPasswordWithLink(t.Context(), hashOf(3), cqrs.LinkReset, "x", nil); !errors.Is(err, cqrs.ErrExpired) {
		t.Fatalf("expired link set password: %v", err)
	}
}

func TestPasswordHistoryKeepsEight(t *testing.T) {
	s, _ := openTest(t)
	_, u := seed(t, s)
	if _, err := s.SetPasswordWithLink(t.Context(), hashOf(1), cqrs.LinkRegister, "h0", nil); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		if _, err := s.ChangePassword(t.Context(), u.ID, "h"+string(rune('0'+i)), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.User(t.Context(), u.ID)
	if got.PasswordHash != "h:" { // '0'+10
		t.Fatalf("current = %q", got.PasswordHash)
	}
	history, err := s.PasswordHistory(t.Context(), u.ID)
	if err != nil || len(history) != cqrs.HistoryDepth || history[0] != "h9" || history[7] != "h2" {
		t.Fatalf("history = %v, %v", history, err)
	}
}

func TestSetPasswordRefusesDisabledAccountAndChangesNothing(t *testing.T) {
	s, _ := openTest(t)
	_, u := seed(t, s)
	if _, err := s.SetStatus(t.Context(), u.ID, cqrs.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPasswordWithLink(t.Context(), hashOf(1), cqrs.LinkRegister, "h", nil); !errors.Is(err, cqrs.ErrConflict) {
		t.Fatalf("disabled: %v", err)
	}
	// The transaction rolled back: the link is still unused.
	if _, _, err := s.LinkUser(t.Context(), hashOf(1), cqrs.LinkRegister); err != nil {
		t.Fatalf("link after a refused set: %v", err)
	}
}

func TestSessionsExpireAndAreSwept(t *testing.T) {
	s, clk := openTest(t)
	_, u := seed(t, s)
	s.SetPasswordWithLink(t.Context(), hashOf(1), cqrs.LinkRegister, "h", nil)
	if _, err := s.SignedIn(t.Context(), u.ID, hashOf(5), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(t.Context(), hashOf(5), 30*time.Minute, 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute)
	if _, _, err := s.Session(t.Context(), hashOf(5), 30*time.Minute, 12*time.Hour); !errors.Is(err, cqrs.ErrExpired) {
		t.Fatalf("idle session: %v", err)
	}
	if _, _, err := s.Session(t.Context(), hashOf(5), 30*time.Minute, 12*time.Hour); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("an expired session was not deleted: %v", err)
	}
	s.SignedIn(t.Context(), u.ID, hashOf(6), nil)
	clk.Advance(time.Hour)
	if n, err := s.DeleteExpiredSessions(t.Context(), 30*time.Minute, 12*time.Hour); err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
}

func TestFirstSignInLeavesOneWelcome(t *testing.T) {
	s, _ := openTest(t)
	_, u := seed(t, s)
	s.SetPasswordWithLink(t.Context(), hashOf(1), cqrs.LinkRegister, "h", nil)
	s.SignedIn(t.Context(), u.ID, hashOf(5), nil)
	s.SignedIn(t.Context(), u.ID, hashOf(6), hashOf(5))
	msgs, unread, err := s.Messages(t.Context(), u.ID)
	if err != nil || len(msgs) != 1 || unread != 1 || msgs[0].Subject != cqrs.WelcomeSubject {
		t.Fatalf("messages = %+v, unread %d, %v", msgs, unread, err)
	}
	if _, _, err := s.Session(t.Context(), hashOf(5), time.Hour, time.Hour); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("replaced session: %v", err)
	}
}

func TestMigrationMovesPasswordHistoryOutOfUserRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, u := seed(t, s)
	// Write the record as version 2 did, with its history inside, and
	// step the schema back.
	err = s.db.Update(func(tx *bolt.Tx) error {
		raw := fmt.Sprintf(`{"id":%d,"user_id":"Sam.Patel","email":"Sam.Patel@nhs.net","org_id":%d,"status":"active","password_hash":"h2","password_history":["h1","h0"]}`, u.ID, u.OrgID)
		if err := tx.Bucket(bucketUsers).Put(itob(u.ID), []byte(raw)); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketPasswordHistory); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, itob(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	history, err := s.PasswordHistory(t.Context(), u.ID)
	if err != nil || len(history) != 2 || history[0] != "h1" {
		t.Fatalf("history after migration = %v, %v", history, err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if raw := tx.Bucket(bucketUsers).Get(itob(u.ID)); bytes.Contains(raw, []byte("password_history")) {
			t.Errorf("the user record still holds its history: %s", raw)
		}
		return nil
	})
	if got, _ := s.User(t.Context(), u.ID); got.PasswordHash != "h2" {
		t.Fatalf("user after migration = %+v", got)
	}
}

// The decoded-user cache behind Session never serves a changed record's
// old copy.
func TestSessionSeesEveryChangeToTheUser(t *testing.T) {
	s, _ := openTest(t)
	_, u := seed(t, s)
	s.SetPasswordWithLink(t.Context(), hashOf(1), cqrs.LinkRegister, "h", nil)
	if _, err := s.SignedIn(t.Context(), u.ID, hashOf(5), nil); err != nil {
		t.Fatal(err)
	}
	if _, got, err := s.Session(t.Context(), hashOf(5), time.Hour, time.Hour); err != nil || got.FirstName != "Sam" {
		t.Fatalf("first read: %+v, %v", got, err)
	}
	edited := u
	edited.FirstName = "Samuel"
	if _, err := s.UpdateUser(t.Context(), edited); err != nil {
		t.Fatal(err)
	}
	if _, got, err := s.Session(t.Context(), hashOf(5), time.Hour, time.Hour); err != nil || got.FirstName != "Samuel" {
		t.Fatalf("after an edit the session read %q, %v", got.FirstName, err)
	}
	if _, err := s.SetStatus(t.Context(), u.ID, cqrs.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(t.Context(), hashOf(5), time.Hour, time.Hour); err == nil {
		t.Fatal("a disabled user's session still works")
	}
}

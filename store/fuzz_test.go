package store

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// FuzzRecordDecoding stores arbitrary bytes as every kind of record (and as
// index values) and reads them back through the public API: a damaged or
// hostile record is an error, never a panic.
func FuzzRecordDecoding(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"user_id":"fuzz","email":"fuzz@nhs.net","org_id":1,"status":"active","password_hash":"$argon2id$x"}`,
		`{"user_id":2,"purpose":"register","expires":"2999-01-01T00:00:00Z"}`,
		`{"user_id":1,"created":"2026-11-02T09:00:00Z","last_seen":"2026-11-02T09:00:00Z"}`,
		`{"id":1,"status":"queued","next_attempt":"0001-01-01T00:00:00Z"}`,
		`{"created":"not a time"}`, `{"id":-1}`, `{"id":1e400}`, `{"password_history":[1,2]}`,
		``, `null`, `[]`, `"x"`, `{`, "\xff\xfe", `{"id":1,"id":2}`, `{"status":"active","locked_at":"2026-11-02T09:00:00+99:00"}`,
	} {
		f.Add([]byte(s), []byte{0, 0, 0, 0, 0, 0, 0, 1})
	}
	f.Add([]byte(`{}`), []byte{1})
	f.Add([]byte(`{}`), []byte{})
	s, err := Open(filepath.Join(f.TempDir(), "fuzz.db"), Options{Now: func() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	hash := hashOf(7)
	f.Fuzz(func(t *testing.T, data, idValue []byte) {
		if len(data) == 0 {
			data = []byte{' '} // bbolt stores an empty value; getJSON sees it as present
		}
		err := s.db.Update(func(tx *bolt.Tx) error {
			put := func(bucket, key, v []byte) {
				if err := tx.Bucket(bucket).Put(key, v); err != nil {
					t.Fatal(err)
				}
			}
			put(bucketOrgs, itob(1), data)
			put(bucketUsers, itob(1), data)
			put(bucketUsersByID, []byte("fuzz"), itob(1))
			put(bucketUsersByID, []byte("fuzz2"), idValue)
			put(bucketUsersByEmail, []byte("fuzz@nhs.net"), idValue)
			put(bucketLinks, hash, data)
			put(bucketSessions, hash, data)
			put(bucketMessages, messageKey(1, 1), data)
			put(bucketOutbox, itob(1), data)
			put(bucketAudit, itob(1), data)
			put(bucketMeta, keySetup, data)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Straight through getJSON, into every record type.
		s.db.View(func(tx *bolt.Tx) error {
			for _, v := range []any{&cqrs.User{}, &cqrs.Organisation{}, &cqrs.Link{}, &cqrs.Session{}, &cqrs.Message{}, &cqrs.Email{}, &cqrs.AuditEvent{}, &setupRecord{}} {
				getJSON(tx.Bucket(bucketUsers), itob(1), v)
			}
			return nil
		})
		// And through every reader that meets them.
		s.User(t.Context(), 1)
		s.UserByUserID(t.Context(), "fuzz")
		s.UserByUserID(t.Context(), "fuzz2")
		s.UserByEmail(t.Context(), "fuzz@nhs.net")
		s.Organisation(t.Context(), 1)
		s.Organisations(t.Context())
		s.ListUsers(t.Context(), cqrs.UserFilter{Query: "fuzz"})
		s.ListUsers(t.Context(), cqrs.UserFilter{State: cqrs.StateLocked, OrgID: 1})
		s.LinkUser(t.Context(), hash, cqrs.LinkRegister)
		s.Session(t.Context(), hash, time.Hour, time.Hour)
		s.Messages(t.Context(), 1)
		s.HeaderInfo(t.Context(), 1, 1)
		s.Emails(t.Context(), cqrs.EmailFilter{})
		s.Email(t.Context(), 1)
		s.DueEmails(t.Context(), 10)
		s.AuditEvents(t.Context(), cqrs.AuditFilter{Subject: "fuzz"})
		s.SetupPending(t.Context(), hash)
		s.CountUsers(t.Context())
		// Writers that read a record first must refuse it cleanly too.
		s.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: "fuzz", LockAfter: 5})
		s.Unlock(t.Context(), 1)
		s.OpenMessage(t.Context(), 1, 1)
		s.SetPasswordWithLink(t.Context(), hash, cqrs.LinkRegister, "h", nil)
		s.MarkEmailSent(t.Context(), 1)
		if err := s.Check(t.Context()); err != nil {
			t.Fatalf("consistency check: %v", err)
		}
	})
}

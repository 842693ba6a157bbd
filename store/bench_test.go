package store

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

const benchUsers = 10_000

var firstNames = []string{"Sam", "Alex", "Priya", "Mohammed", "Olivia", "Jack", "Amelia", "Noah", "Isla", "Leo", "Ava", "Oscar"}
var lastNames = []string{"Patel", "Smith", "Jones", "Khan", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas", "Roberts", "Walker"}

// benchStore is a real bbolt file holding 10,000 registered users in 50
// organisations, written in one transaction (the set-up is not the subject).
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	hash := "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + strings.Repeat("A", 43)
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	err = s.db.Update(func(tx *bolt.Tx) error {
		for o := range 50 {
			if err := putNewOrg(tx, &cqrs.Organisation{Name: fmt.Sprintf("Practice %d", o), ODSCode: fmt.Sprintf("Y%05d", o)}); err != nil {
				return err
			}
		}
		for i := range benchUsers {
			first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
			u := cqrs.User{UserID: fmt.Sprintf("%s.%s%04d", strings.ToLower(first), strings.ToLower(last), i), FirstName: first, LastName: last,
				Email: fmt.Sprintf("%s.%s%04d@nhs.net", strings.ToLower(first), strings.ToLower(last), i), WorkPhone: "0113 496 0000",
				OrgID: uint64(i%50 + 1), Role: cqrs.RoleUser, Status: cqrs.StatusActive, PasswordHash: hash,
				PasswordChanged: now, LastSignIn: now, Created: now, InviteExpires: now}
			if err := putNewUser(tx, &u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchList times each call and reports the median, the figure the
// target is set on, beside Go's mean ns/op.
func benchList(b *testing.B, s *Store, f cqrs.UserFilter, wantTotal func(int) bool) {
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		page, total, err := s.ListUsers(b.Context(), f)
		times = append(times, time.Since(start))
		if err != nil || !wantTotal(total) || len(page) > 25 {
			b.Fatalf("ListUsers(%+v) = %d users of %d, %v", f, len(page), total, err)
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
}

func BenchmarkListUsers10kFirstPage(b *testing.B) {
	s := benchStore(b)
	benchList(b, s, cqrs.UserFilter{Limit: 25}, func(n int) bool { return n == benchUsers })
}

func BenchmarkListUsers10kSearch(b *testing.B) {
	s := benchStore(b)
	benchList(b, s, cqrs.UserFilter{Query: "priya.khan", Limit: 25}, func(n int) bool { return n > 0 && n < benchUsers })
}

func BenchmarkListUsers10kSearchNoMatch(b *testing.B) {
	s := benchStore(b)
	benchList(b, s, cqrs.UserFilter{Query: "zzz", Limit: 25}, func(n int) bool { return n == 0 })
}

func BenchmarkListUsers10kOneOrganisationLastPage(b *testing.B) {
	s := benchStore(b)
	benchList(b, s, cqrs.UserFilter{OrgID: 7, Offset: 175, Limit: 25}, func(n int) bool { return n == benchUsers/50 })
}

// BenchmarkSignedIn is the write a successful sign-in costs: one bbolt
// transaction with its fsync.
func BenchmarkSignedIn(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.SignedIn(b.Context(), uint64(i%benchUsers+1), hashOf(byte(i)), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSession is the read every signed-in page makes.
func BenchmarkSession(b *testing.B) {
	s := benchStore(b)
	if _, err := s.SignedIn(b.Context(), 1, hashOf(1), nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Session(b.Context(), hashOf(1), time.Hour, 12*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLegacySignInTransaction is the whole decision of a successful
// legacy sign-in after the hash: the account re-read, the session and the
// audit entry, in one transaction with one fsync.
func BenchmarkLegacySignInTransaction(b *testing.B) {
	s := benchStore(b)
	var u cqrs.User
	if err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, 1)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		res, err := s.LegacySignIn(b.Context(), cqrs.SignInAttempt{UserID: u.UserID, CheckedHash: u.PasswordHash, PasswordOK: true, LockAfter: 5,
			SessionHash: hashOf(byte(i)), IP: "127.0.0.1", Method: "password"})
		if err != nil || !res.SignedIn {
			b.Fatalf("sign-in: %+v, %v", res, err)
		}
	}
}

// BenchmarkMessages is the message list's read: newest first, and the
// unread count (the welcome message and 20 more).
func BenchmarkMessages(b *testing.B) {
	s := benchMessages(b)
	b.ReportAllocs()
	for b.Loop() {
		if msgs, _, err := s.Messages(b.Context(), 1); err != nil || len(msgs) == 0 {
			b.Fatalf("messages: %d, %v", len(msgs), err)
		}
	}
}

// BenchmarkInbox is the message centre's read: the same list and the
// header's organisation, in one transaction.
func BenchmarkInbox(b *testing.B) {
	s := benchMessages(b)
	b.ReportAllocs()
	for b.Loop() {
		if in, err := s.Inbox(b.Context(), 1, 1); err != nil || len(in.Messages) == 0 {
			b.Fatalf("inbox: %d, %v", len(in.Messages), err)
		}
	}
}

// benchMessages is benchStore with 20 messages beside the welcome.
func benchMessages(b *testing.B) *Store {
	s := benchStore(b)
	for range 20 {
		if _, err := s.Broadcast(b.Context(), 1, "CQRS", "Practice news", strings.Repeat("Surgery hours change next week. ", 8)); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

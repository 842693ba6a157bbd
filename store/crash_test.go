package store

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The crash test: a child process (this test binary, re-run) loops over real
// store operations and prints "ACK …" after each one commits; the parent
// kills it with SIGKILL at a random moment, reopens the file, and checks that
// every acknowledged operation survived and the domain invariants hold. The
// same file is carried through every round, so each round also starts from
// the previous crash.

var crashRounds = flag.Int("crash.rounds", 20, "rounds of the crash test (also $CQRS_CRASH_ROUNDS)")

const (
	crashChildEnv = "CQRS_CRASH_CHILD" // the database path, in the child
	crashRoundEnv = "CQRS_CRASH_ROUND"
	crashLockout  = 5
	crashChildMax = 10 * time.Second // the child stops by itself, should no kill come
)

func TestCrashSafety(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is a Unix signal")
	}
	rounds := *crashRounds
	if v := os.Getenv("CQRS_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("$CQRS_CRASH_ROUNDS: %v", err)
		}
		rounds = n
	}
	path := filepath.Join(t.TempDir(), "cqrs.db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d rounds", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	var acked []crashAck
	total := 0
	for round := range rounds {
		// Most kills land in the thick of the work; some at its very start.
		delay := time.Duration(rng.IntN(60)) * time.Millisecond
		if rng.IntN(5) == 0 {
			delay = time.Duration(rng.IntN(1000)) * time.Microsecond
		}
		got := runCrashChild(t, path, round, delay)
		acked = append(acked, got...)
		total += len(got)
		s, err := Open(path, Options{LockTimeout: time.Second})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if err := s.Check(t.Context()); err != nil {
			s.Close()
			t.Fatalf("round %d: bbolt consistency check: %v", round, err)
		}
		// This round's acknowledgements every round; all of them every
		// tenth round and at the end (older rounds' data must survive too).
		if round%10 == 9 || round == rounds-1 {
			checkAcked(t, s, round, acked)
		} else {
			checkAcked(t, s, round, got)
		}
		checkInvariants(t, s, round)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.Fatalf("round %d failed (seed %d, kill after %v); the file is %s", round, seed, delay, path)
		}
	}
	t.Logf("%d rounds, %d acknowledged operations all present", rounds, total)
}

// runCrashChild starts the child, kills it delay after it reports ready,
// and returns the operations it acknowledged.
func runCrashChild(t *testing.T, path string, round int, delay time.Duration) []crashAck {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=30s")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var (
		acks   []crashAck
		killed bool
		kill   <-chan time.Time
	)
	deadline := time.After(crashChildMax + 5*time.Second)
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			switch {
			case line == "READY" && kill == nil:
				kill = time.After(delay)
			case strings.HasPrefix(line, "ACK "):
				acks = append(acks, parseAck(t, line))
			case strings.HasPrefix(line, "FAIL "):
				t.Errorf("round %d: child: %s", round, line)
			}
		case <-kill:
			cmd.Process.Signal(syscall.SIGKILL)
			killed, kill = true, nil
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("round %d: the child did not stop", round)
		}
	}
	err = cmd.Wait()
	if !killed && err != nil {
		t.Fatalf("round %d: child failed: %v\n%s", round, err, stderr.String())
	}
	if killed && err == nil {
		t.Logf("round %d: the child finished before the kill", round)
	}
	return acks
}

// crashAck is one acknowledged operation: "ACK op user arg".
type crashAck struct {
	round int
	op    string
	user  string // User ID, or ODS code for "org"
	arg   string
}

func parseAck(t *testing.T, line string) crashAck {
	f := strings.Fields(line)
	if len(f) != 5 {
		t.Fatalf("bad acknowledgement %q", line)
	}
	r, _ := strconv.Atoi(f[1])
	return crashAck{round: r, op: f[2], user: f[3], arg: f[4]}
}

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run by TestCrashSafety as its child")
	}
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	s, err := Open(path, Options{LockTimeout: 5 * time.Second})
	if err != nil {
		fmt.Printf("FAIL open: %v\n", err)
		t.Fatal(err)
	}
	defer s.Close()
	ack := func(op, user, arg string) {
		// One write(2) per line: the parent sees whole lines only, each
		// printed after its transaction returned.
		os.Stdout.WriteString(fmt.Sprintf("ACK %d %s %s %s\n", round, op, user, arg))
	}
	must := func(what string, err error) {
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", what, err)
			t.Fatalf("%s: %v", what, err)
		}
	}
	os.Stdout.WriteString("READY\n")
	stop := time.Now().Add(crashChildMax)
	var org cqrs.Organisation
	for i := 0; i < 400 && time.Now().Before(stop); i++ {
		if i%4 == 0 {
			org, err = s.CreateOrganisation(t.Context(), cqrs.Organisation{Name: fmt.Sprintf("Practice %d-%d", round, i), ODSCode: fmt.Sprintf("R%03dO%03d", round, i)})
			must("create organisation", err)
			ack("org", org.ODSCode, "-")
		}
		userID := fmt.Sprintf("r%03du%03d", round, i)
		link := crashHash("register", userID)
		email := &cqrs.Email{Kind: "registration", To: userID + "@nhs.net", ToName: "Sam Patel", Subject: "Complete your CQRS registration", Text: "link"}
		u, err := s.CreateUser(t.Context(), cqrs.User{UserID: userID, FirstName: "Sam", LastName: "Patel", Email: userID + "@nhs.net", OrgID: org.ID, Role: cqrs.RoleUser}, link, 14*24*time.Hour, email)
		must("create user", err)
		ack("create", userID, strconv.FormatUint(u.ID, 10))
		if i%5 == 4 { // stays invited
			continue
		}
		_, err = s.SetPasswordWithLink(t.Context(), link, cqrs.LinkRegister, crashPassword(userID, 0), nil)
		must("register", err)
		ack("register", userID, "-")

		sess := crashHash("session-1", userID)
		_, err = s.SignedIn(t.Context(), u.ID, sess, nil)
		must("sign in", err)
		ack("signin", userID, hex.EncodeToString(sess))

		for n := 1; n <= crashLockout; n++ {
			res, err := s.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: userID, LockAfter: crashLockout, Method: "legacy", LinkTTL: time.Hour,
				LockNotice: func(u cqrs.User, _ time.Time) (cqrs.Email, []byte) {
					return cqrs.Email{Kind: "lockout", Subject: "Your CQRS account is locked", Text: "link"}, crashHash("unlock", userID)
				}})
			must("record failure", err)
			ack("fail", userID, strconv.Itoa(n))
			if res.LockedNow != (n == crashLockout) || res.SignedIn {
				must("lockout", fmt.Errorf("failure %d: %+v", n, res))
			}
		}
		_, err = s.Unlock(t.Context(), u.ID)
		must("unlock", err)
		ack("unlock", userID, "-")

		sess2 := crashHash("session-2", userID)
		_, err = s.SignedIn(t.Context(), u.ID, sess2, sess)
		must("sign in again", err)
		ack("signin2", userID, hex.EncodeToString(sess2))

		if i%3 == 0 { // more changes than the history keeps
			for n := 1; n <= cqrs.HistoryDepth+2; n++ {
				_, err = s.ChangePassword(t.Context(), u.ID, crashPassword(userID, n), sess2, nil)
				must("change password", err)
				ack("password", userID, strconv.Itoa(n))
			}
		}
		if i%7 == 3 {
			_, err = s.SetStatus(t.Context(), u.ID, cqrs.StatusDisabled)
			must("disable", err)
			ack("disable", userID, "-")
		}
		if i%2 == 1 {
			subject := fmt.Sprintf("Notice-%d-%d", round, i)
			n, err := s.Broadcast(t.Context(), org.ID, "Admin", subject, "Practice meeting at noon.")
			must("broadcast", err)
			ack("broadcast", subject, fmt.Sprintf("%d:%d", org.ID, n))
		}
	}
}

func crashHash(kind, userID string) []byte {
	h := make([]byte, 32)
	copy(h, kind+"|"+userID)
	return h
}

func crashPassword(userID string, n int) string {
	return fmt.Sprintf("$argon2id$crash$%s$%d", userID, n)
}

func passwordNumber(hash string) int {
	n, err := strconv.Atoi(hash[strings.LastIndexByte(hash, '$')+1:])
	if err != nil {
		return -1
	}
	return n
}

// checkAcked asserts every acknowledged operation is in the file. Each
// check holds for the rest of the child's script, so a later operation that
// committed without its acknowledgement cannot undo it.
func checkAcked(t *testing.T, s *Store, round int, acks []crashAck) {
	t.Helper()
	orgs := map[string]bool{}
	messages := map[string]int{}  // by subject
	welcomed := map[uint64]bool{} // users with the first sign-in's message
	registrationEmail := map[uint64]bool{}
	lockEmail := map[uint64]bool{} // users with a queued unlock email
	audit := map[string]int{}      // "type subject"
	err := s.db.View(func(tx *bolt.Tx) error {
		each := func(name []byte, v any, f func()) {
			b := tx.Bucket(name)
			b.ForEach(func(k, _ []byte) error {
				if err := getJSON(b, k, v); err != nil {
					t.Errorf("%s %x: %v", name, k, err)
				}
				f()
				return nil
			})
		}
		var o cqrs.Organisation
		each(bucketOrgs, &o, func() { orgs[o.ODSCode] = true })
		var m cqrs.Message
		each(bucketMessages, &m, func() {
			messages[m.Subject]++
			if m.Subject == cqrs.WelcomeSubject {
				welcomed[m.UserID] = true
			}
		})
		var e cqrs.Email
		each(bucketOutbox, &e, func() {
			registrationEmail[e.UserID] = registrationEmail[e.UserID] || e.Kind == "registration"
			lockEmail[e.UserID] = lockEmail[e.UserID] || e.Kind == "lockout"
		})
		var ev cqrs.AuditEvent
		each(bucketAudit, &ev, func() { audit[ev.Type+" "+ev.Subject]++ })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]crashAck{} // each user's last acknowledged step
	for _, a := range acks {
		if a.op != "org" && a.op != "broadcast" {
			last[a.user] = a
		}
		fail := func(format string, args ...any) {
			t.Errorf("round %d: acknowledged %s %s %s (round %d): %s", round, a.op, a.user, a.arg, a.round, fmt.Sprintf(format, args...))
		}
		if a.op == "org" {
			if !orgs[a.user] {
				fail("organisation missing")
			}
			continue
		}
		if a.op == "broadcast" {
			var orgID uint64
			var n int
			fmt.Sscanf(a.arg, "%d:%d", &orgID, &n)
			if got := messages[a.user]; got != n {
				fail("%d messages, want %d", got, n)
			}
			continue
		}
		u, err := s.UserByUserID(t.Context(), a.user)
		if err != nil {
			fail("user: %v", err)
			continue
		}
		switch a.op {
		case "create":
			if id, _ := strconv.ParseUint(a.arg, 10, 64); u.ID != id {
				fail("record ID %d, want %s", u.ID, a.arg)
			}
			if !registrationEmail[u.ID] {
				fail("no registration email")
			}
		case "register":
			if u.PasswordHash == "" || u.Status == cqrs.StatusInvited {
				fail("not registered: %+v", u)
			}
		case "signin":
			if u.LastSignIn.IsZero() || !welcomed[u.ID] {
				fail("sign-in not recorded (last sign-in %v, welcome %v)", u.LastSignIn, welcomed[u.ID])
			}
		case "fail":
			n, _ := strconv.Atoi(a.arg)
			if got := audit[cqrs.AuditSignInFailed+" "+a.user]; got < n {
				fail("%d failures in the audit log", got)
			}
			if n == crashLockout && audit[cqrs.AuditLockout+" "+a.user] != 1 {
				fail("%d lockouts in the audit log, want 1", audit[cqrs.AuditLockout+" "+a.user])
			}
			if n == crashLockout && !lockEmail[u.ID] {
				fail("locked without its unlock email")
			}
		case "unlock", "signin2", "password", "disable":
			// Nothing after these locks the account again.
			if !u.LockedAt.IsZero() || u.FailedSignIns != 0 {
				fail("still locked: failures %d, locked at %v", u.FailedSignIns, u.LockedAt)
			}
		}
		if a.op == "password" {
			n, _ := strconv.Atoi(a.arg)
			if got := passwordNumber(u.PasswordHash); got < n {
				fail("current password is #%d", got)
			}
		}
		if a.op == "disable" && u.Status != cqrs.StatusDisabled {
			fail("status %s", u.Status)
		}
	}
	// The last acknowledged step's session is still there, unless a step
	// that ends sessions (disable) followed, acknowledged or not.
	for userID, a := range last {
		if a.op != "signin2" && a.op != "password" {
			continue
		}
		_, u, err := s.Session(t.Context(), crashHash("session-2", userID), 24*time.Hour, 24*time.Hour)
		if err != nil {
			if uu, _ := s.UserByUserID(t.Context(), userID); uu.Status == cqrs.StatusDisabled {
				continue
			}
			t.Errorf("round %d: %s's session after %s: %v", round, userID, a.op, err)
		} else if u.UserID != userID {
			t.Errorf("round %d: session of %s returned %s", round, userID, u.UserID)
		}
	}
}

// checkInvariants walks the whole file for the rules the domain promises.
func checkInvariants(t *testing.T, s *Store, round int) {
	t.Helper()
	fail := func(format string, args ...any) { t.Errorf("round %d: %s", round, fmt.Sprintf(format, args...)) }
	users := map[uint64]cqrs.User{}
	var sessions [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if err := b.ForEach(func(k, v []byte) error {
			var u cqrs.User
			if err := getJSON(b, k, &u); err != nil {
				return fmt.Errorf("user %x: %w", k, err)
			}
			if u.ID != bytesToID(k) {
				fail("user record %x holds ID %d", k, u.ID)
			}
			users[u.ID] = u
			return nil
		}); err != nil {
			return err
		}
		// Each unique index names every user exactly once, under its folded value.
		for _, idx := range []struct {
			bucket []byte
			key    func(cqrs.User) string
		}{{bucketUsersByID, func(u cqrs.User) string { return u.UserID }}, {bucketUsersByEmail, func(u cqrs.User) string { return u.Email }}} {
			seen := map[uint64]bool{}
			tx.Bucket(idx.bucket).ForEach(func(k, v []byte) error {
				id := bytesToID(v)
				u, ok := users[id]
				switch {
				case !ok:
					fail("%s %q points at missing user %d", idx.bucket, k, id)
				case string(k) != strings.ToLower(idx.key(u)):
					fail("%s %q points at user %d (%q)", idx.bucket, k, id, idx.key(u))
				case seen[id]:
					fail("%s names user %d twice", idx.bucket, id)
				}
				seen[id] = true
				return nil
			})
			if len(seen) != len(users) {
				fail("%s has %d entries for %d users", idx.bucket, len(seen), len(users))
			}
		}
		// A used registration link iff a password.
		usedLink := map[uint64]bool{}
		links := tx.Bucket(bucketLinks)
		links.ForEach(func(k, v []byte) error {
			var l cqrs.Link
			if err := getJSON(links, k, &l); err != nil {
				fail("link %x: %v", k, err)
			}
			if _, ok := users[l.UserID]; !ok {
				fail("link %x for missing user %d", k, l.UserID)
			}
			if l.Purpose == cqrs.LinkRegister && !l.Used.IsZero() {
				usedLink[l.UserID] = true
			}
			return nil
		})
		registrationEmail := map[uint64]bool{}
		outbox := tx.Bucket(bucketOutbox)
		outbox.ForEach(func(k, v []byte) error {
			var e cqrs.Email
			if err := getJSON(outbox, k, &e); err != nil {
				fail("email %x: %v", k, err)
			}
			if e.Kind == "registration" && e.Status == cqrs.EmailQueued {
				registrationEmail[e.UserID] = true
			}
			return nil
		})
		for id, u := range users {
			if (u.PasswordHash != "") != usedLink[id] {
				fail("user %s: password set %v, registration link used %v", u.UserID, u.PasswordHash != "", usedLink[id])
			}
			history, err := passwordHistory(tx, id)
			if err != nil {
				fail("user %s: history: %v", u.UserID, err)
			}
			if len(history) > cqrs.HistoryDepth {
				fail("user %s keeps %d old passwords", u.UserID, len(history))
			}
			if n := passwordNumber(u.PasswordHash); n > 0 && len(history) != min(n, cqrs.HistoryDepth) {
				fail("user %s: password #%d with %d in its history", u.UserID, n, len(history))
			}
			if u.Status == cqrs.StatusInvited && !registrationEmail[id] {
				fail("invited user %s has no queued registration email", u.UserID)
			}
			if u.Status == cqrs.StatusActive && u.PasswordHash == "" {
				fail("active user %s has no password", u.UserID)
			}
		}
		sb := tx.Bucket(bucketSessions)
		sb.ForEach(func(k, v []byte) error {
			var sess cqrs.Session
			if err := getJSON(sb, k, &sess); err != nil {
				fail("session %x: %v", k, err)
			}
			u, ok := users[sess.UserID]
			switch {
			case !ok:
				fail("session %x of missing user %d", k, sess.UserID)
			case u.Status == cqrs.StatusDisabled:
				fail("session %x of disabled user %s survived the disabling", k, u.UserID)
			}
			sessions = append(sessions, bytes.Clone(k))
			return nil
		})
		mb := tx.Bucket(bucketMessages)
		mb.ForEach(func(k, v []byte) error {
			if _, ok := users[bytesToID(k[:8])]; !ok {
				fail("message %x for a missing user", k)
			}
			return nil
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Sessions may outlive a lockout in the file, but Session never hands
	// one out for an account that may not sign in.
	for _, h := range sessions {
		_, u, err := s.Session(t.Context(), h, 24*time.Hour, 24*time.Hour)
		if err == nil && (u.Status != cqrs.StatusActive || !u.LockedAt.IsZero()) {
			fail("Session returned %s (status %s, locked %v)", u.UserID, u.Status, !u.LockedAt.IsZero())
		}
	}
}

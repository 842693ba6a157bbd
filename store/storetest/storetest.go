// Package storetest is the contract every storage engine keeps: one suite
// of tests, written against the domain types only, that each engine runs
// on a real database of its own (bbolt on a temp file, PostgreSQL on a test
// database). An engine that passes it can stand behind the handlers.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/clock/clocktest"
	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/storage"
)

// Engine is what the contract exercises: the interface the app reaches its
// database through (storage.Engine, every method of which has cases here:
// TestEveryMethodHasCases), and the schema version for the migration case.
type Engine interface {
	storage.Engine
	Schema(ctx context.Context) (uint64, error)
}

// Training is an engine's training side, for the engines that have one.
type Training interface {
	ResetTraining(ctx context.Context, set cqrs.TrainingSet, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) error
	SaveSnapshot(ctx context.Context, name string) error
	RestoreSnapshot(ctx context.Context, name string, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) (time.Duration, error)
	Snapshots(ctx context.Context) ([]cqrs.Snapshot, error)
}

// Config is how the suite reaches an engine.
type Config struct {
	// Open makes an empty database reading the clock now, closed when t
	// ends.
	Open func(t *testing.T, now func() time.Time) Engine
	// Reopen closes e and opens its database again, as a restart does.
	Reopen func(t *testing.T, e Engine) Engine
	// Schema is the version this binary's migrations bring a database to.
	Schema uint64
	// Training is e's training side; nil for an engine without one.
	Training func(e Engine) Training
}

// env is one test's engine with its clock and an organisation.
type env struct {
	t     *testing.T
	e     Engine
	clock *clocktest.Clock
	org   cqrs.Organisation
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	clk := clocktest.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	e := cfg.Open(t, clk.Now)
	org, err := e.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "A81001"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, e: e, clock: clk, org: org}
}

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// invite creates an invited user whose registration link is the hash of
// "link:"+userID, lasting a day.
func (v *env) invite(userID string) cqrs.User {
	v.t.Helper()
	u, err := v.e.CreateUser(v.t.Context(), cqrs.User{UserID: userID, FirstName: "Sam", LastName: "Patel", Email: userID + "@nhs.net",
		OrgID: v.org.ID, Role: cqrs.RoleUser}, hash("link:"+userID), 24*time.Hour, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	return u
}

// active is an invited user who has set password hash "hash:"+userID.
func (v *env) active(userID string) cqrs.User {
	v.t.Helper()
	v.invite(userID)
	u, err := v.e.SetPasswordWithLink(v.t.Context(), hash("link:"+userID), cqrs.LinkRegister, "hash:"+userID, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	return u
}

func (v *env) count(f cqrs.AuditFilter) int {
	v.t.Helper()
	_, n, err := v.e.AuditEvents(v.t.Context(), f)
	if err != nil {
		v.t.Fatal(err)
	}
	return n
}

// Case is one contract case: what it checks, the methods of
// storage.Engine whose behaviour it pins down, and the test.
type Case struct {
	Name   string
	Covers []string
	Run    func(t *testing.T, cfg Config)
}

// cases are the contract, in the order registered. Each file of cases
// registers its own from an init function, so the cases of a new store
// method are a new file.
var cases []Case

func register(cs ...Case) { cases = append(cases, cs...) }

// Run runs the contract against the engine cfg opens.
func Run(t *testing.T, cfg Config) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { c.Run(t, cfg) })
	}
}

func init() {
	register(
		Case{"users", []string{"CreateOrganisation", "CreateUser", "User", "UserByUserID", "UserByEmail", "UpdateUser", "ListUsers", "SetStatus"}, testUsers},
		Case{"links are single-use under concurrency", []string{"LinkUser", "SetPasswordWithLink"}, testLinksSingleUse},
		Case{"lockout counter under concurrency", []string{"LegacySignIn", "Emails"}, testLockout},
		Case{"sessions and expiry", []string{"SignedIn", "Session", "DeleteSession", "DeleteExpiredSessions"}, testSessions},
		Case{"outbox claims each email once", []string{"ClaimDueEmails", "MarkEmailSent"}, testOutbox},
		Case{"audit", []string{"Audit", "AuditEvents"}, testAudit},
		Case{"migrations", []string{"Close"}, testMigrations},
		Case{"set-up is used once", []string{"HasUsers", "SetSetupToken", "SetupPending", "CompleteSetup"}, testSetup},
		Case{"messages", []string{"Messages", "OpenMessage", "DeleteMessage", "Broadcast", "HeaderInfo", "Inbox"}, testMessages},
		Case{"single sign-on requests and the simulator's state are used once", []string{"PutSSOPending", "TakeSSOPending", "SSOStateUsed", "UpdateNHSmailState", "ViewNHSmailState"}, testOnce},
		Case{"a small site's own settings", []string{"SystemAdminLink", "HelpDesk", "SetHelpDesk"}, testSite},
		Case{"NHSmail access tokens end with their application or account", []string{"SetNHSmailPassword", "SetNHSmailFlags", "DeleteNHSmailApplication"}, testNHSmailTokens},
		Case{"a change of role ends sessions, a change of email tells the old address", []string{"EditUser", "RotateSession"}, testPrivilegeChanges},
		Case{"the NHSmail simulator's second step", []string{"SetNHSmailMFA"}, testNHSmailMFA},
		Case{"training reset and snapshots", nil, testTraining}, // the bbolt file's training side (Config.Training)
	)
}

func testUsers(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam := v.invite("Sam.Patel")
	if sam.ID == 0 || sam.Status != cqrs.StatusInvited || sam.InviteExpires.IsZero() {
		t.Fatalf("created = %+v", sam)
	}
	for name, find := range map[string]func() (cqrs.User, error){
		"by id":                func() (cqrs.User, error) { return v.e.User(t.Context(), sam.ID) },
		"by User ID, any case": func() (cqrs.User, error) { return v.e.UserByUserID(t.Context(), "sam.patel") },
		"by email, any case":   func() (cqrs.User, error) { return v.e.UserByEmail(t.Context(), "SAM.PATEL@nhs.net") },
	} {
		if got, err := find(); err != nil || got.ID != sam.ID || got.UserID != "Sam.Patel" {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	if _, err := v.e.UserByUserID(t.Context(), "nobody"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("unknown User ID: %v, want ErrNotFound", err)
	}
	if _, err := v.e.CreateUser(t.Context(), cqrs.User{UserID: "SAM.PATEL", Email: "other@nhs.net", OrgID: v.org.ID, Role: cqrs.RoleUser}, hash("x"), time.Hour, nil); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("same User ID, other case: %v, want ErrConflict", err)
	}
	if _, err := v.e.CreateUser(t.Context(), cqrs.User{UserID: "other", Email: "Sam.Patel@NHS.net", OrgID: v.org.ID, Role: cqrs.RoleUser}, hash("y"), time.Hour, nil); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("same email, other case: %v, want ErrConflict", err)
	}
	if _, err := v.e.UserByUserID(t.Context(), "other"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a refused user was kept: %v", err)
	}

	edited := sam
	edited.FirstName, edited.Email, edited.Role = "Samuel", "samuel.patel@nhs.net", cqrs.RoleUserAdmin
	if _, err := v.e.UpdateUser(t.Context(), edited); err != nil {
		t.Fatal(err)
	}
	if got, err := v.e.UserByEmail(t.Context(), "samuel.patel@nhs.net"); err != nil || got.FirstName != "Samuel" || got.Role != cqrs.RoleUserAdmin {
		t.Errorf("after edit: %+v, %v", got, err)
	}
	if _, err := v.e.UserByEmail(t.Context(), "sam.patel@nhs.net"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("the old email still finds the user: %v", err)
	}
	v.invite("jo.bloggs")
	if _, err := v.e.UpdateUser(t.Context(), cqrs.User{ID: sam.ID, UserID: sam.UserID, Email: "jo.bloggs@nhs.net", OrgID: v.org.ID, Role: cqrs.RoleUser}); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("edit to a taken email: %v, want ErrConflict", err)
	}

	users, total, err := v.e.ListUsers(t.Context(), cqrs.UserFilter{OrgID: v.org.ID, Limit: 10})
	if err != nil || total != 2 || len(users) != 2 {
		t.Fatalf("list: %d users of %d, %v", len(users), total, err)
	}
	if _, total, _ := v.e.ListUsers(t.Context(), cqrs.UserFilter{Query: "jo.b", Limit: 10}); total != 1 {
		t.Errorf("search found %d, want 1", total)
	}
	if u, err := v.e.SetStatus(t.Context(), sam.ID, cqrs.StatusDisabled); err != nil || u.State() != cqrs.StateDisabled {
		t.Errorf("disable: %+v, %v", u, err)
	}
}

func testLinksSingleUse(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam := v.invite("sam.patel")
	if _, u, err := v.e.LinkUser(t.Context(), hash("link:sam.patel"), cqrs.LinkRegister); err != nil || u.ID != sam.ID {
		t.Fatalf("link: %+v, %v", u, err)
	}
	if _, _, err := v.e.LinkUser(t.Context(), hash("link:sam.patel"), cqrs.LinkReset); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("a registration link used as a reset link: %v, want ErrNotFound", err)
	}

	const tries = 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, gone int
	)
	for i := range tries {
		wg.Go(func() {
			_, err := v.e.SetPasswordWithLink(t.Context(), hash("link:sam.patel"), cqrs.LinkRegister, fmt.Sprint("hash", i), nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, cqrs.ErrNotFound):
				gone++
			default:
				t.Errorf("use %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || gone != tries-1 {
		t.Fatalf("%d uses succeeded and %d were refused, want 1 and %d", ok, gone, tries-1)
	}
	if u, _ := v.e.User(t.Context(), sam.ID); u.Status != cqrs.StatusActive || u.PasswordHash == "" {
		t.Errorf("after the link: %+v", u)
	}

	v.invite("jo.bloggs")
	v.clock.Advance(24 * time.Hour)
	if _, _, err := v.e.LinkUser(t.Context(), hash("link:jo.bloggs"), cqrs.LinkRegister); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("a link at its expiry: %v, want ErrExpired", err)
	}
	if _, err := v.e.SetPasswordWithLink(t.Context(), hash("link:jo.bloggs"), cqrs.LinkRegister, "h", nil); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("an expired link set a password: %v", err)
	}
}

func testLockout(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam := v.active("sam.patel")
	const lockAfter, tries = 5, 20
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		locked int
	)
	for i := range tries {
		wg.Go(func() {
			res, err := v.e.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: "sam.patel", CheckedHash: sam.PasswordHash, PasswordOK: false,
				LockAfter: lockAfter, SessionHash: hash(fmt.Sprint("s", i)), IP: "192.0.2.1", Method: "legacy", LinkTTL: time.Hour,
				LockNotice: func(u cqrs.User, expires time.Time) (cqrs.Email, []byte) {
					return cqrs.Email{Kind: "unlock", ToName: u.FullName(), To: u.Email, Subject: "Your CQRS account is locked", Text: "unlock"}, hash("unlock")
				}})
			if err != nil {
				t.Errorf("attempt %d: %v", i, err)
				return
			}
			if res.SignedIn {
				t.Errorf("attempt %d signed in with a wrong password", i)
			}
			if res.LockedNow {
				mu.Lock()
				locked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	u, err := v.e.User(t.Context(), sam.ID)
	if err != nil {
		t.Fatal(err)
	}
	if locked != 1 || u.LockedAt.IsZero() || u.FailedSignIns != lockAfter {
		t.Fatalf("locked by %d attempts; failures %d, locked at %v; want 1 and %d", locked, u.FailedSignIns, u.LockedAt, lockAfter)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditLockout}); n != 1 {
		t.Errorf("%d lockout entries, want 1", n)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditSignInFailed}); n != lockAfter {
		t.Errorf("%d failure entries, want %d", n, lockAfter)
	}
	if n := v.count(cqrs.AuditFilter{Type: cqrs.AuditSignInLocked}); n != tries-lockAfter {
		t.Errorf("%d refused-while-locked entries, want %d", n, tries-lockAfter)
	}
	if emails, _ := v.e.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID}); len(emails) != 1 {
		t.Errorf("%d unlock emails queued, want 1", len(emails))
	}
	res, err := v.e.LegacySignIn(t.Context(), cqrs.SignInAttempt{UserID: "sam.patel", CheckedHash: u.PasswordHash, PasswordOK: true, LockAfter: lockAfter, SessionHash: hash("right")})
	if err != nil || res.SignedIn {
		t.Errorf("the right password on a locked account: %+v, %v", res, err)
	}
	if _, err := v.e.SetPasswordWithLink(t.Context(), hash("unlock"), cqrs.LinkReset, "new", nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := v.e.User(t.Context(), sam.ID); !u.LockedAt.IsZero() || u.FailedSignIns != 0 {
		t.Errorf("the unlock link left %+v", u)
	}
}

func testSessions(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam := v.active("sam.patel")
	const idle, absolute = 30 * time.Minute, 12 * time.Hour
	if _, err := v.e.SignedIn(t.Context(), sam.ID, hash("first"), nil); err != nil {
		t.Fatal(err)
	}
	if _, u, err := v.e.Session(t.Context(), hash("first"), idle, absolute); err != nil || u.ID != sam.ID {
		t.Fatalf("session: %+v, %v", u, err)
	}
	if _, err := v.e.SignedIn(t.Context(), sam.ID, hash("second"), hash("first")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.e.Session(t.Context(), hash("first"), idle, absolute); err == nil {
		t.Error("the replaced session still works")
	}
	for i := 0; i < 4; i++ { // activity keeps it alive past one idle period
		v.clock.Advance(idle - time.Minute)
		if _, _, err := v.e.Session(t.Context(), hash("second"), idle, absolute); err != nil {
			t.Fatalf("active session after %d periods: %v", i+1, err)
		}
	}
	v.clock.Advance(idle)
	if _, _, err := v.e.Session(t.Context(), hash("second"), idle, absolute); !errors.Is(err, cqrs.ErrExpired) {
		t.Errorf("idle session: %v, want ErrExpired", err)
	}

	if _, err := v.e.SignedIn(t.Context(), sam.ID, hash("third"), nil); err != nil {
		t.Fatal(err)
	}
	if err := v.e.DeleteSession(t.Context(), hash("third"), cqrs.AuditEvent{Type: "sign-out", Subject: sam.UserID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.e.Session(t.Context(), hash("third"), idle, absolute); err == nil {
		t.Error("a signed-out session still works")
	}
	if n := v.count(cqrs.AuditFilter{Type: "sign-out"}); n != 1 {
		t.Errorf("%d sign-out entries, want 1", n)
	}

	if _, err := v.e.SignedIn(t.Context(), sam.ID, hash("old"), nil); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(idle)
	if _, err := v.e.SignedIn(t.Context(), sam.ID, hash("new"), nil); err != nil {
		t.Fatal(err)
	}
	if n, err := v.e.DeleteExpiredSessions(t.Context(), idle, absolute); err != nil || n != 1 {
		t.Errorf("swept %d, %v; want 1", n, err)
	}
	if _, _, err := v.e.Session(t.Context(), hash("new"), idle, absolute); err != nil {
		t.Errorf("the sweep took a live session: %v", err)
	}
	if _, err := v.e.SetStatus(t.Context(), sam.ID, cqrs.StatusDisabled); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.e.Session(t.Context(), hash("new"), idle, absolute); err == nil {
		t.Error("a disabled account's session still works")
	}
}

func testOutbox(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	const emails = 30
	for i := range emails {
		if _, err := v.e.CreateUser(t.Context(), cqrs.User{UserID: fmt.Sprint("user", i), Email: fmt.Sprint("user", i, "@nhs.net"), OrgID: v.org.ID, Role: cqrs.RoleUser},
			hash(fmt.Sprint("l", i)), time.Hour, &cqrs.Email{Kind: "registration", To: fmt.Sprint("user", i, "@nhs.net"), Subject: "Welcome", Text: "hello"}); err != nil {
			t.Fatal(err)
		}
	}
	const lease = time.Minute
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed = map[uint64]int{}
	)
	for range 6 { // six senders at once, as from several instances
		wg.Go(func() {
			for {
				batch, err := v.e.ClaimDueEmails(t.Context(), 4, lease)
				if err != nil {
					t.Error(err)
					return
				}
				if len(batch) == 0 {
					return
				}
				mu.Lock()
				for _, e := range batch {
					claimed[e.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != emails {
		t.Fatalf("%d emails claimed, want %d", len(claimed), emails)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("email %d claimed %d times", id, n)
		}
	}
	var first uint64
	for id := range claimed {
		first = id
		break
	}
	if err := v.e.MarkEmailSent(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(lease)
	again, err := v.e.ClaimDueEmails(t.Context(), emails, lease)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != emails-1 {
		t.Errorf("after the lease, %d claimed again; want the %d not marked sent", len(again), emails-1)
	}
	for _, e := range again {
		if e.ID == first {
			t.Error("a sent email was claimed again")
		}
	}
}

func testAudit(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	if err := v.e.Audit(t.Context(), cqrs.AuditEvent{Type: "link-refused", Subject: "someone", IP: "192.0.2.9", Detail: "expired"}); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(time.Minute)
	created := cqrs.AuditEvent{Type: "user-created", Actor: "admin.jones", IP: "192.0.2.1"}
	sam, err := v.e.CreateUser(t.Context(), cqrs.User{UserID: "sam.patel", Email: "sam@nhs.net", OrgID: v.org.ID, Role: cqrs.RoleUser}, hash("l"), time.Hour, nil, created)
	if err != nil {
		t.Fatal(err)
	}
	// The same change refused: nothing is made and nothing is recorded.
	if _, err := v.e.CreateUser(t.Context(), cqrs.User{UserID: "SAM.PATEL", Email: "x@nhs.net", OrgID: v.org.ID, Role: cqrs.RoleUser}, hash("m"), time.Hour, nil, created); !errors.Is(err, cqrs.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	events, n, err := v.e.AuditEvents(t.Context(), cqrs.AuditFilter{})
	if err != nil || n != 2 || len(events) != 2 {
		t.Fatalf("%d events (%d listed), %v; want 2", n, len(events), err)
	}
	got := events[0] // newest first
	if got.Type != "user-created" || got.Subject != sam.UserID || got.OrgID != v.org.ID || got.Actor != "admin.jones" || !got.Time.Equal(v.clock.Now()) || got.ID == 0 {
		t.Errorf("recorded with the change: %+v (the subject is the changed user)", got)
	}
	if events[1].Type != "link-refused" || events[1].IP != "192.0.2.9" {
		t.Errorf("older entry: %+v", events[1])
	}
	if n := v.count(cqrs.AuditFilter{Subject: "SAM.PATEL"}); n != 1 {
		t.Errorf("by subject, any case: %d, want 1", n)
	}
	if n := v.count(cqrs.AuditFilter{OrgID: v.org.ID}); n != 1 {
		t.Errorf("by organisation: %d, want 1", n)
	}
	if n := v.count(cqrs.AuditFilter{From: v.clock.Now()}); n != 1 {
		t.Errorf("from a time: %d, want 1", n)
	}
	if page, n, _ := v.e.AuditEvents(t.Context(), cqrs.AuditFilter{Offset: 1, Limit: 1}); n != 2 || len(page) != 1 || page[0].Type != "link-refused" {
		t.Errorf("second page: %+v of %d", page, n)
	}
}

func testMigrations(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	if got, err := v.e.Schema(t.Context()); err != nil || got != cfg.Schema {
		t.Fatalf("schema %d, %v; want %d", got, err, cfg.Schema)
	}
	sam := v.active("sam.patel")
	again := cfg.Reopen(t, v.e)
	if got, err := again.Schema(t.Context()); err != nil || got != cfg.Schema {
		t.Errorf("reopened: schema %d, %v; want %d", got, err, cfg.Schema)
	}
	if u, err := again.UserByUserID(t.Context(), "sam.patel"); err != nil || u.ID != sam.ID || u.PasswordHash != sam.PasswordHash {
		t.Errorf("reopened: %+v, %v", u, err)
	}
}

func testTraining(t *testing.T, cfg Config) {
	if cfg.Training == nil {
		t.Skip("this engine has no training mode")
	}
	v := newEnv(t, cfg)
	tr := cfg.Training(v.e)
	set := cqrs.TrainingSet{Org: cqrs.Organisation{Name: "Riverside Practice (training)", ODSCode: "T81001"},
		Users: []cqrs.TrainingUser{{User: cqrs.User{UserID: "trainer", Email: "trainer@nhs.net", Role: cqrs.RoleSystemAdmin, Status: cqrs.StatusActive, PasswordHash: "h"}}}}
	if err := tr.ResetTraining(t.Context(), set, nil, cqrs.AuditEvent{Type: "training-reset"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.UserByUserID(t.Context(), "trainer"); err != nil {
		t.Fatalf("after reset: %v", err)
	}
	if err := tr.SaveSnapshot(t.Context(), "before learners"); err != nil {
		t.Fatal(err)
	}
	if err := tr.SaveSnapshot(t.Context(), "../escape"); !errors.Is(err, cqrs.ErrSnapshotName) {
		t.Errorf("a path as a name: %v, want ErrSnapshotName", err)
	}
	org, err := v.e.UserByUserID(t.Context(), "trainer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.CreateUser(t.Context(), cqrs.User{UserID: "learner01", Email: "l1@nhs.net", OrgID: org.OrgID, Role: cqrs.RoleUser}, hash("l1"), time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if snaps, err := tr.Snapshots(t.Context()); err != nil || len(snaps) != 1 || snaps[0].Name != "before learners" {
		t.Fatalf("snapshots: %+v, %v", snaps, err)
	}
	if _, err := tr.RestoreSnapshot(t.Context(), "before learners", nil, cqrs.AuditEvent{Type: "training-restore"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.UserByUserID(t.Context(), "learner01"); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("after restore the later user remains: %v", err)
	}
	if n := v.count(cqrs.AuditFilter{Type: "training-restore"}); n != 1 {
		t.Errorf("%d restore entries, want 1 (the audit log survives a restore)", n)
	}
	if err := tr.ResetTraining(t.Context(), set, nil, cqrs.AuditEvent{Type: "training-reset"}); err != nil {
		t.Fatal(err)
	}
	if users, total, _ := v.e.ListUsers(t.Context(), cqrs.UserFilter{Limit: 10}); total != 1 || users[0].UserID != "trainer" {
		t.Errorf("after a second reset: %d users", total)
	}
}

func testSetup(t *testing.T, cfg Config) {
	clk := clocktest.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	e := cfg.Open(t, clk.Now)
	// Two tokens, as two instances starting together make: either works, once.
	for _, tok := range []string{"setup-a", "setup-b"} {
		if err := e.SetSetupToken(t.Context(), hash(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if !e.SetupPending(t.Context(), hash("setup-b")) || e.SetupPending(t.Context(), hash("setup-c")) {
		t.Fatal("pending set-up tokens are not told apart")
	}
	const tries = 8
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for i := range tries {
		wg.Go(func() {
			tok := []string{"setup-a", "setup-b"}[i%2]
			_, err := e.CompleteSetup(t.Context(), hash(tok), cqrs.Organisation{Name: "Riverside Practice", ODSCode: fmt.Sprint("Y1234", i)},
				cqrs.User{UserID: fmt.Sprint("admin", i), Email: fmt.Sprint("admin", i, "@nhs.net")}, hash(fmt.Sprint("link", i)), time.Hour,
				cqrs.AuditEvent{Type: "setup-used"})
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, cqrs.ErrNotFound) && !errors.Is(err, cqrs.ErrConflict) {
				t.Errorf("set-up %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d set-ups succeeded, want 1", ok)
	}
	if _, total, _ := e.ListUsers(t.Context(), cqrs.UserFilter{Limit: 10}); total != 1 {
		t.Errorf("%d users after set-up, want 1", total)
	}
	if any, _ := e.HasUsers(t.Context()); !any || e.SetupPending(t.Context(), hash("setup-a")) || e.SetupPending(t.Context(), hash("setup-b")) {
		t.Error("a set-up token outlived the set-up")
	}
	if err := e.SetSetupToken(t.Context(), hash("late")); !errors.Is(err, cqrs.ErrConflict) {
		t.Errorf("a set-up token after set-up: %v, want ErrConflict", err)
	}
	if _, n, _ := e.AuditEvents(t.Context(), cqrs.AuditFilter{Type: "setup-used"}); n != 1 {
		t.Errorf("%d set-up entries, want 1", n)
	}
}

func testMessages(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	sam, jo := v.active("sam.patel"), v.active("jo.bloggs")
	if _, err := v.e.SignedIn(t.Context(), sam.ID, hash("s"), nil); err != nil {
		t.Fatal(err)
	}
	msgs, unread, err := v.e.Messages(t.Context(), sam.ID)
	if err != nil || len(msgs) != 1 || unread != 1 || msgs[0].Subject != cqrs.WelcomeSubject {
		t.Fatalf("after the first sign-in: %+v, %d unread, %v", msgs, unread, err)
	}
	if _, err := v.e.SignedIn(t.Context(), sam.ID, hash("t"), nil); err != nil {
		t.Fatal(err)
	}
	if n, err := v.e.Broadcast(t.Context(), v.org.ID, "Practice", "Closed Friday", "The practice is closed."); err != nil || n != 2 {
		t.Fatalf("broadcast to %d, %v; want 2", n, err)
	}
	msgs, unread, _ = v.e.Messages(t.Context(), sam.ID)
	if len(msgs) != 2 || unread != 2 || msgs[0].Subject != "Closed Friday" {
		t.Fatalf("newest first, one welcome only: %+v, %d unread", msgs, unread)
	}
	if _, err := v.e.OpenMessage(t.Context(), jo.ID, msgs[0].ID); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("another user's message opened: %v", err)
	}
	if m, err := v.e.OpenMessage(t.Context(), sam.ID, msgs[0].ID); err != nil || !m.Read {
		t.Errorf("open: %+v, %v", m, err)
	}
	if org, unread, err := v.e.HeaderInfo(t.Context(), sam.ID, v.org.ID); err != nil || unread != 1 || org.Name != v.org.Name {
		t.Errorf("header: %+v, %d unread, %v", org, unread, err)
	}
	// Read again after the change: a decoded copy kept from the first read
	// must not be served.
	if again, unread, err := v.e.Messages(t.Context(), sam.ID); err != nil || unread != 1 || !again[0].Read || again[1].Read {
		t.Errorf("after opening: %+v, %d unread, %v", again, unread, err)
	}
	// The message centre's one read: the same messages, the header's
	// organisation and count.
	in, err := v.e.Inbox(t.Context(), sam.ID, v.org.ID)
	if err != nil || in.Organisation != v.org || in.Unread != 1 || len(in.Messages) != 2 ||
		in.Messages[0] != (cqrs.Message{ID: msgs[0].ID, UserID: sam.ID, From: "Practice", Subject: "Closed Friday", Body: "The practice is closed.", Sent: msgs[0].Sent, Read: true}) ||
		in.Messages[1].Subject != cqrs.WelcomeSubject || in.Messages[1].Read {
		t.Errorf("inbox: %+v, %v", in, err)
	}
	if in, err := v.e.Inbox(t.Context(), jo.ID, v.org.ID); err != nil || len(in.Messages) != 1 || in.Messages[0].UserID != jo.ID {
		t.Errorf("another user's inbox: %+v, %v", in, err)
	}
	if _, err := v.e.Inbox(t.Context(), sam.ID, v.org.ID+1000); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("inbox with an unknown organisation: %v, want ErrNotFound", err)
	}
	if err := v.e.DeleteMessage(t.Context(), jo.ID, msgs[1].ID); !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("another user's message deleted: %v", err)
	}
	if err := v.e.DeleteMessage(t.Context(), sam.ID, msgs[1].ID); err != nil {
		t.Fatal(err)
	}
	if msgs, _, _ := v.e.Messages(t.Context(), sam.ID); len(msgs) != 1 {
		t.Errorf("%d messages after a delete, want 1", len(msgs))
	}
}

func testOnce(t *testing.T, cfg Config) {
	v := newEnv(t, cfg)
	p := cqrs.SSOPending{Nonce: "n", Verifier: "v", Next: "/messages", Expires: v.clock.Now().Add(10 * time.Minute)}
	if err := v.e.PutSSOPending(t.Context(), hash("state"), p); err != nil {
		t.Fatal(err)
	}
	const tries = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		taken int
	)
	for range tries {
		wg.Go(func() {
			got, err := v.e.TakeSSOPending(t.Context(), hash("state"))
			if err == nil {
				if got.Nonce != "n" || got.Verifier != "v" || got.Next != "/messages" {
					t.Errorf("taken: %+v", got)
				}
				mu.Lock()
				taken++
				mu.Unlock()
			} else if !errors.Is(err, cqrs.ErrNotFound) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if taken != 1 {
		t.Fatalf("a sign-on request taken %d times, want 1", taken)
	}
	if used, err := v.e.SSOStateUsed(t.Context(), hash("state")); err != nil || !used {
		t.Errorf("used: %v, %v", used, err)
	}

	// The simulator's state: a code spent in one transaction, once.
	type code struct{ Request string }
	err := v.e.UpdateNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
		return tx.Put("code", []byte("c1"), code{"r1"}, tx.Now().Add(time.Minute))
	})
	if err != nil {
		t.Fatal(err)
	}
	taken = 0
	for range tries {
		wg.Go(func() {
			err := v.e.UpdateNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
				var c code
				if err := tx.Get("code", []byte("c1"), &c); err != nil {
					return err
				}
				if c.Request != "r1" {
					t.Errorf("code = %+v", c)
				}
				return tx.Delete("code", []byte("c1"))
			})
			if err == nil {
				mu.Lock()
				taken++
				mu.Unlock()
			} else if !errors.Is(err, cqrs.ErrNotFound) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if taken != 1 {
		t.Fatalf("a code spent %d times, want 1", taken)
	}
	err = v.e.UpdateNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
		return tx.Put("code", []byte("c2"), code{"r2"}, tx.Now().Add(time.Minute))
	})
	if err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(time.Minute)
	err = v.e.ViewNHSmailState(t.Context(), func(tx cqrs.NHSmailStateTx) error {
		var c code
		return tx.Get("code", []byte("c2"), &c)
	})
	if !errors.Is(err, cqrs.ErrNotFound) {
		t.Errorf("an expired value: %v, want ErrNotFound", err)
	}
}

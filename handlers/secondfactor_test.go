package handlers

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/clock/clocktest"
	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
)

// secondFactorEnv is an app with --second-factor set to policy, the
// authenticator's clock apart from the app's (as a phone's is).
type secondFactorEnv struct {
	*testEnv
	phone *clocktest.Clock
}

func newSecondFactorEnv(t *testing.T, policy cqrs.SecondFactorPolicy, adjust ...func(*Config)) *secondFactorEnv {
	t.Helper()
	phone := clocktest.New(time.Date(2026, 11, 2, 9, 0, 10, 0, time.UTC))
	key := bytes.Repeat([]byte{7}, secret.SealKeyBytes)
	e := newEnv(t, append([]func(*Config){func(c *Config) {
		c.SecondFactor, c.SecondFactorKey, c.AuthenticatorNow = policy, key, phone.Now
	}}, adjust...)...)
	return &secondFactorEnv{testEnv: e, phone: phone}
}

// code is what the authenticator app shows for key at the phone's time
// plus offset.
func (e *secondFactorEnv) code(key string, offset time.Duration) string {
	e.t.Helper()
	c, err := secret.TOTPCode(strings.ReplaceAll(key, " ", ""), e.phone.Now().Add(offset))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// answer posts a code to the second step.
func (c *client) answer(code string) response {
	return c.post(secondFactorPath, url.Values{"code": {code}, "csrf_token": {c.csrf(secondFactorPath)}})
}

// enrol signs userID in for the first time under the setting: the key
// read off the page, the first code, the recovery codes shown.
func (e *secondFactorEnv) enrol(c *client, userID, password string) (key string, recovery []string) {
	e.t.Helper()
	r := c.signIn(userID, password, "")
	wantStatus(e.t, r, 303)
	if got := r.Header.Get("Location"); got != secondFactorPath {
		e.t.Fatalf("after the password: %s, want %s", got, secondFactorPath)
	}
	page := c.get(secondFactorPath)
	wantStatus(e.t, page, 200)
	key = strings.TrimSpace(page.doc(e.t).Find(`[data-testid="second-factor-key"]`).Text())
	if key == "" {
		e.t.Fatalf("no key on the enrolment page:\n%s", excerpt(page.body))
	}
	if again := strings.TrimSpace(c.get(secondFactorPath).doc(e.t).Find(`[data-testid="second-factor-key"]`).Text()); again != key {
		e.t.Fatalf("a reload shows another key: %q, then %q", key, again)
	}
	recovery = c.recoveryCodesShownOnce(e.t, c.answer(e.code(key, 0)))
	return key, recovery
}

// recoveryCodesShownOnce follows the answer of a form that made recovery
// codes: a redirect to the page that shows them, once; reloaded, it shows
// them no more and leads to the account's page.
func (c *client) recoveryCodesShownOnce(t testing.TB, r response) (codes []string) {
	t.Helper()
	wantStatus(t, r, 303)
	if got := r.Header.Get("Location"); got != recoveryCodesPath {
		t.Fatalf("the form that made recovery codes leads to %q, want %q", got, recoveryCodesPath)
	}
	page := c.get(recoveryCodesPath)
	wantStatus(t, page, 200)
	for _, n := range page.doc(t).Find(`[data-testid="recovery-codes"] code`).Nodes {
		codes = append(codes, n.FirstChild.Data)
	}
	if len(codes) != cqrs.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown, want %d", len(codes), cqrs.RecoveryCodeCount)
	}
	reload := c.get(recoveryCodesPath)
	wantStatus(t, reload, 303)
	if got := reload.Header.Get("Location"); got != "/account/second-factor" || strings.Contains(reload.body, codes[0]) {
		t.Errorf("a reload of the recovery codes leads to %q and shows them again: %v", got, strings.Contains(reload.body, codes[0]))
	}
	return codes
}

func TestSecondFactorEnrolThenSignInWithACodeOnce(t *testing.T) {
	e := newSecondFactorEnv(t, cqrs.SecondFactorEveryone)
	admin := e.registeredAdmin()
	e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	c := e.client()
	key, recovery := e.enrol(c, "sam.patel", "Harbour!2026x")
	wantStatus(t, c.get("/messages"), 200)

	// Encrypted at rest: neither the key nor a recovery code is in the
	// database in any form a reader could use.
	db := e.dbBytes()
	for _, s := range append([]string{strings.ReplaceAll(key, " ", "")}, recovery...) {
		if bytes.Contains(db, []byte(s)) || bytes.Contains(db, []byte(strings.ReplaceAll(s, "-", ""))) {
			t.Errorf("the database holds %q in clear", s)
		}
	}

	wantStatus(t, c.post("/signout", url.Values{"csrf_token": {c.csrf("/messages")}}), 303)
	r := c.signIn("sam.patel", "Harbour!2026x", "")
	if wantStatus(t, r, 303); r.Header.Get("Location") != secondFactorPath {
		t.Fatalf("after the password: %s", r.Header.Get("Location"))
	}
	if got := c.get("/messages"); got.StatusCode != 303 {
		t.Fatalf("signed in before the second factor: /messages answered %d", got.StatusCode)
	}
	// The enrolment's code again: refused, as a wrong one is.
	r = c.answer(e.code(key, 0))
	wantStatus(t, r, 401)
	wantText(t, r, secondFactorFailed)
	wrong := c.answer("000000")
	wantStatus(t, wrong, 401)
	if a, b := r.doc(t).Find("main").Text(), wrong.doc(t).Find("main").Text(); a != b {
		t.Errorf("a used code and a wrong one answer differently:\n%s\n---\n%s", a, b)
	}
	// The next step's code (one step of drift) works, once.
	next := e.code(key, 30*time.Second)
	r = c.answer(next)
	wantStatus(t, r, 303)
	if got := r.Header.Get("Location"); got != "/messages" {
		t.Errorf("signed in to %s", got)
	}
	wantStatus(t, c.get("/messages"), 200)
	other := e.client()
	wantStatus(t, other.signIn("sam.patel", "Harbour!2026x", ""), 303)
	wantStatus(t, other.answer(next), 401)

	// A recovery code works once, and the account page says how many are left.
	wantStatus(t, other.answer(strings.ToLower(recovery[3])), 303)
	left := other.get("/account/second-factor")
	wantText(t, left, "You have 9 recovery codes left")
	third := e.client()
	wantStatus(t, third.signIn("sam.patel", "Harbour!2026x", ""), 303)
	wantStatus(t, third.answer(recovery[3]), 401)

	for typ, want := range map[string]int{cqrs.AuditSecondFactorEnrolled: 1, cqrs.AuditSecondFactorUsed: 1, cqrs.AuditRecoveryCodeUsed: 1,
		cqrs.AuditSecondFactorFailed: 4, cqrs.AuditSecondFactorDue: 4} {
		if _, n, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: typ, Subject: "sam.patel"}); n != want {
			t.Errorf("%s entries = %d, want %d", typ, n, want)
		}
	}
}

func TestSecondFactorCoversOnlyWhomTheSettingSays(t *testing.T) {
	e := newSecondFactorEnv(t, cqrs.SecondFactorAdministrators)
	admin := e.registeredAdmin()
	e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	e.addUserWithRole(admin.OrgID, "org.admin", "Harbour!2026x", cqrs.RoleUserAdmin)
	for userID, want := range map[string]string{"sam.patel": "/messages", "org.admin": secondFactorPath, "admin.jones": secondFactorPath} {
		pw := "Harbour!2026x"
		if userID == "admin.jones" {
			pw = strongPassword
		}
		r := e.client().signIn(userID, pw, "")
		if wantStatus(t, r, 303); r.Header.Get("Location") != want {
			t.Errorf("%s: after the password %s, want %s", userID, r.Header.Get("Location"), want)
		}
	}
}

// TestSecondFactorFailuresCountTowardsTheLockout: wrong codes count as
// wrong passwords do, a right password does not clear them, the lock
// refuses the right code with the same answer, and the owner is emailed.
func TestSecondFactorFailuresCountTowardsTheLockout(t *testing.T) {
	e := newSecondFactorEnv(t, cqrs.SecondFactorEveryone)
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	key, _ := e.enrol(e.client(), "sam.patel", "Harbour!2026x")
	e.phone.Advance(time.Minute)

	c := e.client()
	for range 2 {
		wantStatus(t, c.signIn("sam.patel", "Wrong!Guess01", ""), 401)
	}
	wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
	for i := range 2 {
		wantStatus(t, c.answer(fmt.Sprintf("%06d", i)), 401)
	}
	if u, _ := e.store.User(t.Context(), sam.ID); u.FailedSignIns != 4 || !u.LockedAt.IsZero() {
		t.Fatalf("after 2 wrong passwords, a right one and 2 wrong codes: %d failures, locked %v; want 4, not locked", u.FailedSignIns, u.LockedAt)
	}
	locking := c.answer("999999")
	wantStatus(t, locking, 401)
	if u, _ := e.store.User(t.Context(), sam.ID); u.LockedAt.IsZero() {
		t.Fatal("the fifth failure in a row (a code) did not lock the account")
	}
	e.newestEmail(sam, "lockout")
	right := c.answer(e.code(key, 0))
	wantStatus(t, right, 401)
	if a, b := locking.doc(t).Find("main").Text(), right.doc(t).Find("main").Text(); a != b {
		t.Errorf("the right code on a locked account answers differently:\n%s\n---\n%s", a, b)
	}
	if _, n, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditLockout, Subject: "sam.patel"}); n != 1 {
		t.Errorf("lockout entries = %d, want 1", n)
	}
}

// TestSecondFactorBurstCannotOutrunTheLockout releases many codes at one
// pending sign-in together, the right one among them: the lock holds at
// LockAfter failures in a row, and the right code signs in at most once.
func TestSecondFactorBurstCannotOutrunTheLockout(t *testing.T) {
	e := newSecondFactorEnv(t, cqrs.SecondFactorEveryone, func(c *Config) { c.SignInRateLimit, c.SignInQueueWait = 0, time.Minute })
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	key, _ := e.enrol(e.client(), "sam.patel", "Harbour!2026x")
	e.phone.Advance(time.Minute)
	for round := range 3 {
		if _, err := e.store.Unlock(t.Context(), sam.ID); err != nil {
			t.Fatal(err)
		}
		e.phone.Advance(time.Minute) // a fresh step for the right code
		c := e.client()
		wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
		token := c.csrf(secondFactorPath)
		codes := make([]string, 24)
		for i := range codes {
			codes[i] = fmt.Sprintf("%06d", 100000+i)
		}
		codes[round*9] = e.code(key, 0)
		codes[round*9+1] = e.code(key, 0) // the same code twice: at most one may count
		before := lastAuditID(t, e.store)
		// Every answer carries the cookies as they were before the burst,
		// as an attacker's would: one shared jar would send the session
		// the right code started with the old token, a CSRF refusal.
		burst := make([]*client, len(codes))
		for i := range burst {
			burst[i] = c.replayer(secondFactorPath)
		}
		statuses := make([]int, len(codes))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, code := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i] = burst[i].post(secondFactorPath, url.Values{"code": {code}, "csrf_token": {token}}).StatusCode
			}()
		}
		close(start)
		wg.Wait()
		signedIn := 0
		for i, s := range statuses {
			switch s {
			case 303:
				signedIn++
			case 401, 410: // refused; or the pending sign-in already ended by the right code
			default:
				t.Errorf("round %d: code %q answered %d", round, codes[i], s)
			}
		}
		if signedIn > 1 {
			t.Errorf("round %d: %d answers signed in, want at most 1", round, signedIn)
		}
		events, _, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Subject: "sam.patel"})
		failures, successes := 0, 0
		for i := len(events) - 1; i >= 0; i-- { // oldest first
			switch ev := events[i]; {
			case ev.ID <= before:
			case ev.Type == cqrs.AuditSecondFactorFailed:
				failures++
				if failures > cqrs.RecoveryCodeCount {
					break
				}
			case ev.Type == cqrs.AuditSecondFactorUsed:
				successes++
				if failures >= e.cfg.LockAfter {
					t.Errorf("round %d: a code signed in after %d failures in a row", round, failures)
				}
			}
		}
		if successes != signedIn {
			t.Errorf("round %d: %d answers signed in, %d recorded", round, signedIn, successes)
		}
		if failures > e.cfg.LockAfter {
			t.Errorf("round %d: %d failures counted, the lock is at %d", round, failures, e.cfg.LockAfter)
		}
	}
}

func TestSecondFactorPendingSignInExpires(t *testing.T) {
	e := newSecondFactorEnv(t, cqrs.SecondFactorEveryone)
	e.registeredAdmin()
	c := e.client()
	wantStatus(t, c.signIn("admin.jones", strongPassword, ""), 303)
	wantStatus(t, c.get(secondFactorPath), 200)
	e.clock.Advance(cqrs.PendingSignInLifespan)
	r := c.get(secondFactorPath)
	wantStatus(t, r, 410)
	wantText(t, r, "sign in again from the CQRS Login page")
}

// TestUserAdministratorResetsASecondFactor: the reset is audited and
// emailed; the person enrols again at their next sign-in; the admin's
// pages never show the secret or the codes.
func TestUserAdministratorResetsASecondFactor(t *testing.T) {
	e := newSecondFactorEnv(t, cqrs.SecondFactorEveryone)
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	key, recovery := e.enrol(e.client(), "sam.patel", "Harbour!2026x")
	e.phone.Advance(time.Minute)
	sys := e.client()
	e.enrol(sys, "admin.jones", strongPassword)
	path := fmt.Sprintf("/admin/users/%d", sam.ID)
	detail := sys.get(path)
	wantStatus(t, detail, 200)
	wantText(t, detail, "Reset second step")
	for _, s := range append([]string{key, strings.ReplaceAll(key, " ", "")}, recovery...) {
		if strings.Contains(detail.body, s) {
			t.Errorf("the administrator's page shows %q", s)
		}
	}
	// The page's Reset asks first, on a page of its own; asking resets nothing.
	ask := path + "/second-factor/reset"
	if got := detail.doc(t).Find(`a[href="` + ask + `"]`).Length(); got != 1 {
		t.Errorf("the user's page has %d links to the question before a reset, want 1", got)
	}
	question := sys.get(ask)
	wantStatus(t, question, 200)
	wantText(t, question, "Reset the second step of Sam", "stop working now")
	if st, _ := e.store.SecondFactorStatus(t.Context(), sam.ID); st.Enrolled.IsZero() {
		t.Fatal("asking reset the second step")
	}
	r := sys.post(ask, url.Values{"csrf_token": {sys.csrf(ask)}})
	wantStatus(t, r, 303)
	e.newestEmail(sam, "second-factor-reset")
	if _, n, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditSecondFactorReset, Subject: "sam.patel"}); n != 1 {
		t.Errorf("reset entries = %d, want 1", n)
	}
	c := e.client()
	wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
	page := c.get(secondFactorPath)
	wantText(t, page, "Set up your authenticator app")
	if strings.Contains(page.body, key) {
		t.Error("the old key is offered again after a reset")
	}
	wantStatus(t, c.answer(recovery[0]), 401)
}

func TestNewRecoveryCodesVoidTheOldOnes(t *testing.T) {
	e := newSecondFactorEnv(t, cqrs.SecondFactorEveryone)
	e.registeredAdmin()
	c := e.client()
	_, old := e.enrol(c, "admin.jones", strongPassword)
	fresh := c.recoveryCodesShownOnce(t, c.post("/account/second-factor/recovery-codes", url.Values{"csrf_token": {c.csrf("/account/second-factor")}}))
	other := e.client()
	wantStatus(t, other.signIn("admin.jones", strongPassword, ""), 303)
	wantStatus(t, other.answer(old[0]), 401)
	// Each new code works; the page warns once few are left.
	for i, code := range fresh[:cqrs.RecoveryCodeCount-cqrs.RecoveryCodesLow] {
		b := e.client()
		wantStatus(t, b.signIn("admin.jones", strongPassword, ""), 303)
		wantStatus(t, b.answer(code), 303)
		left := cqrs.RecoveryCodeCount - i - 1
		page := b.get("/account/second-factor")
		wantText(t, page, fmt.Sprintf("You have %d recovery codes left", left))
		if warns := strings.Contains(page.body, "recovery-codes-low"); warns != (left <= cqrs.RecoveryCodesLow) {
			t.Errorf("%d codes left: warning shown %v", left, warns)
		}
	}
}

// TestSecondFactorIsNotAskedAfterNHSmail: single sign-on lands in the
// message centre for a person the setting covers, enrolled or not:
// NHSmail asks for its own second factor.
func TestSecondFactorIsNotAskedAfterNHSmail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	op := newTestOP(t, "cqrs", "s3cret", base+"/sso/callback")
	e := newEnv(t, func(c *Config) {
		c.SSO = SSOConfig{Issuer: op.URL, ClientID: "cqrs", ClientSecret: "s3cret", RedirectURL: base + "/sso/callback", Now: c.Now}
		c.SecondFactor, c.SecondFactorKey = cqrs.SecondFactorEveryone, bytes.Repeat([]byte{7}, secret.SealKeyBytes)
	})
	op.setClock(e.clock.Now)
	go e.app.Listener(ln)
	t.Cleanup(func() { e.app.ShutdownWithTimeout(5 * time.Second) })
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	s := &ssoEnv{testEnv: e, op: op, base: base, admin: admin, sam: sam}

	// By password, sam is asked for the second step.
	if r := e.client().signIn("sam.patel", "Harbour!2026x", ""); r.Header.Get("Location") != secondFactorPath {
		t.Fatalf("by password: %d %s, want the second step", r.StatusCode, r.Header.Get("Location"))
	}
	op.login(opLogin{Claims: samAtProvider()})
	b := s.browser(t)
	r := b.signIn("")
	b.wantSignedIn(t, r, "/messages")
}

// TestTrainingDataHasEachKindOfSecondFactor: a class run with
// --second-factor has an account with an authenticator set up (its key and
// recovery codes on the training home page) and one that sets one up at
// the next sign-in, and the job aid marks the second step as the site's
// setting, beyond the documents. Without the setting none of it shows.
func TestTrainingDataHasEachKindOfSecondFactor(t *testing.T) {
	e := newSecondFactorEnv(t, cqrs.SecondFactorAdministrators, func(c *Config) {
		c.Training, c.SignInRateLimit, c.TrainerPassword = true, 0, NewTrainerPassword()
	})
	home := e.client().get("/training")
	wantText(t, home, "trn.2fa.app", groupsOfFour(trainingAuthenticatorKey), trainingRecoveryCodes[0], "trn.2fa.new", trainingPasskeyUser)

	c := e.client()
	r := c.signIn(trainingAuthenticatorUser, trainingPassword, "")
	if wantStatus(t, r, 303); r.Header.Get("Location") != secondFactorPath {
		t.Fatalf("after the password: %s", r.Header.Get("Location"))
	}
	page := c.get(secondFactorPath)
	wantText(t, page, "Enter a code from your authenticator app")
	d := page.doc(t)
	if got := strings.TrimSpace(d.Find(`[data-testid="jobaid-beyond-ja-3-2fa"]`).Text()); got != "This site's setting, beyond the documents" {
		t.Errorf("the job aid's mark = %q", got)
	}
	if cur := d.Find(`[data-testid="jobaid"] [data-current="true"]`).AttrOr("data-testid", ""); cur != "jobaid-ja-3-2fa" {
		t.Errorf("the current step is %q", cur)
	}
	code, err := secret.TOTPCode(trainingAuthenticatorKey, e.phone.Now())
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.answer(code), 303)
	wantStatus(t, c.get("/messages"), 200)

	other := e.client()
	wantStatus(t, other.signIn("trn.2fa.new", trainingPassword, ""), 303)
	wantText(t, other.get(secondFactorPath), "Set up your authenticator app")

	// The passkey account over the classroom network (an IP address): the
	// second step says why no passkey is offered, and the app is set up.
	learner := e.client()
	wantStatus(t, learner.signIn(trainingPasskeyUser, trainingPassword, ""), 303)
	step := learner.get(secondFactorPath)
	wantText(t, step, "Set up your authenticator app")
	if why := strings.TrimSpace(step.doc(t).Find(`[data-testid="passkey-not-offered"]`).Text()); why == "" {
		t.Error("the passkey account's second step does not say why passkeys are not offered here")
	}

	plain := newTrainingEnv(t)
	home = plain.client().get("/training")
	if strings.Contains(home.body, "trn.2fa") {
		t.Error("the second factor's accounts are in a class without the setting")
	}
	if n := plain.client().get("/login").doc(t).Find(`[data-testid="jobaid-beyond-ja-3-2fa"]`).Length(); n != 0 {
		t.Error("the job aid shows the CQRS second step without the setting")
	}
}

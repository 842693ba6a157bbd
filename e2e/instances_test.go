package e2e

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
	"github.com/cqrs-local/cqrs-signin/store/storetest"
)

// Two app instances on one PostgreSQL database, behind nothing but their
// two ports, behave as one: these tests start the binary twice.

// sharedDB is the test's database, opened by the test itself to prepare
// accounts and look at the outcome, as a second pair of eyes.
type sharedDB struct {
	t   *testing.T
	dsn string
	st  *postgres.Store
	org cqrs.Organisation
}

func newSharedDB(t *testing.T) *sharedDB {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	org, err := st.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"})
	if err != nil {
		t.Fatal(err)
	}
	return &sharedDB{t: t, dsn: dsn, st: st, org: org}
}

// invite adds an invited user whose registration link's token is returned.
func (db *sharedDB) invite(userID string, email *cqrs.Email) (cqrs.User, string) {
	db.t.Helper()
	token := secret.NewToken()
	u, err := db.st.CreateUser(db.t.Context(), cqrs.User{UserID: userID, FirstName: "Sam", LastName: "Patel", Email: userID + "@nhs.net",
		OrgID: db.org.ID, Role: cqrs.RoleUser}, secret.HashToken(token), time.Hour, email)
	if err != nil {
		db.t.Fatal(err)
	}
	return u, token
}

// active adds a user who has registered password.
func (db *sharedDB) active(userID, password string) cqrs.User {
	db.t.Helper()
	_, token := db.invite(userID, nil)
	hash, err := secret.NewHasher(secret.OWASP, 0, 5*time.Second).Hash(context.Background(), password)
	if err != nil {
		db.t.Fatal(err)
	}
	u, err := db.st.SetPasswordWithLink(db.t.Context(), secret.HashToken(token), cqrs.LinkRegister, hash, nil)
	if err != nil {
		db.t.Fatal(err)
	}
	return u
}

// startInstance runs the app on a free port against the database and
// returns its base URL.
func startInstance(t *testing.T, dsn string, extraArgs ...string) string {
	t.Helper()
	var base string
	runApp(t, append([]string{"--no-browser", "--addr", "127.0.0.1:0", "--data", t.TempDir() + "/unused.db", "--database", dsn}, extraArgs...),
		15*time.Second, func(out string) bool {
			m := runningLineRE.FindStringSubmatch(out)
			if m != nil {
				base = m[1]
			}
			return m != nil
		})
	return base
}

// person is one browser: a cookie jar that, like a browser, sends the
// cookies of 127.0.0.1 whichever port is asked.
type person struct {
	t *testing.T
	c *http.Client
}

func newPerson(t *testing.T) *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: t, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

var csrfFieldRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (p *person) get(u string) (int, string) {
	p.t.Helper()
	resp, err := p.c.Get(u)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// submit loads the form page, then posts the fields with its CSRF token.
func (p *person) submit(page, action string, fields url.Values) (int, string) {
	p.t.Helper()
	_, body := p.get(page)
	m := csrfFieldRE.FindStringSubmatch(body)
	if m == nil {
		p.t.Fatalf("no CSRF token on %s:\n%s", page, body)
	}
	fields.Set("csrf_token", m[1])
	resp, err := p.c.PostForm(action, fields)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *person) signIn(base, userID, password string) (int, string) {
	p.t.Helper()
	return p.submit(base+"/login", base+"/login", url.Values{"user_id": {userID}, "password": {password}})
}

func TestTwoInstancesShareSessions(t *testing.T) {
	db := newSharedDB(t)
	db.active("sam.patel", "Harbour!2026x")
	a, b := startInstance(t, db.dsn), startInstance(t, db.dsn)

	sam := newPerson(t)
	if status, body := sam.signIn(a, "sam.patel", "Harbour!2026x"); status != http.StatusOK || !strings.Contains(body, `data-testid="message-centre-heading"`) {
		t.Fatalf("sign-in on the first instance: %d\n%s", status, body)
	}
	if status, body := sam.get(b + "/messages"); status != http.StatusOK || !strings.Contains(body, "Welcome to CQRS") {
		t.Fatalf("the session made on the first instance, on the second: %d\n%s", status, body)
	}
	// Signing out on the second ends the session on the first too.
	if status, _ := sam.submit(b+"/messages", b+"/signout", url.Values{}); status != http.StatusOK {
		t.Fatalf("sign out on the second instance: %d", status)
	}
	resp, err := (&http.Client{Jar: sam.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(a + "/messages")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after signing out on the second instance, the first answered %d, want 303 to the login page", resp.StatusCode)
	}
}

func TestTwoInstancesShareTheLockout(t *testing.T) {
	db := newSharedDB(t)
	sam := db.active("sam.patel", "Harbour!2026x")
	instances := []string{startInstance(t, db.dsn), startInstance(t, db.dsn)}

	var wg sync.WaitGroup
	for i := range 5 { // spread across both, at once
		wg.Go(func() {
			newPerson(t).signIn(instances[i%2], "sam.patel", "wrong password "+strconv.Itoa(i))
		})
	}
	wg.Wait()
	u, err := db.st.User(t.Context(), sam.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.LockedAt.IsZero() || u.FailedSignIns != 5 {
		t.Fatalf("after 5 failures across two instances: locked at %v, %d failures", u.LockedAt, u.FailedSignIns)
	}
	for _, base := range instances {
		if status, body := newPerson(t).signIn(base, "sam.patel", "Harbour!2026x"); status == http.StatusOK && strings.Contains(body, "message-centre-heading") {
			t.Errorf("%s signed in a locked account", base)
		}
	}
	if _, n, _ := db.st.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditLockout}); n != 1 {
		t.Errorf("%d lockout entries, want 1", n)
	}
}

func TestTwoInstancesUseALinkOnce(t *testing.T) {
	db := newSharedDB(t)
	jo, token := db.invite("jo.bloggs", nil)
	a, b := startInstance(t, db.dsn), startInstance(t, db.dsn)

	first := newPerson(t)
	status, body := first.submit(a+"/register?token="+token, a+"/register",
		url.Values{"password": {"Harbour!2026x"}, "confirm_password": {"Harbour!2026x"}})
	if status != http.StatusOK || !strings.Contains(body, "registration-complete") {
		t.Fatalf("registration on the first instance: %d\n%s", status, body)
	}
	if u, _ := db.st.User(t.Context(), jo.ID); u.Status != cqrs.StatusActive {
		t.Fatalf("after registering: %+v", u)
	}
	status, body = newPerson(t).get(b + "/register?token=" + token)
	if status < 400 || strings.Contains(body, `name="password"`) {
		t.Fatalf("the used link on the second instance: %d\n%s", status, body)
	}
}

func TestTwoInstancesDeliverEachEmailOnce(t *testing.T) {
	db := newSharedDB(t)
	const emails = 120
	for i := range emails {
		to := fmt.Sprintf("user%03d@nhs.net", i)
		db.invite(fmt.Sprintf("user%03d", i), &cqrs.Email{Kind: "registration", ToName: "User", To: to, Subject: "Welcome", Text: "hello"})
	}
	sink := startSMTPSink(t)
	port := strconv.Itoa(sink.port)
	smtpArgs := []string{"--smtp-host", "127.0.0.1", "--smtp-port", port, "--smtp-tls", "none"}
	var wg sync.WaitGroup
	for range 2 { // both start, and so make their first delivery pass, together
		wg.Go(func() { startInstance(t, db.dsn, smtpArgs...) })
	}
	wg.Wait()

	deadline := time.Now().Add(30 * time.Second)
	for len(sink.recipients()) < emails && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // room for a duplicate to arrive
	got := sink.recipients()
	seen := map[string]int{}
	for _, r := range got {
		seen[r]++
	}
	if len(got) != emails || len(seen) != emails {
		t.Fatalf("%d emails delivered to %d addresses, want %d each once", len(got), len(seen), emails)
	}
	sent, err := db.st.Emails(t.Context(), cqrs.EmailFilter{Limit: emails})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sent {
		if e.Status != cqrs.EmailSent || e.Attempts != 1 {
			t.Errorf("email %d: status %s after %d attempts", e.ID, e.Status, e.Attempts)
		}
	}
}

// smtpSink is a real SMTP server on 127.0.0.1 that keeps each message's
// recipients. It takes 10ms over each message, as a real server takes
// its time, so both instances' senders are at work together.
type smtpSink struct {
	port int
	mu   sync.Mutex
	to   []string
}

func (s *smtpSink) recipients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.to...)
}

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *smtpSink
	to   []string
}

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	time.Sleep(10 * time.Millisecond)
	s.sink.mu.Lock()
	s.sink.to = append(s.sink.to, s.to...)
	s.sink.mu.Unlock()
	return nil
}
func (s *sinkSession) Reset()        { s.to = nil }
func (s *sinkSession) Logout() error { return nil }

func startSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	sink := &smtpSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink.port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sink
}

func TestTwoInstancesShareTheRateLimits(t *testing.T) {
	db := newSharedDB(t)
	sam := db.active("sam.patel", "Harbour!2026x")
	instances := []string{startInstance(t, db.dsn, "--signin-rate-limit", "4"), startInstance(t, db.dsn, "--signin-rate-limit", "4")}

	// Sign-in attempts from one address: four across both, then refused on
	// either. The window is the clock's minute (fixed, as documented), so
	// the attempts start where one has just begun and all fall in it.
	startOfAMinute(t, 15*time.Second)
	p := newPerson(t)
	for i := range 4 {
		if status, _ := p.signIn(instances[i%2], "nobody", "wrong"); status == http.StatusTooManyRequests {
			t.Fatalf("attempt %d refused as too many", i+1)
		}
	}
	for _, base := range instances {
		if status, _ := p.signIn(base, "nobody", "wrong"); status != http.StatusTooManyRequests {
			t.Errorf("a fifth attempt at %s answered %d, want 429", base, status)
		}
	}

	// Reset emails for one account: three an hour, whichever instance is asked.
	for i := range 5 {
		base := instances[i%2]
		if status, _ := newPerson(t).submit(base+"/forgotten", base+"/forgotten", url.Values{"who": {"sam.patel"}}); status != http.StatusOK {
			t.Fatalf("reset request %d: %d", i+1, status)
		}
	}
	emails, err := db.st.Emails(t.Context(), cqrs.EmailFilter{UserID: sam.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(emails) != 3 {
		t.Errorf("%d reset emails after 5 requests across both instances, want 3", len(emails))
	}
}

// startOfAMinute waits, when the wall clock's minute has less than need
// left, for the next one to begin.
func startOfAMinute(t *testing.T, need time.Duration) {
	t.Helper()
	now := time.Now()
	if next := now.Truncate(time.Minute).Add(time.Minute); next.Sub(now) < need {
		time.Sleep(next.Sub(now) + 50*time.Millisecond)
	}
}

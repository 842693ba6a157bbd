package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
	"github.com/cqrs-local/cqrs-signin/store/storetest"
)

// Three instances on one PostgreSQL behind a real HAProxy (Debian's
// package), used only through the proxy's address, behave as one site.

// findHAProxy is the load balancer to test with: skipped without it,
// except on CI (CI=true), where its absence is a failure.
func findHAProxy(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HAPROXY_PATH"), "/usr/sbin/haproxy"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no HAProxy found (set HAPROXY_PATH); CI=true, so the load balancer tests must run")
	}
	t.Skip("no HAProxy found: install Debian's haproxy package, or set HAPROXY_PATH")
	return ""
}

// freePort is a port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// site is the instances behind the proxy.
type site struct {
	t         *testing.T
	dsn       string
	publicURL string
	ports     []int
	procs     []*appProcess
	setupURL  string
	extraArgs []string // after the defaults, so they win
}

var portRE = regexp.MustCompile(`CQRS is running at http://127\.0\.0\.1:(\d+)`)

// args are an instance's flags: its own address, the shared database,
// the public address, the proxy (127.0.0.2) trusted; two seconds' drain so the proxy's
// health checks (every 250ms, two failures to take it out) take it out before it stops.
func (s *site) args(port int) []string {
	return append([]string{"--no-browser", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data", s.t.TempDir() + "/unused.db",
		"--database", s.dsn, "--public-url", s.publicURL, "--trusted-proxies", "127.0.0.2", "--drain-time", "2s",
		"--signin-rate-limit", "0"}, s.extraArgs...)
}

// start runs instance i on its port and waits until it answers.
func (s *site) start(i int) {
	s.t.Helper()
	p := startProcess(s.t, s.args(s.ports[i]))
	p.waitUntil(20*time.Second, func(out string) bool {
		if m := setupLineRE.FindStringSubmatch(out); m != nil && s.setupURL == "" {
			s.setupURL = m[1]
		}
		return strings.Contains(out, "CQRS is running at")
	})
	s.procs[i] = p
}

// startSite starts three instances on the test database and HAProxy in
// front of them, each with the flags extra besides the defaults.
func startSite(t *testing.T, extra ...string) *site {
	t.Helper()
	findHAProxy(t) // skip before making a database
	return startSiteOn(t, storetest.PostgresDSN(t), extra...)
}

// startSiteOn is startSite on the database at dsn.
func startSiteOn(t *testing.T, dsn string, extra ...string) *site {
	t.Helper()
	haproxy := findHAProxy(t)
	proxyPort := freePort(t)
	s := &site{t: t, dsn: dsn, publicURL: fmt.Sprintf("http://127.0.0.1:%d", proxyPort), procs: make([]*appProcess, 3), extraArgs: extra}
	for i := range s.procs {
		s.ports = append(s.ports, freePort(t))
		s.start(i)
	}
	var servers strings.Builder
	for i, port := range s.ports {
		fmt.Fprintf(&servers, "    server cqrs%d 127.0.0.1:%d check\n", i+1, port)
	}
	for i, port := range s.ports {
		fmt.Fprintf(&servers, "    server cqrs%d-last-resort 127.0.0.1:%d backup\n", i+1, port)
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(haproxyConfig, proxyPort, "127.0.0.1", servers.String())), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(haproxy, "-db", "-f", cfg)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGUSR1) // HAProxy's graceful stop
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("HAProxy:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.publicURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy did not answer: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// haproxyConfig is the README's configuration, on this machine's ports:
// round robin with no stickiness, health checks on /readyz naming the
// public host, X-Forwarded-For, and a retry on another instance when one
// refuses the connection, or (for a GET only, which changes nothing) one
// dies before answering. When every instance fails its check (the
// database restarting) the unchecked backup lines still reach them, so
// people get the site's own "try again in a moment" page, not the proxy's.
const haproxyConfig = `global
    maxconn 512

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    option forwardfor

frontend cqrs_public
    bind 127.0.0.1:%d
    default_backend cqrs_instances

backend cqrs_instances
    balance roundrobin
    # The proxy reaches the instances from its own address, as on its own
    # computer: people (this test) are 127.0.0.1, the proxy 127.0.0.2.
    source 127.0.0.2
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host %s
    http-check expect status 200
    timeout check 2s
    default-server inter 250ms fall 2 rise 2
    option allbackups
    retry-on conn-failure empty-response
    http-request disable-l7-retry unless METH_GET || METH_HEAD
%s`

// Journey: through the proxy's address only, a real browser sets the site
// up, creates a user who registers from the emailed link, and twice,
// without clearing cookies: signs in and reads the Message Centre, signs
// in with NHSmail single sign-on, is locked out by five wrong passwords
// and unlocks the account from the lock email's link. Each request may
// reach any instance; every email's link names the public address.
func TestProxyJourney(t *testing.T) {
	s := startSite(t)
	if !strings.HasPrefix(s.setupURL, s.publicURL+"/setup?token=") {
		t.Fatalf("the set-up link %q does not name the public address %s", s.setupURL, s.publicURL)
	}
	parent, cancel := context.WithTimeout(context.Background(), 3*journeyTimeout)
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)
	pub := s.publicURL

	firstRunSetUp(t, ctx, s.setupURL)
	sam := newUser{UserID: "sam.patel", FirstName: "Sam", LastName: "Patel", WorkPhone: "0113 496 0001", Email: "sam.patel@nhs.net"}
	samNHSmail := nhsmailAccount{Email: "sam.patel@nhs.net", FirstName: "Sam", LastName: "Patel", Password: "Simulator#1"}
	passwords := []string{"Harbour#Lights42", "Meadow!Bank2027", "Orchard?Gate2028"}
	var samCtx context.Context
	for round := 1; round <= 2; round++ {
		legacySignIn(t, ctx, pub, adminUserID, adminPassword)
		wantTexts(t, "the administrator's message list", textOf(t, ctx, "message-list"), "Welcome to CQRS")
		if round == 1 {
			setUpUser(t, ctx, pub, sam, "")
			addNHSmailAccount(t, ctx, pub, samNHSmail)
			openMailbox(t, ctx, pub)
			if link := openEmail(t, ctx, sam.Email, "Complete your CQRS registration"); !strings.HasPrefix(link, pub+"/") {
				t.Fatalf("the registration email's link %q does not name the public address %s", link, pub)
			}
			samCtx = registerFromMailbox(t, ctx, pub, sam, passwords[0])
		}
		legacySignIn(t, samCtx, pub, sam.UserID, passwords[round-1])
		wantTexts(t, "sam's message list", textOf(t, samCtx, "message-list"), "Welcome to CQRS")
		for i := 0; i < 3; i++ { // three instances, round robin: each serves the session
			step(t, samCtx, "sam's Message Centre again", chromedp.Navigate(pub+"/messages"), chromedp.WaitVisible(tid("message-centre-heading")))
		}
		signOut(t, samCtx)

		// NHSmail single sign-on: the simulator's page, the callback and
		// the Message Centre may each be served by a different instance.
		startNHSmailSignIn(t, samCtx, pub)
		nhsmailSignIn(t, samCtx, samNHSmail.Email, samNHSmail.Password)
		step(t, samCtx, "wait for sam's Message Centre after NHSmail sign-in", chromedp.WaitVisible(tid("message-centre-heading")))
		if got := textOf(t, samCtx, "signed-in-as"); got != "Sam Patel (sam.patel)" {
			t.Errorf("round %d: signed in with NHSmail as %q", round, got)
		}
		signOut(t, samCtx)

		// Five wrong passwords, spread over the instances, lock the
		// account; the right one is then refused too.
		for i := 1; i <= 5; i++ {
			if status := submitLegacy(t, samCtx, sam.UserID, fmt.Sprintf("Wrong#Guess%d", i)); status != http.StatusUnauthorized {
				t.Errorf("round %d, failed sign-in %d: status %d, want 401", round, i, status)
			}
		}
		if status := submitLegacy(t, samCtx, sam.UserID, passwords[round-1]); status != http.StatusUnauthorized {
			t.Errorf("round %d: the right password on a locked account: status %d, want 401", round, status)
		}
		openMailbox(t, ctx, pub)
		unlock := openEmail(t, ctx, sam.Email, "Your CQRS account is locked") // the newest
		if !strings.HasPrefix(unlock, pub+"/reset?token=") {
			t.Errorf("round %d: the unlock link %q is not %s/reset?token=…", round, unlock, pub)
		}
		step(t, samCtx, "follow the unlock link", chromedp.Navigate(unlock))
		setPassword(t, samCtx, sam.UserID, passwords[round], "")
		if got := textOf(t, samCtx, "complete-heading"); got != "Your password has been changed" {
			t.Errorf("round %d: after unlocking, %q", round, got)
		}
		load(t, samCtx, "go to the CQRS Login page", chromedp.Click(tid("go-to-login")))
		submitLegacy(t, samCtx, sam.UserID, passwords[round])
		step(t, samCtx, "wait for sam's Message Centre after unlocking", chromedp.WaitVisible(tid("message-centre-heading")))
		signOut(t, samCtx)
		signOut(t, ctx)
	}
	for i, p := range s.procs {
		for _, out := range regexp.MustCompile(`https?://127\.0\.0\.1:\d+/\S*token=`).FindAllString(p.Stdout.String(), -1) {
			if !strings.HasPrefix(out, pub+"/") {
				t.Errorf("instance %d printed a link %q not on the public address", i+1, out)
			}
		}
	}
	wantEmailLinksOn(t, s.dsn, pub, 3) // the registration, and each round's lock email
}

// wantEmailLinksOn checks that every email the site wrote names only the
// public address pub in its links, and that at least min emails did.
func wantEmailLinksOn(t *testing.T, dsn, pub string, min int) {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	emails, err := st.Emails(t.Context(), cqrs.EmailFilter{})
	if err != nil {
		t.Fatal(err)
	}
	linkRE := regexp.MustCompile(`https?://[^\s"'<>]+`)
	withLinks := 0
	for _, e := range emails {
		links := linkRE.FindAllString(e.Text+" "+e.HTML, -1)
		hasToken := false
		for _, l := range links {
			if strings.Contains(l, "token=") {
				hasToken = true
				if !strings.HasPrefix(l, pub+"/") {
					t.Errorf("the email %q to %s links to %q, not the public address %s", e.Subject, e.To, l, pub)
				}
			}
		}
		if hasToken {
			withLinks++
		}
	}
	if withLinks < min {
		t.Errorf("%d emails with a link, want at least %d", withLinks, min)
	}
}

// TestProxyRollingRestart: each instance in turn is stopped with SIGTERM
// and started again while two people keep using the site through the
// proxy (signed-in pages and sign-in forms): no request fails.
func TestProxyRollingRestart(t *testing.T) {
	s := startSite(t)
	st, err := postgres.Open(context.Background(), s.dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	org, err := st.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"})
	if err != nil {
		t.Fatal(err)
	}
	db := &sharedDB{t: t, dsn: s.dsn, st: st, org: org}
	db.active("sam.patel", "Harbour#Lights42")

	var sent, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
			signedIn := false
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if !signedIn {
					err = formSignIn(c, s.publicURL, "sam.patel", "Harbour#Lights42")
					signedIn = err == nil
				} else {
					err = expectPage(c, s.publicURL+"/messages", 200, "Message Centre")
				}
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					failures.Store(time.Now().Format("15:04:05.000"), err.Error())
				}
			}
		}()
	}
	time.Sleep(time.Second)
	for i := range s.procs {
		p := s.procs[i]
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			t.Fatalf("instance %d did not stop within 20s of SIGTERM", i+1)
		}
		if p.waitErr != nil {
			t.Fatalf("instance %d stopped with %v:\n%s", i+1, p.waitErr, p.Stderr.String())
		}
		s.start(i)
		time.Sleep(1500 * time.Millisecond) // the proxy's two good checks bring it back
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	failures.Range(func(k, v any) bool { t.Errorf("%s: %s", k, v); return true })
	t.Logf("%d requests through the proxy during the rolling restart, %d failed", sent.Load(), failed.Load())
	if sent.Load() < 20 {
		t.Errorf("only %d requests were sent", sent.Load())
	}
}

// formSignIn signs in with the legacy form through base.
func formSignIn(c *http.Client, base, userID, password string) error {
	resp, err := c.Get(base + "/login")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfFieldRE.FindStringSubmatch(string(body))
	if resp.StatusCode != 200 || m == nil {
		return fmt.Errorf("GET /login: %d, CSRF token found %v", resp.StatusCode, m != nil)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"user_id": {userID}, "password": {password}, "csrf_token": {m[1]}})
	if err != nil {
		return err
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Message Centre") {
		return fmt.Errorf("POST /login: %d", resp.StatusCode)
	}
	return nil
}

// expectPage fetches u and wants status and text.
func expectPage(c *http.Client, u string, status int, text string) error {
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status || !strings.Contains(string(body), text) {
		return fmt.Errorf("GET %s: %d %.150q", u, resp.StatusCode, body)
	}
	return nil
}

// TestProxyForgedForwardingHeaders: a person who writes X-Forwarded-For or
// Forwarded themselves gains nothing, through the proxy (which appends the
// real address, read from the right) or straight to an instance (whose
// sender is not a trusted proxy): the audit log names their real address.
func TestProxyForgedForwardingHeaders(t *testing.T) {
	s := startSite(t)
	st, err := postgres.Open(context.Background(), s.dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	direct := fmt.Sprintf("http://127.0.0.1:%d", s.ports[0])
	for _, tc := range []struct{ via, header, value string }{
		{s.publicURL, "X-Forwarded-For", "198.51.100.9"},
		{s.publicURL, "Forwarded", "for=198.51.100.9"},
		{direct, "X-Forwarded-For", "198.51.100.9"},
		{direct, "Forwarded", "for=198.51.100.9"},
	} {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
		resp, err := c.Get(tc.via + "/login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfFieldRE.FindStringSubmatch(string(body))
		if m == nil {
			t.Fatalf("no CSRF token at %s/login", tc.via)
		}
		form := url.Values{"user_id": {"nobody"}, "password": {"wrong-password"}, "csrf_token": {m[1]}}
		req, _ := http.NewRequest("POST", tc.via+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(tc.header, tc.value)
		if tc.via == direct {
			req.Host = strings.TrimPrefix(s.publicURL, "http://") // as the proxy would pass it
		}
		resp, err = c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong sign-in via %s: status %d, want 401", tc.via, resp.StatusCode)
		}
		events, _, err := st.AuditEvents(t.Context(), cqrs.AuditFilter{})
		if err != nil || len(events) == 0 {
			t.Fatalf("audit log: %v", err)
		}
		if ip := events[0].IP; ip != "127.0.0.1" {
			t.Errorf("forged %s: %s via %s: the audit log names %q, want the sender's 127.0.0.1", tc.header, tc.value, tc.via, ip)
		}
	}
}

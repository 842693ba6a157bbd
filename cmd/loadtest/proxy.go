package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// The proxy mode (-proxy): three instances on one PostgreSQL database
// behind a real HAProxy, used only through the proxy's address, as a site
// runs them (README, "Behind a load balancer"). In one run it measures
// sign-ins and the signed-in message centre with one, two and three
// instances behind the proxy, each with the server CPU the instances used,
// so the scaling per CPU-second shows even on a machine with fewer cores
// than instances; then the failover figures under a steady load: an
// instance killed (SIGKILL) and a rolling restart (SIGTERM, start again,
// one after another), each with the requests that failed and the time to
// recover, and the acknowledged sign-ins counted in the database after.
//
//	go run ./cmd/loadtest -bin bin/cqrs-signin -proxy -app-env CQRS_DATABASE=postgres://…
//
// The run uses a new schema of that database of its own, dropped at the
// end, so it can run again on the same database.

// proxySite is the instances and the proxy in front of them.
type proxySite struct {
	bin, data, haproxy, dir string
	publicURL               string
	proxyPort               int
	ports                   []int
	servers                 []*server
	proxy                   *exec.Cmd
	proxyDone               chan struct{}
}

// instanceFlags are each instance's flags: its own address, the public
// one, the proxy (127.0.0.2) trusted, drained for 2s after SIGTERM (the
// proxy's checks, every 250ms and two failures to take it out, see it go),
// no per-address limit (all the load comes from one address).
func (s *proxySite) instanceFlags() []string {
	return []string{"--public-url", s.publicURL, "--trusted-proxies", "127.0.0.2", "--drain-time", "2s", "--signin-rate-limit=0"}
}

func (s *proxySite) startInstance(i int) error {
	srv, err := startApp(s.bin, s.data, fmt.Sprintf("127.0.0.1:%d", s.ports[i]), s.instanceFlags())
	if err != nil {
		return fmt.Errorf("instance %d: %w", i+1, err)
	}
	s.servers[i] = srv
	return nil
}

// proxyConfig is the README's HAProxy configuration on this machine's
// ports, without TLS, with the first n instances behind it.
func (s *proxySite) proxyConfig(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 1024

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
    source 127.0.0.2
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1:%d
    http-check expect status 200
    timeout check 2s
    default-server inter 250ms fall 2 rise 2
    option allbackups
    retry-on conn-failure empty-response
    http-request disable-l7-retry unless METH_GET || METH_HEAD
`, s.proxyPort, s.proxyPort)
	for i := range n {
		fmt.Fprintf(&b, "    server cqrs%d 127.0.0.1:%d check\n", i+1, s.ports[i])
	}
	for i := range n {
		fmt.Fprintf(&b, "    server cqrs%d-last-resort 127.0.0.1:%d backup\n", i+1, s.ports[i])
	}
	return b.String()
}

// startProxy (re)starts HAProxy with the first n instances and waits until
// each is in service (the public /readyz answered by all of them).
func (s *proxySite) startProxy(n int) error {
	s.stopProxy()
	cfg := filepath.Join(s.dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(s.proxyConfig(n)), 0o600); err != nil {
		return err
	}
	s.proxy = exec.Command(s.haproxy, "-db", "-f", cfg)
	if err := s.proxy.Start(); err != nil {
		return fmt.Errorf("HAProxy: %w", err)
	}
	s.proxyDone = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.proxy, s.proxyDone)
	deadline := time.Now().Add(15 * time.Second)
	for ok := 0; ok < 2*n; {
		resp, err := http.Get(s.publicURL + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == 200 {
			ok++
		} else {
			ok = 0
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("HAProxy with %d instances: /readyz not answered within 15 s (%v)", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(600 * time.Millisecond) // every instance's two good checks
	return nil
}

func (s *proxySite) stopProxy() {
	if s.proxy == nil {
		return
	}
	s.proxy.Process.Signal(syscall.SIGUSR1) // HAProxy's graceful stop
	select {
	case <-s.proxyDone:
	case <-time.After(5 * time.Second):
		s.proxy.Process.Kill()
		<-s.proxyDone
	}
	s.proxy = nil
}

// serverCPU is the CPU time the first n instances have used so far.
func (s *proxySite) serverCPU(n int) time.Duration {
	var sum time.Duration
	for _, srv := range s.servers[:n] {
		if srv != nil {
			cpu, _ := procStat(srv.cmd.Process.Pid)
			sum += cpu
		}
	}
	return sum
}

func (s *proxySite) proxyCPU() time.Duration {
	if s.proxy == nil {
		return 0
	}
	cpu, _ := procStat(s.proxy.Process.Pid)
	return cpu
}

// freeLoopbackPort is a port of 127.0.0.1 nothing listens on now.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// findHAProxy is Debian's haproxy, or the one on PATH.
func findHAProxy() (string, error) {
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy", nil
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	return "", errors.New("-proxy needs HAProxy (Debian: apt-get install haproxy)")
}

// ownSchema makes a new schema in the database at dsn and returns an
// address that uses it, and a function that drops it.
func ownSchema(dsn string) (string, func(), error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("the database: %w", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "loadtest_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		conn.Close(ctx)
		return "", nil, fmt.Errorf("a schema for the run: %w", err)
	}
	drop := func() {
		conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		conn.Close(ctx)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// databaseURL is the CQRS_DATABASE given through -app-env.
func databaseURL() string {
	dsn := ""
	for _, kv := range appEnv {
		if v, ok := strings.CutPrefix(kv, "CQRS_DATABASE="); ok {
			dsn = v
		}
	}
	return dsn
}

func runProxy(cfg config) error {
	if !usesDatabase() {
		return errors.New("-proxy needs -app-env CQRS_DATABASE=postgres://…: the instances share a database")
	}
	haproxy, err := findHAProxy()
	if err != nil {
		return err
	}
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("binary: %w (build it with `go tool task build`)", err)
	}
	dsn, dropSchema, err := ownSchema(databaseURL())
	if err != nil {
		return err
	}
	defer dropSchema()
	appEnv = append(appEnv, "CQRS_DATABASE="+dsn) // the last value wins
	dir, err := os.MkdirTemp("", "cqrs-loadtest-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	s := &proxySite{bin: bin, data: filepath.Join(dir, "unused.db"), haproxy: haproxy, dir: dir, servers: make([]*server, 3)}
	if s.proxyPort, err = freeLoopbackPort(); err != nil {
		return err
	}
	s.publicURL = fmt.Sprintf("http://127.0.0.1:%d", s.proxyPort)
	for range s.servers {
		port, err := freeLoopbackPort()
		if err != nil {
			return err
		}
		s.ports = append(s.ports, port)
	}
	defer func() {
		s.stopProxy()
		for _, srv := range s.servers {
			if srv != nil {
				srv.stop()
			}
		}
	}()
	for i := range s.servers {
		if err := s.startInstance(i); err != nil {
			return err
		}
	}
	fmt.Printf("cqrs-signin load test, proxy mode — %s, %d CPUs, %s\n", "HAProxy "+haproxyVersion(haproxy), runtime.NumCPU(), time.Now().Format(time.RFC3339))
	fmt.Printf("three instances on one PostgreSQL database (a schema of this run's own), behind HAProxy at %s, round robin, no stickiness\n", s.publicURL)
	if err := s.startProxy(3); err != nil {
		return err
	}
	site := &server{base: s.publicURL, setupURL: s.servers[0].setupURL}
	if site.setupURL == "" {
		return errors.New("the first instance printed no set-up link")
	}
	if err := setUp(site); err != nil {
		return fmt.Errorf("set-up through the proxy: %w", err)
	}
	msgClient, err := signedInClient(s.publicURL)
	if err != nil {
		return fmt.Errorf("sign-in for the message centre: %w", err)
	}
	accounts := []string{adminID}
	if cfg.accounts > 1 {
		more, err := addAccounts(s.publicURL, msgClient, cfg.accounts-1)
		if err != nil {
			return fmt.Errorf("accounts for the sign-in phase: %w", err)
		}
		accounts = append(accounts, more...)
	}
	fmt.Printf("set up and registered %d accounts through the proxy\n", len(accounts))

	// Scaling: the same work through the proxy with one, two and three
	// instances behind it.
	fmt.Printf("\nthrough the proxy, %d clients; sign-ins: %d or 30 s over %d accounts; message centre: %v or %d requests:\n",
		cfg.clients, cfg.signIns, len(accounts), cfg.duration, cfg.maxRequests)
	type scaled struct{ signIns, signInsPerCPU, pages, pagesPerCPU float64 }
	var figures []scaled
	for n := 1; n <= 3; n++ {
		if err := s.startProxy(n); err != nil {
			return err
		}
		cpu0, px0 := s.serverCPU(n), s.proxyCPU()
		si := signInPhase(s.publicURL, cfg.clients, cfg.signIns, 30*time.Second, accounts)
		siCPU, siPx := s.serverCPU(n)-cpu0, s.proxyCPU()-px0
		cpu0, px0 = s.serverCPU(n), s.proxyCPU()
		mc := pagePhase("message centre", s.publicURL+"/messages", msgClient, cfg)
		mcCPU, mcPx := s.serverCPU(n)-cpu0, s.proxyCPU()-px0
		f := scaled{si.rate(), float64(si.ok) / max(siCPU.Seconds(), 0.01), mc.rate(), float64(mc.ok) / max(mcCPU.Seconds(), 0.01)}
		figures = append(figures, f)
		fmt.Printf("  %d instance(s): sign-ins %.1f/s, server CPU %.2fs = %.1f per CPU-second (HAProxy %.2fs); %s\n",
			n, f.signIns, siCPU.Seconds(), f.signInsPerCPU, siPx.Seconds(), si.statuses())
		fmt.Printf("                 message centre %.0f req/s, server CPU %.2fs = %.0f per CPU-second (HAProxy %.2fs); %s; %s\n",
			f.pages, mcCPU.Seconds(), f.pagesPerCPU, mcPx.Seconds(), mc.lat, mc.statuses())
	}
	fmt.Printf("  against one instance: sign-ins/s ×%.2f, ×%.2f; per CPU-second ×%.2f, ×%.2f; message centre req/s ×%.2f, ×%.2f; per CPU-second ×%.2f, ×%.2f (two, three instances; %d CPUs)\n",
		figures[1].signIns/figures[0].signIns, figures[2].signIns/figures[0].signIns,
		figures[1].signInsPerCPU/figures[0].signInsPerCPU, figures[2].signInsPerCPU/figures[0].signInsPerCPU,
		figures[1].pages/figures[0].pages, figures[2].pages/figures[0].pages,
		figures[1].pagesPerCPU/figures[0].pagesPerCPU, figures[2].pagesPerCPU/figures[0].pagesPerCPU, runtime.NumCPU())

	// Failover, three instances behind the proxy, under a steady load.
	if err := s.startProxy(3); err != nil {
		return err
	}
	fmt.Printf("\nfailover, three instances, a steady load of sign-ins and message centre pages through the proxy:\n")
	csrf, token, err := anonymous(s.publicURL)
	if err != nil {
		return err
	}
	msgURL, _ := url.Parse(s.publicURL + "/messages")
	load := &steadyLoad{
		signIn: signInRequest(s.publicURL, csrf, token, accounts[len(accounts)-1], accountPassword),
		page:   getRequest(s.publicURL+"/messages", msgClient.Jar.Cookies(msgURL)),
	}
	if len(accounts) == 1 {
		load.signIn = signInRequest(s.publicURL, csrf, token, adminID, adminPassword)
	}
	signInsBefore, err := auditCount(dsn, "sign-in")
	if err != nil {
		return err
	}

	// An instance killed: the requests it had in hand, and any sent to it
	// before the proxy's checks take it out, are what fails.
	load.start(8)
	time.Sleep(2 * time.Second)
	killed := time.Now()
	s.servers[2].cmd.Process.Signal(syscall.SIGKILL)
	<-s.servers[2].done
	time.Sleep(3 * time.Second)
	restarted := time.Now()
	if err := s.startInstance(2); err != nil {
		return err
	}
	back := s.waitInService(2, 15*time.Second)
	time.Sleep(time.Second)
	k := load.stop()
	fmt.Printf("  kill (SIGKILL) of instance 3: %d requests, %d failed (%s); last failure %s after the kill; the restarted instance back in service %s after its start\n",
		k.sent, k.failed, k.failures(), k.lastFailureAfter(killed), back.Sub(restarted).Round(time.Millisecond))

	// A rolling restart: each in turn stopped with SIGTERM (it drains for
	// 2 s) and started again.
	load.start(8)
	time.Sleep(time.Second)
	began := time.Now()
	for i := range s.servers {
		s.servers[i].cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.servers[i].done:
		case <-time.After(20 * time.Second):
			return fmt.Errorf("instance %d did not stop within 20 s of SIGTERM", i+1)
		}
		if err := s.startInstance(i); err != nil {
			return err
		}
		s.waitInService(i, 15*time.Second)
	}
	took := time.Since(began)
	time.Sleep(time.Second)
	r := load.stop()
	fmt.Printf("  rolling restart (SIGTERM, start again, one after another): %d requests, %d failed (%s); all three restarted in %s\n",
		r.sent, r.failed, r.failures(), took.Round(time.Millisecond))
	signInsAfter, err := auditCount(dsn, "sign-in")
	if err != nil {
		return err
	}
	acked := k.signedIn + r.signedIn
	fmt.Printf("  acknowledged sign-ins during both: %d; sign-ins recorded in the database meanwhile: %d\n", acked, signInsAfter-signInsBefore)
	problemsMu.Lock()
	if signInsAfter-signInsBefore < acked {
		problems = append(problems, fmt.Sprintf("failover: %d sign-ins acknowledged but %d recorded", acked, signInsAfter-signInsBefore))
	}
	if r.failed > 0 {
		problems = append(problems, fmt.Sprintf("rolling restart: %d requests failed", r.failed))
	}
	problemsMu.Unlock()
	return nil
}

// waitInService waits until instance i answers /readyz and the proxy's
// two checks (250ms apart) have seen it, and returns when.
func (s *proxySite) waitInService(i int, within time.Duration) time.Time {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", s.ports[i]))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				time.Sleep(600 * time.Millisecond)
				return time.Now()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Now()
}

// auditCount is the number of audit entries of a type in the database.
func auditCount(dsn, kind string) (int, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM audit WHERE type = $1`, kind).Scan(&n)
	return n, err
}

// steadyLoad is clients alternating a sign-in and a message centre page
// through the proxy, until stopped, counting every answer.
type steadyLoad struct {
	signIn, page fixedRequest
	halt         chan struct{}
	wg           sync.WaitGroup
	tally        *loadTally
}

type loadTally struct {
	sent, signedIn, busy atomic.Int64
	mu                   sync.Mutex
	failed               int
	byKind               map[string]int
	lastFailure          time.Time
}

// loadResult is a stretch of steady load's figures.
type loadResult struct {
	sent, signedIn, busy, failed int
	byKind                       map[string]int
	lastFailure                  time.Time
}

func (r loadResult) failures() string {
	busy := ""
	if r.busy > 0 {
		busy = fmt.Sprintf("; besides, %d sign-ins answered 503 The service is busy (the hasher's queue, the machine's load)", r.busy)
	}
	if r.failed == 0 {
		return "none" + busy
	}
	var parts []string
	for k, n := range r.byKind {
		parts = append(parts, fmt.Sprintf("%d×%s", n, k))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ") + busy
}

// sendNoting is send that also reports whether the answer's body holds text.
func sendNoting(c *http.Client, req *http.Request, text string) (int, bool, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, false, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, strings.Contains(string(b), text), nil
}

func (r loadResult) lastFailureAfter(t time.Time) string {
	if r.failed == 0 {
		return "(none)"
	}
	return r.lastFailure.Sub(t).Round(time.Millisecond).String()
}

func (l *steadyLoad) start(clients int) {
	l.halt = make(chan struct{})
	l.tally = &loadTally{byKind: map[string]int{}}
	c := loadClient(clients)
	for w := range clients {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.halt:
					return
				default:
				}
				req, want := l.page, http.StatusOK
				if (w+i)%4 == 0 { // a sign-in for every three pages
					req, want = l.signIn, http.StatusSeeOther
				}
				status, busy, err := sendNoting(c, req.request(), "The service is busy")
				l.tally.sent.Add(1)
				if err == nil && status == want {
					if want == http.StatusSeeOther {
						l.tally.signedIn.Add(1)
					}
					continue
				}
				if err == nil && status == http.StatusServiceUnavailable && busy {
					// Too many sign-ins at once for the hasher: the
					// machine's load, not the failover.
					l.tally.busy.Add(1)
					continue
				}
				kind := fmt.Sprint(req.method, " ", status)
				if err != nil {
					kind = req.method + " no answer"
				}
				l.tally.mu.Lock()
				l.tally.failed++
				l.tally.byKind[kind]++
				l.tally.lastFailure = time.Now()
				l.tally.mu.Unlock()
			}
		})
	}
}

func (l *steadyLoad) stop() loadResult {
	close(l.halt)
	l.wg.Wait()
	t := l.tally
	return loadResult{sent: int(t.sent.Load()), signedIn: int(t.signedIn.Load()), busy: int(t.busy.Load()), failed: t.failed, byKind: t.byKind, lastFailure: t.lastFailure}
}

func haproxyVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").Output()
	f := strings.Fields(string(out))
	if len(f) >= 3 {
		return f[2]
	}
	return "?"
}

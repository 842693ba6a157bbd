// Command loadtest measures the built cqrs-signin binary over loopback, in
// one run, as ratios against baselines taken on the same machine at the same
// time (shared machines are noisy; ratios travel, absolute figures do not):
//
//   - the argon2id ceiling: hashes per second on every core with the app's
//     parameters, and legacy sign-ins per second as a fraction of it, over
//     several accounts (the app checks one account's attempts in turn);
//   - the Login page and the signed-in message centre against a bare Fiber
//     "hello" handler (requests per second), with latency percentiles;
//   - a storm of concurrent sign-in attempts, right and wrong, with the
//     server's peak memory and the Login page's latency meanwhile;
//   - start-up time to the first 200 from /login (median of several starts on
//     an existing database) against a bare Fiber hello's start, alternating,
//     resident memory 3 s after start, binary size.
//
// The load command shares the machine's cores with the server, so each
// phase reports its own CPU time, and its requests are built once and sent
// as prepared over keep-alive connections, as wrk does.
//
// The driver uses nothing but net/http. Every loop has a count and a time
// limit, and only 127.0.0.1 is ever contacted.
//
//	go run ./cmd/loadtest -bin bin/cqrs-signin
package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/argon2"

	"github.com/cqrs-local/cqrs-signin/secret"
)

const (
	adminID       = "load.admin"
	adminPassword = "Riverside#2026q"
	wrongPassword = "Wrong#Password1"
)

type config struct {
	bin         string
	clients     int
	duration    time.Duration
	maxRequests int
	signIns     int
	accounts    int
	storm       int
	starts      int
	rounds      int
	ceilingFor  time.Duration
	appEnv      string
	instances   int
}

// appEnv is extra environment for the app, e.g. GOMEMLIMIT=64MiB.
var appEnv []string

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "-serve-hello" {
		serveHello(os.Args[2], os.Args[3:])
		return
	}
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "bin/cqrs-signin", "the built binary to measure")
	flag.IntVar(&cfg.clients, "clients", 32, "concurrent clients for the page phases and the sign-in phase")
	flag.DurationVar(&cfg.duration, "duration", 4*time.Second, "how long each page phase runs")
	flag.IntVar(&cfg.rounds, "rounds", 2, "rounds of the page phases, in alternating order")
	flag.IntVar(&cfg.maxRequests, "max-requests", 200_000, "request cap for each page phase")
	flag.IntVar(&cfg.signIns, "signins", 400, "sign-ins in the sign-in phase (it also stops after 30 s)")
	flag.IntVar(&cfg.accounts, "accounts", 8, "accounts the sign-in phase spreads its clients over (the app lets one account's attempts in one at a time)")
	flag.IntVar(&cfg.storm, "storm", 1000, "concurrent sign-in attempts in the storm phase (0: skip)")
	flag.IntVar(&cfg.starts, "starts", 10, "starts for the start-up median")
	flag.DurationVar(&cfg.ceilingFor, "ceiling-time", 3*time.Second, "how long the argon2id ceiling is measured")
	flag.StringVar(&cfg.appEnv, "app-env", "", "extra environment for the app, comma-separated (e.g. GOMEMLIMIT=64MiB)")
	flag.IntVar(&cfg.instances, "instances", 1, "also measure this many instances sharing one PostgreSQL database (needs -app-env CQRS_DATABASE=postgres://…)")
	classroom := flag.Int("classroom", 0, "instead of the phases: the classroom check, this many learners walking the job aid at once with the class board open (--demo)")
	proxy := flag.Bool("proxy", false, "instead of the phases: three instances on one PostgreSQL behind HAProxy (needs -app-env CQRS_DATABASE=postgres://…): sign-ins and pages with one, two and three behind it, each with the server CPU used, then a kill and a rolling restart under load")
	wire := flag.Bool("wire", false, "instead of the phases: load the Login page twice in Chromium and report the bytes each load fetched on the wire")
	lighthouse := flag.Bool("lighthouse", false, "instead of the phases: audit the Login page with Lighthouse (npm's dev dependency, mobile) in Chromium and print its scores")
	check := flag.Bool("check", false, "exit 1 if any request went unanswered or got a server error other than 503 busy (for CI's short run)")
	flag.Parse()
	for _, kv := range strings.Split(cfg.appEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			appEnv = append(appEnv, kv)
		}
	}
	nameAppConnections()
	runner := run
	if *classroom > 0 {
		runner = func(cfg config) error { return runClassroom(cfg, *classroom) }
	}
	if *wire {
		runner = measureWire
	}
	if *proxy {
		runner = runProxy
	}
	if *lighthouse {
		runner = measureLighthouse
	}
	if err := runner(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
	if *check && len(problems) > 0 {
		fmt.Fprintln(os.Stderr, "loadtest: "+strings.Join(problems, "; "))
		os.Exit(1)
	}
}

// problems are requests that got no answer or a server fault, gathered
// for -check. Figures are not judged here: they are noisy on shared
// machines, so BENCHMARKS.md records them instead.
var (
	problemsMu sync.Mutex
	problems   []string
)

// serveHello is the baseline: a bare Fiber handler in its own process, as
// the app is in its own. Given copied pages (pageCopy files), it also
// serves each one's recorded headers and body at /copy/<name>: what bare
// Fiber does for the same bytes, with none of the app's work.
func serveHello(addr string, copies []string) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("hello") })
	for _, file := range copies {
		b, err := os.ReadFile(file)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		var pc pageCopy
		if err := json.Unmarshal(b, &pc); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		app.Get("/copy/"+pc.Name, func(c *fiber.Ctx) error {
			for _, h := range pc.Headers {
				c.Response().Header.Add(h[0], h[1])
			}
			return c.Send(pc.Body)
		})
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("http://" + ln.Addr().String())
	go func() { // stop with the parent
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	app.Listener(ln)
}

func run(cfg config) error {
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	info, err := os.Stat(bin)
	if err != nil {
		return fmt.Errorf("binary: %w (build it with `go tool task build`)", err)
	}
	dir, err := os.MkdirTemp("", "cqrs-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "cqrs.db")
	extra := appFlags(bin)

	fmt.Printf("cqrs-signin load test — %s, %d CPUs, GOMAXPROCS %d, %s\n", runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), time.Now().Format(time.RFC3339))
	fmt.Printf("binary %s: %.1f MiB (%s)\n", cfg.bin, float64(info.Size())/(1<<20), strippedness(bin))
	if len(extra) == 0 {
		fmt.Println("note: the binary has no --signin-rate-limit flag, so sign-ins from 127.0.0.1 are capped at its default 30 a minute")
	} else {
		fmt.Printf("app flags: %s\n", strings.Join(extra, " "))
	}
	if len(appEnv) > 0 {
		fmt.Printf("app environment: %s\n", strings.Join(appEnv, " "))
	}

	// First start: set-up and registration over HTTP.
	srv, err := startApp(bin, data, "", extra)
	if err != nil {
		return err
	}
	defer srv.stop()
	if srv.setupURL == "" {
		return errors.New("the first start printed no set-up link")
	}
	if err := setUp(srv); err != nil {
		return fmt.Errorf("set-up: %w", err)
	}
	fmt.Printf("set up %s and registered %s at %s (server pid %d)\n", filepath.Base(data), adminID, srv.base, srv.cmd.Process.Pid)

	// (a) The argon2id ceiling, then (b) real sign-ins against it.
	before := argonCeiling(cfg.ceilingFor)
	fmt.Printf("\nargon2id ceiling (m=%d KiB, t=%d, p=%d, %d goroutines, %v): %.1f hashes/s (%.1f per CPU-second)\n",
		secret.OWASP.MemoryKiB, secret.OWASP.Time, secret.OWASP.Threads, runtime.NumCPU(), cfg.ceilingFor, before.rate(), before.perCPU())

	// A signed-in session for the message centre (one sign-in, before the
	// sign-in phase spends the rate limit).
	msgClient, err := signedInClient(srv.base)
	if err != nil {
		return fmt.Errorf("sign-in for the message centre: %w", err)
	}

	// Accounts for the sign-in phase: the app checks one account's attempts
	// one after another (so a burst cannot outrun the lockout), so sign-ins
	// to one account use one core at most; people sign in to many.
	accounts := []string{adminID}
	if cfg.accounts > 1 {
		more, err := addAccounts(srv.base, msgClient, cfg.accounts-1)
		if err != nil {
			return fmt.Errorf("accounts for the sign-in phase: %w", err)
		}
		accounts = append(accounts, more...)
	}
	serverCPU, serverFaults := procStat(srv.cmd.Process.Pid)
	si := signInPhase(srv.base, cfg.clients, cfg.signIns, 30*time.Second, accounts)
	cpuAfter, faultsAfter := procStat(srv.cmd.Process.Pid)
	serverCPU, serverFaults = cpuAfter-serverCPU, faultsAfter-serverFaults
	// Measured again straight after, since other work on a shared machine
	// moves it: the fraction is against the mean of the two.
	after := argonCeiling(cfg.ceilingFor)
	fmt.Printf("argon2id ceiling again after the sign-ins: %.1f hashes/s (%.1f per CPU-second)\n", after.rate(), after.perCPU())
	ceiling := (before.rate() + after.rate()) / 2
	fmt.Printf("legacy sign-ins (%d clients over %d accounts): %d signed in over %.2fs = %.1f sign-ins/s = %.2f of the ceiling; %s\n",
		cfg.clients, len(accounts), si.ok, si.lastOK.Seconds(), si.rate(), si.rate()/ceiling, si.statuses())
	fmt.Printf("  latency %s; %s\n", si.lat, si.cpu())
	// Per CPU-second, the figure the machine's other work hardly moves: how
	// much of the server's CPU went into the hash, against the ceiling's.
	if serverCPU > 0 {
		perCPU := float64(si.ok) / serverCPU.Seconds()
		fmt.Printf("  server CPU %.2fs for %d sign-ins = %.1f sign-ins per CPU-second = %.2f of the ceiling's %.1f hashes per CPU-second\n",
			serverCPU.Seconds(), si.ok, perCPU, perCPU/((before.perCPU()+after.perCPU())/2), (before.perCPU()+after.perCPU())/2)
		// Each hash needs 19 MiB: memory the runtime handed back to the
		// system is faulted in again, a page at a time.
		fmt.Printf("  server minor page faults: %d, %.0f per sign-in (one hash's memory is %d pages of 4 KiB)\n",
			serverFaults, float64(serverFaults)/float64(max(si.ok, 1)), 19456/4)
	}
	if si.byStatus[http.StatusTooManyRequests] > 0 {
		fmt.Printf("  %d answered 429 Too Many Requests: the per-address limit, not the hash, ended the phase; the rate is over the %d that got through\n", si.byStatus[http.StatusTooManyRequests], si.ok)
	}
	fmt.Printf("  server peak RSS so far: %s\n", procMem(srv.cmd.Process.Pid, "VmHWM"))

	// (c, d) Pages against a bare Fiber handler, same run, same clients;
	// and against bare Fiber sending each page's own bytes (its headers and
	// body as the app answered), so the cost of the page's size on the
	// client and the network stack is told apart from the app's own work.
	copies, err := copyPages(dir, []pageSource{
		{"login", srv.base + "/login", nil},
		{"messages", srv.base + "/messages", msgClient},
	})
	if err != nil {
		return err
	}
	hello, err := startHello(copies...)
	if err != nil {
		return err
	}
	defer hello.stop()
	fmt.Printf("\npages, %d clients, %d rounds of %v or %d requests each, keep-alive:\n", cfg.clients, cfg.rounds, cfg.duration, cfg.maxRequests)
	pages := pageRounds(cfg, []pageSource{
		{"bare Fiber hello", hello.base + "/", nil},
		{"Login's bytes", hello.base + "/copy/login", nil},
		{"Login page", srv.base + "/login", nil},
		{"messages' bytes", hello.base + "/copy/messages", nil},
		{"message centre", srv.base + "/messages", msgClient},
	})
	base, loginBytes, login, msgsBytes, msgs := pages[0], pages[1], pages[2], pages[3], pages[4]
	for _, p := range pages {
		fmt.Printf("  %-17s %8.0f req/s  %.2f of bare  %s  %s\n", p.name, p.rate(), p.rate()/base.rate(), p.lat, p.statuses())
	}
	fmt.Printf("  Login page: %.2f of bare Fiber sending its bytes; message centre: %.2f of bare Fiber sending its bytes\n",
		login.rate()/loginBytes.rate(), msgs.rate()/msgsBytes.rate())
	for _, p := range pages {
		fmt.Printf("  %-17s %s\n", p.name, p.cpu())
	}

	if cfg.instances > 1 {
		if err := sharedInstances(cfg, bin, data, extra, srv, accounts, msgClient, ceiling, si.rate(), msgs.rate()); err != nil {
			return err
		}
	}

	// Bounded under load: a storm of concurrent sign-in attempts.
	if cfg.storm > 0 {
		if len(extra) == 0 {
			fmt.Printf("\nstorm: skipped (needs the rate limit lifted, or all but 30 attempts are 429s)\n")
		} else {
			storm(srv, cfg.storm)
		}
	}
	srv.stop()

	// (e) Start-up on the existing database, and memory at rest.
	fmt.Printf("\nstart-up on the existing database (%d starts):\n", cfg.starts)
	// Alternating with a bare Fiber hello's start, so both see the same
	// machine: the ratio of the medians is the figure.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var times, helloTimes []time.Duration
	for i := range cfg.starts {
		d, rss, err := timeStart(bin, []string{"--no-browser", "--data", data}, "/login", extra, i == 0)
		if err != nil {
			return fmt.Errorf("start %d: %w", i+1, err)
		}
		times = append(times, d)
		if rss != "" {
			fmt.Printf("  RSS 3 s after start: %s\n", rss)
		}
		d, rss, err = timeStart(self, []string{"-serve-hello"}, "/", nil, i == 0)
		if err != nil {
			return fmt.Errorf("bare Fiber hello start %d: %w", i+1, err)
		}
		helloTimes = append(helloTimes, d)
		if rss != "" {
			fmt.Printf("  bare Fiber hello's RSS 3 s after start: %s\n", rss)
		}
	}
	slices.Sort(times)
	slices.Sort(helloTimes)
	median, helloMedian := times[len(times)/2], helloTimes[len(helloTimes)/2]
	fmt.Printf("  time to first 200 from /login: median %s (min %s, max %s)\n", ms(median), ms(times[0]), ms(times[len(times)-1]))
	fmt.Printf("  bare Fiber hello, same starts alternating: median %s (min %s, max %s); the app takes %.2f× as long\n",
		ms(helloMedian), ms(helloTimes[0]), ms(helloTimes[len(helloTimes)-1]), float64(median)/float64(helloMedian))
	return nil
}

// appFlags lifts the sign-in rate limit when the binary can.
func appFlags(bin string) []string {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	if strings.Contains(string(out), "-signin-rate-limit") {
		return []string{"--signin-rate-limit=0"}
	}
	return nil
}

func strippedness(bin string) string {
	f, err := elf.Open(bin)
	if err != nil {
		return "not ELF"
	}
	defer f.Close()
	if f.Section(".symtab") != nil {
		return "not stripped: build with -ldflags \"-s -w\""
	}
	return "stripped"
}

// server is a running cqrs-signin.
type server struct {
	cmd      *exec.Cmd
	base     string
	setupURL string
	done     chan struct{}
}

func (s *server) stop() {
	if s.cmd.ProcessState != nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// startApp starts the binary and waits for its address on stdout.
func startApp(bin, data, addr string, extra []string) (*server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	args := append([]string{"--no-browser", "--addr", addr, "--data", data}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "CQRS_SMTP_HOST="), appEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	found := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case strings.Contains(line, "/setup?token="):
				s.setupURL = line[strings.Index(line, "http"):]
			case strings.HasPrefix(line, "CQRS is running at "):
				s.base = strings.Fields(strings.TrimPrefix(line, "CQRS is running at "))[0]
				if !sent {
					found <- nil
					sent = true
				}
			}
		}
		if !sent {
			found <- errors.New("the app exited before printing its address")
		}
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case err := <-found:
		if err != nil {
			return nil, err
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("the app printed no address within 15 s")
	}
	return s, nil
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

func csrfFrom(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	m := csrfRE.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("GET %s: %d, no CSRF token in the page", u, resp.StatusCode)
	}
	return html.UnescapeString(string(m[1])), nil
}

func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func postForm(c *http.Client, u string, form url.Values) (*http.Response, string, error) {
	resp, err := c.PostForm(u, form)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b), nil
}

// setUp completes the first-run set-up page and the Security Information
// screen, as a browser would.
func setUp(s *server) error {
	c := browser()
	token, err := csrfFrom(c, s.setupURL)
	if err != nil {
		return err
	}
	resp, body, err := postForm(c, s.base+"/setup", url.Values{"csrf_token": {token}, "user_id": {adminID}, "first_name": {"Load"},
		"last_name": {"Admin"}, "email": {"load.admin@nhs.net"}, "org_name": {"Load Test Practice"}, "ods_code": {"L00001"}})
	if err != nil {
		return err
	}
	if resp.Request.URL.Path != "/register" {
		return fmt.Errorf("set-up form: %d at %s\n%.500s", resp.StatusCode, resp.Request.URL, body)
	}
	if token, err = csrfFrom(c, s.base+"/register"); err != nil {
		return err
	}
	resp, body, err = postForm(c, s.base+"/register", url.Values{"csrf_token": {token}, "password": {adminPassword}, "confirm_password": {adminPassword}})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/register/complete") {
		return fmt.Errorf("Security Information: %d at %s\n%.500s", resp.StatusCode, resp.Request.URL, body)
	}
	return nil
}

// signedInClient signs in once and returns a client whose jar holds the session.
func signedInClient(base string) (*http.Client, error) {
	c := browser()
	token, err := csrfFrom(c, base+"/login")
	if err != nil {
		return nil, err
	}
	resp, body, err := postForm(c, base+"/login", url.Values{"csrf_token": {token}, "user_id": {adminID}, "password": {adminPassword}})
	if err != nil {
		return nil, err
	}
	if resp.Request.URL.Path != "/messages" || resp.StatusCode != 200 {
		return nil, fmt.Errorf("%d at %s\n%.300s", resp.StatusCode, resp.Request.URL, body)
	}
	return c, nil
}

const accountPassword = "Harbour#Lantern2026"

var (
	mailboxEmailRE = regexp.MustCompile(`href="/mailbox/(\d+)"`)
	registerLinkRE = regexp.MustCompile(`href="(https?://[^"]+/register\?token=[^"]+)"`)
)

// addAccounts has the administrator set up n users, as on the Add user
// page, and registers each through the link in its email (the local
// mailbox, since the load command runs the app without a mail server).
func addAccounts(base string, admin *http.Client, n int) ([]string, error) {
	var ids []string
	for i := range n {
		id := fmt.Sprintf("load.user%02d", i+1)
		token, err := csrfFrom(admin, base+"/admin/users/new")
		if err != nil {
			return nil, err
		}
		resp, body, err := postForm(admin, base+"/admin/users", url.Values{"csrf_token": {token}, "user_id": {id}, "first_name": {"Load"},
			"last_name": {"User"}, "work_phone": {""}, "email": {id + "@nhs.net"}, "org_id": {"1"}, "role": {"user"}})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/admin/users/") {
			return nil, fmt.Errorf("add user %s: %d at %s\n%.500s", id, resp.StatusCode, resp.Request.URL, body)
		}
		link, err := registrationLink(base, admin, id)
		if err != nil {
			return nil, err
		}
		c := browser()
		if token, err = csrfFrom(c, link); err != nil {
			return nil, err
		}
		resp, body, err = postForm(c, base+"/register", url.Values{"csrf_token": {token}, "password": {accountPassword}, "confirm_password": {accountPassword}})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/register/complete") {
			return nil, fmt.Errorf("register %s: %d at %s\n%.500s", id, resp.StatusCode, resp.Request.URL, body)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// registrationLink waits for the newest email in the local mailbox to be
// the one to id and returns its registration link.
func registrationLink(base string, admin *http.Client, id string) (string, error) {
	for range 100 {
		resp, err := admin.Get(base + "/mailbox")
		if err != nil {
			return "", err
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		newest := 0
		for _, m := range mailboxEmailRE.FindAllSubmatch(b, -1) {
			newest = max(newest, atoi(string(m[1])))
		}
		if newest > 0 {
			resp, err := admin.Get(fmt.Sprintf("%s/mailbox/%d", base, newest))
			if err != nil {
				return "", err
			}
			b, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if m := registerLinkRE.FindSubmatch(b); m != nil && strings.Contains(string(b), id+"@nhs.net") {
				return html.UnescapeString(string(m[1])), nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("no registration email for %s in the local mailbox", id)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// argonCeiling is hashes per second with one goroutine per CPU, each
// hashing with the app's parameters, for d.
func argonCeiling(d time.Duration) ceilingRun {
	p := secret.OWASP
	var n atomic.Int64
	stop := time.Now().Add(d)
	start, cpuStart := time.Now(), selfCPU()
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			salt := make([]byte, p.SaltLen)
			for i := 0; i < 100_000 && time.Now().Before(stop); i++ {
				argon2.IDKey([]byte(adminPassword), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return ceilingRun{hashes: n.Load(), elapsed: time.Since(start), cpu: selfCPU() - cpuStart}
}

// ceilingRun is one measurement of the argon2id ceiling: hashes per second
// of wall time, which moves with whatever else the machine runs, and per
// second of CPU, which hardly does.
type ceilingRun struct {
	hashes  int64
	elapsed time.Duration
	cpu     time.Duration
}

func (r ceilingRun) rate() float64   { return float64(r.hashes) / r.elapsed.Seconds() }
func (r ceilingRun) perCPU() float64 { return float64(r.hashes) / r.cpu.Seconds() }

// procStat is a process's user + system CPU time and its minor page faults
// so far, from /proc (Linux; zeros elsewhere): the server's share of the
// machine in a phase, and how often it faulted memory in.
func procStat(pid int) (cpu time.Duration, minorFaults int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// The fields after the command name (which may hold spaces), from the
	// state: minflt is the 8th, utime and stime the 12th and 13th, in
	// USER_HZ (100) ticks.
	_, rest, ok := strings.Cut(string(b), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0, 0
	}
	minorFaults, _ = strconv.ParseInt(fields[7], 10, 64)
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, minorFaults
}

// phase is one measured stretch of requests.
type phase struct {
	name     string
	ok       int
	elapsed  time.Duration
	byStatus map[int]int
	errors   int
	lat      latencies
	// lastOK is when the last successful answer came, from the start: the
	// rate is over that time, so requests refused at the end (a rate
	// limit) do not dilute it.
	lastOK time.Duration
	// clientCPU is the load command's own CPU time (user + system) in the
	// phase: it shares the cores with the server, so it is reported.
	clientCPU time.Duration
}

// cpu reports the phase's wall time and the load command's own CPU time.
func (p phase) cpu() string {
	return fmt.Sprintf("load client CPU %.2fs over %.2fs (%.0f%% of one core)", p.clientCPU.Seconds(), p.elapsed.Seconds(),
		100*p.clientCPU.Seconds()/p.elapsed.Seconds())
}

func (p phase) rate() float64 {
	if p.ok == 0 {
		return 0
	}
	return float64(p.ok) / p.lastOK.Seconds()
}

func (p phase) statuses() string {
	var parts []string
	for _, code := range slices.Sorted(func(yield func(int) bool) {
		for k := range p.byStatus {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("%d×%d", p.byStatus[code], code))
	}
	if p.errors > 0 {
		parts = append(parts, fmt.Sprintf("%d transport errors", p.errors))
	}
	return "answers " + strings.Join(parts, ", ")
}

type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "no samples"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return fmt.Sprintf("p50 %s p90 %s p99 %s", ms(at(.5)), ms(at(.9)), ms(at(.99)))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// loadClient is a keep-alive client that neither follows redirects nor
// keeps cookies: each request carries exactly the cookies given.
func loadClient(conns int) *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// drive runs clients workers until n requests or the deadline, each calling
// do once per request, and gathers statuses and latencies.
func drive(name string, clients, n int, limit time.Duration, do func(worker, i int) (int, error), isOK func(int) bool) phase {
	var (
		mu    sync.Mutex
		p     = phase{name: name, byStatus: map[int]int{}}
		next  atomic.Int64
		wg    sync.WaitGroup
		start = time.Now()
		stop  = start.Add(limit)
		cpu0  = selfCPU()
	)
	for w := range clients {
		wg.Go(func() {
			var lat latencies
			byStatus := map[int]int{}
			errs := 0
			for time.Now().Before(stop) {
				i := int(next.Add(1))
				if i > n {
					break
				}
				t0 := time.Now()
				status, err := do(w, i)
				d := time.Since(t0)
				if err != nil {
					errs++
					continue
				}
				byStatus[status]++
				lat = append(lat, d)
				if isOK(status) {
					end := time.Since(start)
					mu.Lock()
					p.lastOK = max(p.lastOK, end)
					mu.Unlock()
				}
			}
			mu.Lock()
			p.lat = append(p.lat, lat...)
			for k, v := range byStatus {
				p.byStatus[k] += v
			}
			p.errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	p.elapsed = time.Since(start)
	p.clientCPU = selfCPU() - cpu0
	problemsMu.Lock()
	if p.errors > 0 {
		problems = append(problems, fmt.Sprintf("%s: %d requests got no answer", name, p.errors))
	}
	for code, count := range p.byStatus {
		if code >= 500 && code != http.StatusServiceUnavailable {
			problems = append(problems, fmt.Sprintf("%s: %d answers were %d", name, count, code))
		}
	}
	problemsMu.Unlock()
	for code, count := range p.byStatus {
		if isOK(code) {
			p.ok += count
		}
	}
	return p
}

// anonymous returns a CSRF cookie and its form token, as a browser holds
// them on the Login page.
func anonymous(base string) (*http.Cookie, string, error) {
	c := browser()
	token, err := csrfFrom(c, base+"/login")
	if err != nil {
		return nil, "", err
	}
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		// The app names its cookies per instance: cqrs_csrf-<instance id>.
		if strings.HasPrefix(ck.Name, "cqrs_csrf-") {
			return &http.Cookie{Name: ck.Name, Value: ck.Value}, token, nil
		}
	}
	return nil, "", errors.New("no CSRF cookie")
}

// fixedRequest is one request built once and sent many times, as wrk
// sends a prepared request: the URL is parsed, the form encoded and the
// headers (cookies included) set once, so each request costs the client
// only a body reader and the request value. The header map is shared
// read-only: a client without a jar does not write to it.
type fixedRequest struct {
	method string
	url    *url.URL
	header http.Header
	body   []byte
}

func (f fixedRequest) request() *http.Request {
	req := &http.Request{Method: f.method, URL: f.url, Host: f.url.Host, Header: f.header,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	if f.body != nil {
		req.Body = io.NopCloser(bytes.NewReader(f.body))
		req.ContentLength = int64(len(f.body))
	}
	return req
}

func getRequest(u string, cookies []*http.Cookie) fixedRequest {
	pu, _ := url.Parse(u)
	h := http.Header{}
	if line := cookieLine(cookies); line != "" {
		h.Set("Cookie", line)
	}
	return fixedRequest{method: http.MethodGet, url: pu, header: h}
}

func cookieLine(cookies []*http.Cookie) string {
	var parts []string
	for _, ck := range cookies {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

func signInRequest(base string, csrf *http.Cookie, token, userID, password string) fixedRequest {
	form := url.Values{"csrf_token": {token}, "user_id": {userID}, "password": {password}}
	pu, _ := url.Parse(base + "/login")
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("Cookie", cookieLine([]*http.Cookie{csrf}))
	return fixedRequest{method: http.MethodPost, url: pu, header: h, body: []byte(form.Encode())}
}

func send(c *http.Client, req *http.Request) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// signInPhase drives real legacy sign-ins (right password, so every one
// hashes, writes its session and its audit entry). It stops at n, at the
// time limit, or at the first 429 (the per-address limit).
func signInPhase(base string, clients, n int, limit time.Duration, accounts []string) phase {
	csrf, token, err := anonymous(base)
	if err != nil {
		return phase{name: "sign-in", byStatus: map[int]int{}, elapsed: time.Nanosecond}
	}
	c := loadClient(clients)
	var signIns []fixedRequest
	for _, id := range accounts {
		password := adminPassword
		if id != adminID {
			password = accountPassword
		}
		signIns = append(signIns, signInRequest(base, csrf, token, id, password))
	}
	var limited atomic.Bool
	p := drive("sign-in", clients, n, limit, func(w, _ int) (int, error) {
		if limited.Load() {
			return 0, errors.New("stopped")
		}
		status, err := send(c, signIns[w%len(signIns)].request())
		if status == http.StatusTooManyRequests {
			limited.Store(true)
		}
		return status, err
	}, func(code int) bool { return code == http.StatusSeeOther })
	if limited.Load() {
		p.errors = 0 // the stopped ones were never sent
	}
	return p
}

// pageRounds measures each page cfg.rounds times, the order reversed every
// other round so that a machine speeding up or slowing down during the run
// favours none of them; each page's figures are over all its rounds.
func pageRounds(cfg config, pages []pageSource) []phase {
	out := make([]phase, len(pages))
	for r := range max(cfg.rounds, 1) {
		for k := range pages {
			i := k
			if r%2 == 1 {
				i = len(pages) - 1 - k
			}
			p := pagePhase(pages[i].name, pages[i].url, pages[i].signedIn, cfg)
			out[i] = out[i].add(p)
		}
	}
	return out
}

// add is the two phases' figures together, as if run one after the other.
func (p phase) add(q phase) phase {
	if p.byStatus == nil {
		return q
	}
	p.ok += q.ok
	p.errors += q.errors
	p.elapsed += q.elapsed
	p.lastOK += q.lastOK
	p.clientCPU += q.clientCPU
	p.lat = append(p.lat, q.lat...)
	for code, n := range q.byStatus {
		p.byStatus[code] += n
	}
	return p
}

func pagePhase(name, u string, signedIn *http.Client, cfg config) phase {
	c := loadClient(cfg.clients)
	bare, page := getRequest(u, nil), pageRequest(u, signedIn)
	// Warm the connections and the app before timing.
	drive("warm-up", cfg.clients, cfg.clients*20, time.Second, func(_, _ int) (int, error) {
		return send(c, bare.request())
	}, func(int) bool { return true })
	return drive(name, cfg.clients, cfg.maxRequests, cfg.duration, func(_, _ int) (int, error) {
		return send(c, page.request())
	}, func(code int) bool { return code == http.StatusOK })
}

// pageRequest is a GET of the page as a browser sends it: with the
// session's cookies when signedIn is given, and with the CSRF cookie a
// visitor has from an earlier page for the Login page.
func pageRequest(u string, signedIn *http.Client) fixedRequest {
	var cookies []*http.Cookie
	if signedIn != nil {
		pu, _ := url.Parse(u)
		cookies = signedIn.Jar.Cookies(pu)
	} else if strings.HasSuffix(u, "/login") {
		csrf, _, err := anonymous(strings.TrimSuffix(u, "/login"))
		if err == nil {
			cookies = []*http.Cookie{csrf}
		}
	}
	return getRequest(u, cookies)
}

// pageCopy is one page as the app answered it, for the hello server to
// send again.
type pageCopy struct {
	Name    string      `json:"name"`
	Headers [][2]string `json:"headers"`
	Body    []byte      `json:"body"`
}

// pageSource is a page to copy: signedIn carries the session, or nil for
// a page anyone may ask for.
type pageSource struct {
	name     string
	url      string
	signedIn *http.Client
}

// copyPages asks the app for each page once, as the page phase will, and
// writes its headers and body into dir; it returns the files.
func copyPages(dir string, pages []pageSource) ([]string, error) {
	var files []string
	for _, p := range pages {
		req := pageRequest(p.url, p.signedIn).request()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", p.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("copy %s: %d %v", p.name, resp.StatusCode, err)
		}
		pc := pageCopy{Name: p.name, Body: body}
		for name, values := range resp.Header {
			if name == "Content-Length" || name == "Date" {
				continue // Fiber writes its own
			}
			for _, v := range values {
				pc.Headers = append(pc.Headers, [2]string{name, v})
			}
		}
		b, _ := json.Marshal(pc)
		file := filepath.Join(dir, p.name+".page.json")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			return nil, err
		}
		files = append(files, file)
	}
	return files, nil
}

type helloServer struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	base string
}

func (h *helloServer) stop() { h.in.Close(); h.cmd.Process.Kill(); h.cmd.Wait() }

func startHello(copies ...string) (*helloServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{"-serve-hello", "127.0.0.1:0"}, copies...)...)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		cmd.Process.Kill()
		return nil, fmt.Errorf("hello server: %q %v", line, err)
	}
	return &helloServer{cmd: cmd, in: in, base: strings.TrimSpace(line)}, nil
}

// storm sends n sign-in attempts at once, a third with the right password,
// the rest wrong for a User ID that does not exist (so the administrator is
// not locked), while a prober times the Login page; it reports every
// answer and the server's peak memory.
func storm(s *server, n int) {
	csrf, token, err := anonymous(s.base)
	if err != nil {
		fmt.Println("storm:", err)
		return
	}
	before := procMem(s.cmd.Process.Pid, "VmHWM")
	c := loadClient(n)
	ctx, cancel := context.WithCancel(context.Background())
	probe := make(chan latencies)
	go func() {
		var lat latencies
		pc := loadClient(1)
		login := getRequest(s.base+"/login", []*http.Cookie{csrf})
		for i := 0; i < 100_000 && ctx.Err() == nil; i++ {
			t0 := time.Now()
			if status, err := send(pc, login.request()); err == nil && status == 200 {
				lat = append(lat, time.Since(t0))
			}
			time.Sleep(5 * time.Millisecond)
		}
		probe <- lat
	}()
	var retryAfter atomic.Int64
	right := signInRequest(s.base, csrf, token, adminID, adminPassword)
	wrong := signInRequest(s.base, csrf, token, "no.such.user", wrongPassword)
	p := drive("storm", n, n, 60*time.Second, func(_, i int) (int, error) {
		req := right.request()
		if i%3 != 0 {
			req = wrong.request()
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
			retryAfter.Add(1)
		}
		return resp.StatusCode, nil
	}, func(code int) bool { return code == http.StatusSeeOther || code == http.StatusUnauthorized })
	cancel()
	lat := <-probe
	fmt.Printf("\nstorm: %d concurrent sign-in attempts (1/3 right): %d answered in %.1fs; %s (%d busy answers carried Retry-After)\n",
		n, len(p.lat), p.elapsed.Seconds(), p.statuses(), retryAfter.Load())
	fmt.Printf("  sign-in latency %s; %s\n", p.lat, p.cpu())
	fmt.Printf("  Login page meanwhile (one prober): %s\n", lat)
	fmt.Printf("  server peak RSS: %s before the storm, %s after\n", before, procMem(s.cmd.Process.Pid, "VmHWM"))
	leaveAndCountQueries(s, n/4, 200*time.Millisecond, 5*time.Second)
}

// procMem reads a line of /proc/PID/status (Linux only).
func procMem(pid int, field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "n/a"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "n/a"
}

// timeStart starts the app on the existing database at a port chosen in
// advance and times it to the first 200 from /login; with rss it also waits
// 3 s and reads the resident memory.
func timeStart(bin string, args []string, path string, extra []string, rss bool) (time.Duration, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	hello := len(args) > 0 && args[0] == "-serve-hello"
	if hello {
		args = []string{"-serve-hello", addr}
	} else {
		args = append(append(slices.Clone(args), "--addr", addr), extra...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "CQRS_SMTP_HOST="), appEnv...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if hello {
		// The hello server stops when its stdin closes.
		in, err := cmd.StdinPipe()
		if err != nil {
			return 0, "", err
		}
		defer in.Close()
	}
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, "", err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	var took time.Duration
	for i := 0; ; i++ {
		if time.Since(start) > 10*time.Second {
			return 0, "", errors.New("no 200 from /login within 10 s")
		}
		select {
		case <-done:
			return 0, "", errors.New("the app exited")
		default:
		}
		resp, err := c.Get("http://" + addr + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				took = time.Since(start)
				break
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	mem := ""
	if rss {
		time.Sleep(3*time.Second - time.Since(start))
		mem = procMem(cmd.Process.Pid, "VmRSS")
	}
	return took, mem, nil
}

package main

import (
	"bufio"
	"errors"
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The classroom check (-classroom N): the built binary in training mode,
// N learners walking the job aid at once over HTTP while the trainer's
// class board is open and fetching its live part twice a second, as htmx
// does in the trainer's browser. It reports whether every request was
// answered, how long each learner's step took to reach the board, and the
// server's memory.
//
// Each learner comes from an address of their own (127.0.0.2, 127.0.0.3 …,
// all loopback on Linux), as in a room of computers, so the per-address
// limits on starting learners and signing in apply to each alone.

const classroomPassword = "Harbour!2026x"

var (
	trainerLineRE = regexp.MustCompile(`Trainer sign-in: User ID (\S+), password (\S+)`)
	joinCodeRE    = regexp.MustCompile(`data-testid="join-code">([A-Z0-9]+)<`)
	learnerIDRE   = regexp.MustCompile(`data-testid="learner-user-id">([^<]+)<`)
	emailLinkRE   = regexp.MustCompile(`href="(/training/mailbox/\d+)"`)
	registerRE    = regexp.MustCompile(`href="(https?://[^"]+/register\?token=[^"]+)"`)
)

// classroomServer starts the binary with --demo and reads the trainer's
// sign-in from its console.
func classroomServer(bin, data string) (*server, string, error) {
	args := []string{"--demo", "--no-browser", "--addr", "127.0.0.1:0", "--data", data, "--signin-rate-limit=0"}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), appEnv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	type ready struct{ base, password string }
	found := make(chan ready, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var r ready
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if m := trainerLineRE.FindStringSubmatch(line); m != nil {
				r.password = m[2]
			}
			if strings.HasPrefix(line, "CQRS is running at ") {
				r.base = strings.Fields(strings.TrimPrefix(line, "CQRS is running at "))[0]
			}
			if r.base != "" && r.password != "" {
				found <- r
				r = ready{base: "done"}
			}
		}
		close(found)
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case r, ok := <-found:
		if !ok {
			return nil, "", errors.New("the app exited before printing its address and the trainer's sign-in")
		}
		s.base = r.base
		return s, r.password, nil
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, "", errors.New("the app printed no address within 20 s")
	}
}

// fromAddress is a browser whose connections leave from ip.
func fromAddress(ip string) *http.Client {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// tally counts every request of the check by answer.
type tally struct {
	mu       sync.Mutex
	byStatus map[int]int
	failed   []string
}

func (t *tally) add(what string, status int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failed = append(t.failed, what+": "+err.Error())
		return
	}
	t.byStatus[status]++
	if status >= 500 && status != http.StatusServiceUnavailable {
		t.failed = append(t.failed, fmt.Sprintf("%s: %d", what, status))
	}
}

// fetch does one request and returns its final answer's status and body;
// redirects are followed as a browser does.
func (t *tally) fetch(c *http.Client, what, method, u string, form url.Values) (int, string, *url.URL, error) {
	var (
		resp *http.Response
		err  error
	)
	if method == http.MethodPost {
		resp, err = c.PostForm(u, form)
	} else {
		resp, err = c.Get(u)
	}
	if err != nil {
		t.add(what, 0, err)
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	t.add(what, resp.StatusCode, nil)
	return resp.StatusCode, string(b), resp.Request.URL, nil
}

func tokenIn(body string) string {
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// walkClassroom is one learner: join, mailbox, registration email,
// Security Information, a wrong password, then the message centre. It
// returns their User ID and when the message centre answered.
func walkClassroom(t *tally, base, code string, n int) (string, time.Time, error) {
	c := fromAddress(fmt.Sprintf("127.0.0.%d", n+2))
	step := func(what, method, path string, form url.Values, want int) (string, *url.URL, error) {
		u := path
		if strings.HasPrefix(path, "/") {
			u = base + path
		}
		status, body, at, err := t.fetch(c, what, method, u, form)
		// "Busy, try again" (the password hashes in flight are bounded): a
		// person waits a moment and presses again.
		for try := 0; err == nil && status == http.StatusServiceUnavailable && try < 10; try++ {
			time.Sleep(time.Second)
			status, body, at, err = t.fetch(c, what+" (again after busy)", method, u, form)
		}
		if err != nil {
			return "", nil, err
		}
		if status != want {
			return "", nil, fmt.Errorf("%s: %d, want %d\n%.300s", what, status, want, body)
		}
		return body, at, nil
	}
	body, _, err := step("join page", http.MethodGet, "/join?code="+code, nil, 200)
	if err != nil {
		return "", time.Time{}, err
	}
	body, _, err = step("join", http.MethodPost, "/join", url.Values{"csrf_token": {tokenIn(body)}, "code": {code},
		"name": {fmt.Sprintf("Learner %02d", n+1)}, "take": {"name"}}, 200)
	if err != nil {
		return "", time.Time{}, err
	}
	m := learnerIDRE.FindStringSubmatch(body)
	if m == nil {
		return "", time.Time{}, errors.New("join: no learner User ID on the page")
	}
	id := m[1]
	if body, _, err = step("mailbox", http.MethodGet, "/training/mailbox", nil, 200); err != nil {
		return id, time.Time{}, err
	}
	if m = emailLinkRE.FindStringSubmatch(body); m == nil {
		return id, time.Time{}, errors.New("mailbox: no email")
	}
	if body, _, err = step("registration email", http.MethodGet, m[1], nil, 200); err != nil {
		return id, time.Time{}, err
	}
	if m = registerRE.FindStringSubmatch(body); m == nil {
		return id, time.Time{}, errors.New("registration email: no link")
	}
	link := strings.ReplaceAll(m[1], "&amp;", "&")
	if body, _, err = step("Security Information", http.MethodGet, link, nil, 200); err != nil {
		return id, time.Time{}, err
	}
	if _, _, err = step("a password too short", http.MethodPost, "/register", url.Values{"csrf_token": {tokenIn(body)}, "password": {"Ab1!"}, "confirm_password": {"Ab1!"}}, 422); err != nil {
		return id, time.Time{}, err
	}
	if _, _, err = step("register", http.MethodPost, "/register", url.Values{"csrf_token": {tokenIn(body)}, "password": {classroomPassword}, "confirm_password": {classroomPassword}}, 200); err != nil {
		return id, time.Time{}, err
	}
	if body, _, err = step("Login page", http.MethodGet, "/login", nil, 200); err != nil {
		return id, time.Time{}, err
	}
	if _, _, err = step("wrong password", http.MethodPost, "/login", url.Values{"csrf_token": {tokenIn(body)}, "user_id": {id}, "password": {"Wrong#2026x"}}, 401); err != nil {
		return id, time.Time{}, err
	}
	if _, _, err = step("sign in", http.MethodPost, "/login", url.Values{"csrf_token": {tokenIn(body)}, "user_id": {id}, "password": {classroomPassword}}, 200); err != nil {
		return id, time.Time{}, err
	}
	return id, time.Now(), nil
}

// boardPoll is one fetch of the board's live part.
type boardPoll struct {
	done time.Time
	took time.Duration
	body string
}

// stepOn is the step the board shows for the learner in a fetch of its
// live part, "" when the learner has no row.
func stepOn(body, userID string) string {
	i := strings.Index(body, `data-testid="board-row-`+userID+`"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	const cell = `data-testid="board-step">`
	j := strings.Index(rest, cell)
	if j < 0 {
		return ""
	}
	rest = rest[j+len(cell):]
	return rest[:strings.IndexByte(rest, '<')]
}

func runClassroom(cfg config, learners int) error {
	if learners < 1 || learners > 250 {
		return errors.New("-classroom takes 1 to 250 learners (one loopback address each)")
	}
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cqrs-classroom-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, password, err := classroomServer(bin, filepath.Join(dir, "training.db"))
	if err != nil {
		return err
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid
	fmt.Printf("classroom check — %d learners at once, the class board open; binary %s at %s\n", learners, cfg.bin, srv.base)
	t := &tally{byStatus: map[int]int{}}

	// The trainer signs in and opens the board.
	trainer := browser()
	status, body, _, err := t.fetch(trainer, "trainer's Login page", http.MethodGet, srv.base+"/login", nil)
	if err != nil || status != 200 {
		return fmt.Errorf("trainer's Login page: %d %v", status, err)
	}
	if status, _, _, err = t.fetch(trainer, "trainer signs in", http.MethodPost, srv.base+"/login",
		url.Values{"csrf_token": {tokenIn(body)}, "user_id": {"trainer"}, "password": {password}}); err != nil || status != 200 {
		return fmt.Errorf("trainer sign-in: %d %v", status, err)
	}
	_, body, _, err = t.fetch(trainer, "join screen", http.MethodGet, srv.base+"/training/board/join", nil)
	m := joinCodeRE.FindStringSubmatch(body)
	if err != nil || m == nil {
		return fmt.Errorf("join screen: no class code (%v)", err)
	}
	code := m[1]
	fmt.Printf("server RSS with the board open, before the class: %s\n", procMem(pid, "VmRSS"))

	// The board's live part, twice a second, as htmx fetches it.
	var (
		polls   []boardPoll
		pollsMu sync.Mutex
		stop    atomic.Bool
		pollWG  sync.WaitGroup
	)
	pollWG.Go(func() {
		for !stop.Load() {
			t0 := time.Now()
			status, body, _, err := t.fetch(trainer, "board", http.MethodGet, srv.base+"/training/board/rows", nil)
			if err == nil && status == 200 {
				pollsMu.Lock()
				polls = append(polls, boardPoll{done: time.Now(), took: time.Since(t0), body: body})
				pollsMu.Unlock()
			}
			time.Sleep(500*time.Millisecond - time.Since(t0))
		}
	})

	// Every learner at once.
	type result struct {
		id     string
		signed time.Time
		err    error
	}
	results := make([]result, learners)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range learners {
		wg.Go(func() {
			id, at, err := walkClassroom(t, srv.base, code, i)
			results[i] = result{id, at, err}
		})
	}
	wg.Wait()
	walked := time.Since(start)
	time.Sleep(1500 * time.Millisecond) // the board's next fetches
	stop.Store(true)
	pollWG.Wait()

	// Board latency: from a learner's message centre answering to the first
	// board fetch showing them on its step.
	var lags, fetches []time.Duration
	var walkErrs []string
	for _, r := range results {
		if r.err != nil {
			walkErrs = append(walkErrs, r.id+": "+r.err.Error())
			continue
		}
		seen := false
		for _, p := range polls {
			if p.done.After(r.signed) && stepOn(p.body, r.id) == "SSO 3" {
				lags = append(lags, p.done.Sub(r.signed))
				seen = true
				break
			}
		}
		if !seen {
			walkErrs = append(walkErrs, r.id+": never shown on SSO 3")
		}
	}
	for _, p := range polls {
		fetches = append(fetches, p.took)
	}
	slices.Sort(lags)
	slices.Sort(fetches)
	total := 0
	for _, n := range t.byStatus {
		total += n
	}
	var codes []string
	for _, c := range slices.Sorted(mapKeys(t.byStatus)) {
		codes = append(codes, fmt.Sprintf("%d×%d", t.byStatus[c], c))
	}
	fmt.Printf("%d learners walked in %.2fs: %d requests answered (%s), %d unanswered or server errors\n",
		learners, walked.Seconds(), total, strings.Join(codes, ", "), len(t.failed))
	for _, f := range t.failed {
		fmt.Println("  problem:", f)
		problemsMu.Lock()
		problems = append(problems, f)
		problemsMu.Unlock()
	}
	for _, e := range walkErrs {
		fmt.Println("  learner:", e)
		problemsMu.Lock()
		problems = append(problems, e)
		problemsMu.Unlock()
	}
	if len(lags) > 0 {
		fmt.Printf("board update latency (message centre answered → board shows SSO 3), %d learners: p50 %s, p90 %s, max %s\n",
			len(lags), ms(lags[len(lags)/2]), ms(lags[len(lags)*9/10]), ms(lags[len(lags)-1]))
	}
	if len(fetches) > 0 {
		fmt.Printf("board live part: %d fetches, p50 %s, max %s each\n", len(fetches), ms(fetches[len(fetches)/2]), ms(fetches[len(fetches)-1]))
	}
	fmt.Printf("server memory: RSS %s now, peak %s\n", procMem(pid, "VmRSS"), procMem(pid, "VmHWM"))
	srv.cmd.Process.Signal(syscall.SIGTERM)
	return nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tests of the built binary as a process: flags, the single-instance
// hand-over, the locked data file and a clean exit on SIGTERM.

// result is how a finished process ended.
type result struct {
	code           int
	stdout, stderr string
}

// runBinary runs the binary to completion within timeout.
func runBinary(t *testing.T, timeout time.Duration, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd := command(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not exit within %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), args, timeout, stdout.String(), stderr.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %s: %v", bin, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// healthz asks an instance who it is.
func healthz(baseURL string) (status int, service string, err error) {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(baseURL + "/healthz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Service string `json:"service"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body); err != nil {
		return resp.StatusCode, "", err
	}
	return resp.StatusCode, body.Service, nil
}

func TestVersionAndHelp(t *testing.T) {
	bin := appBinary(t)

	r := runBinary(t, 10*time.Second, bin, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "cqrs-signin ") {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = runBinary(t, 10*time.Second, bin, "--help")
	if r.code != 0 {
		t.Errorf("--help: exit %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	help := r.stdout + r.stderr
	for _, env := range []string{"CQRS_ADDR", "CQRS_DATA", "CQRS_NO_BROWSER"} {
		if !strings.Contains(help, env) {
			t.Errorf("--help does not mention %s:\n%s", env, help)
		}
	}
}

func TestBinarySingleInstanceAndSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sends SIGTERM, which Windows does not have")
	}
	bin := appBinary(t)
	data := filepath.Join(t.TempDir(), "cqrs.db")
	args := []string{"--no-browser", "--addr", "127.0.0.1:0", "--data", data}

	// The first instance serves.
	first := command(context.Background(), bin, args...)
	var stderr strings.Builder
	first.Stderr = &stderr
	stdout, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waited := false
	t.Cleanup(func() {
		// Only when the test stopped before the first instance exited.
		if !waited {
			first.Process.Kill()
			<-exited
		}
	})

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		// Wait only once stdout is drained, as StdoutPipe requires.
		exited <- first.Wait()
	}()
	var baseURL string
	timeout := time.After(10 * time.Second)
	for baseURL == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("first instance stopped before it was running\nstderr:\n%s", stderr.String())
			}
			if rest, found := strings.CutPrefix(line, "CQRS is running at "); found {
				baseURL, _, _ = strings.Cut(rest, " ")
			}
		case <-timeout:
			t.Fatal("first instance did not print its address within 10s")
		}
	}
	go func() {
		for range lines { // keep the pipe flowing until it closes
		}
	}()
	if status, service, err := healthz(baseURL); err != nil || status != http.StatusOK || service != "cqrs-signin" {
		t.Fatalf("GET %s/healthz: status %d, service %q, err %v", baseURL, status, service, err)
	}

	// A second launch on the same data file hands over to the first and
	// exits instead of serving.
	r := runBinary(t, 10*time.Second, bin, args...)
	if r.code != 0 {
		t.Errorf("second instance: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "already running") || !strings.Contains(r.stdout, baseURL) {
		t.Errorf("second instance stdout should say CQRS is already running at %s:\n%s", baseURL, r.stdout)
	}
	if strings.Contains(r.stdout, "CQRS is running at") {
		t.Errorf("second instance started a server of its own:\n%s", r.stdout)
	}
	if status, service, err := healthz(baseURL); err != nil || status != http.StatusOK || service != "cqrs-signin" {
		t.Errorf("first instance stopped answering after the second launch: status %d, service %q, err %v", status, service, err)
	}

	// SIGTERM stops the first cleanly and removes its instance record.
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Errorf("first instance after SIGTERM: %v (exit %d)\nstderr:\n%s", err, first.ProcessState.ExitCode(), stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first instance did not exit within 10s of SIGTERM")
	}
	if _, err := os.Stat(data + ".instance"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance file %s.instance still there after exit (stat: %v)", data, err)
	}
}

func TestLockedDataFileWithNothingAnswering(t *testing.T) {
	bin := appBinary(t)
	data := filepath.Join(t.TempDir(), "cqrs.db")

	// Another process holds the file (bbolt's lock) and the instance record
	// points at an address where nothing answers.
	db, err := bolt.Open(data, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rec, _ := json.Marshal(map[string]any{"url": "http://127.0.0.1:1", "pid": os.Getpid()})
	if err := os.WriteFile(data+".instance", rec, 0o600); err != nil {
		t.Fatal(err)
	}

	r := runBinary(t, 15*time.Second, bin, "--no-browser", "--addr", "127.0.0.1:0", "--data", data)
	if r.code == 0 {
		t.Errorf("exit 0 on a locked data file with nothing answering\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "locked") {
		t.Errorf("stderr does not say the file is locked:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "CQRS is running at") {
		t.Errorf("started a server on a locked data file:\n%s", r.stdout)
	}
}

// TestRestartWritesNothing starts the app again on a database it has set
// up and checks that the start wrote nothing to the file: a start reads
// its keys and schema, and each write it made would wait for the disk
// twice (issue 17's start-up; on a slow disk those waits were most of it).
// bbolt's transaction ID, read from the file while no app holds it, moves
// with every committed write.
func TestRestartWritesNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "cqrs.db")
	args := []string{"--no-browser", "--addr", "127.0.0.1:0", "--data", data}
	base := func(p *appProcess) string {
		var url string
		p.waitUntil(10*time.Second, func(out string) bool {
			m := runningLineRE.FindStringSubmatch(out)
			if m != nil {
				url = m[1]
			}
			return m != nil
		})
		return url
	}

	first := startProcess(t, args)
	url := base(first)
	setup := setupLineRE.FindStringSubmatch(first.Stdout.String())
	if setup == nil {
		t.Fatalf("no set-up link:\n%s", first.Stdout.String())
	}
	setUpOverHTTP(t, url, setup[1])
	first.stop()
	before := fileTxID(t, data)

	second := startProcess(t, args)
	url = base(second)
	resp, err := http.Get(url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the Login page after the restart: %d", resp.StatusCode)
	}
	// The mail sender's first look at the outbox comes at start, beside
	// the first page; give it the time it takes.
	time.Sleep(500 * time.Millisecond)
	second.stop()
	if after := fileTxID(t, data); after != before {
		t.Errorf("the restart wrote %d transactions to the database file, want none", after-before)
	}
}

// fileTxID is the last committed transaction of the bbolt file at path.
func fileTxID(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int
	db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	return id
}

// setUpOverHTTP completes the first-run set-up and the administrator's
// Security Information screen with plain HTTP requests, as the load
// command does, then signs in, for tests that need a set-up database but
// no browser.
func setUpOverHTTP(t *testing.T, base, setupURL string) {
	t.Helper()
	admin := newPerson(t)
	if status, body := admin.submit(setupURL, base+"/setup", url.Values{"user_id": {"restart.admin"}, "first_name": {"Rita"},
		"last_name": {"Start"}, "email": {"restart.admin@nhs.net"}, "org_name": {"Restart Practice"}, "ods_code": {"R00001"}}); status != http.StatusOK {
		t.Fatalf("the set-up form: %d\n%.500s", status, body)
	}
	const password = "Riverside#2026q"
	if status, body := admin.submit(base+"/register", base+"/register", url.Values{"password": {password}, "confirm_password": {password}}); status != http.StatusOK {
		t.Fatalf("the Security Information screen: %d\n%.500s", status, body)
	}
	if status, body := newPerson(t).signIn(base, "restart.admin", password); status != http.StatusOK || !strings.Contains(body, `data-testid="message-centre-heading"`) {
		t.Fatalf("signing in after the set-up: %d\n%.500s", status, body)
	}
}

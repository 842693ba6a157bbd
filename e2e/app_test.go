package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// How the tests start the app: as people do, the real binary, built once
// per test run, with flags and a clean environment, its output read from
// pipes, stopped with an interrupt (Ctrl+C).

// repoRoot is the repository root, relative to this package's directory
// (where go test runs): the main package, the README, node_modules and
// screenshots are there.
const repoRoot = ".."

var (
	binaryDir   string // a temporary directory for the binary, removed by TestMain
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cqrs-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binaryDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool is the go command that runs these tests, else the one on PATH.
func goTool(t *testing.T) string {
	t.Helper()
	name := "go"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", name); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the binary: %v", err)
	}
	return p
}

// appBinary builds the app from the repository root on the first call of
// the run (pure Go, as released) and returns its path; a failed build
// fails every test that asks for it.
func appBinary(t *testing.T) string {
	t.Helper()
	gocmd := goTool(t)
	buildOnce.Do(func() {
		if buildErr = consultSources(); buildErr != nil {
			return
		}
		bin := filepath.Join(binaryDir, "cqrs-signin")
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
		// Minutes, not seconds: the first build of a run may compile
		// everything on a busy machine.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, gocmd, "build", "-o", bin, ".")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		builtBinary = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBinary
}

// consultSources looks at every file the build may read (its size and
// time), so that go test's result cache, which cannot see into the go
// build these tests run, sees them: a change to the app then runs the
// tests again instead of replaying a result for the old binary.
func consultSources() error {
	return filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "bin", "dist", ".task", "screenshots", "e2e":
				return filepath.SkipDir // not read by the build, or part of this test binary
			}
			return nil
		}
		_, err = os.Stat(path)
		return err
	})
}

// cleanEnv is this process's environment without the app's own variables,
// so a developer's settings do not change what the tests see.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CQRS_") {
			env = append(env, kv)
		}
	}
	return env
}

// command prepares the binary with a clean environment.
func command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv()
	endWithTests(cmd)
	return cmd
}

// appProcess is the app's binary serving, started by startProcess.
type appProcess struct {
	t              *testing.T
	cmd            *exec.Cmd
	Stdout, Stderr *syncBuffer
	exited         chan struct{} // closed once the process has exited
	waitErr        error         // Wait's answer, set before exited closes
	stopOnce       sync.Once
}

// startProcess starts the binary with args and a clean environment. The
// process is stopped when the test ends (see stop).
func startProcess(t *testing.T, args []string) *appProcess {
	t.Helper()
	p := &appProcess{t: t, Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = command(context.Background(), appBinary(t), args...)
	// Writers that are not files: exec reads the output from pipes.
	p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
	// Should a child keep the pipes open, Wait does not hang on them.
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.cmd.Path, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop interrupts the process as Ctrl+C does (on Windows, which has no
// such signal to send, it kills it) and fails the test unless it exits
// cleanly within 15s. Calls after the first do nothing.
func (p *appProcess) stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			if p.waitErr != nil {
				p.t.Errorf("the app stopped with %v\nstderr:\n%s", p.waitErr, p.Stderr.String())
			}
			return
		default:
		}
		if runtime.GOOS == "windows" {
			p.cmd.Process.Kill()
			<-p.exited
			return
		}
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.t.Errorf("interrupting the app: %v", err)
		}
		select {
		case <-p.exited:
			if p.waitErr != nil {
				p.t.Errorf("the app exited with %v after an interrupt\nstderr:\n%s", p.waitErr, p.Stderr.String())
			}
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
			p.t.Errorf("the app did not exit within 15s of an interrupt\nstdout:\n%s", p.Stdout.String())
		}
	})
}

// waitUntil waits up to within until ready accepts what the process has
// printed, and fails the test if it exits first or takes longer.
func (p *appProcess) waitUntil(within time.Duration, ready func(stdout string) bool) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for !ready(p.Stdout.String()) {
		select {
		case <-p.exited:
			p.stopOnce.Do(func() {}) // nothing left to stop
			p.t.Fatalf("the app stopped early: %v\nstdout:\n%s\nstderr:\n%s", p.waitErr, p.Stdout.String(), p.Stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("app was not ready within %s\nstdout:\n%s\nstderr:\n%s", within, p.Stdout.String(), p.Stderr.String())
		}
	}
}

// runApp starts the app with args, as a person would from a terminal, and
// waits up to within until ready accepts what it has printed. Cleanup
// stops it and fails the test unless it exits cleanly.
func runApp(t *testing.T, args []string, within time.Duration, ready func(stdout string) bool) (stdout, stderr *syncBuffer) {
	t.Helper()
	p := startProcess(t, args)
	p.waitUntil(within, ready)
	return p.Stdout, p.Stderr
}

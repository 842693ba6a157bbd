package e2e

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// heavyAtStart are packages whose initialisation costs every start more
// than the first page needs them (issue 28), with what brought them in.
// Each is measured in BENCHMARKS.md; none may come back unnoticed.
var heavyAtStart = map[string]string{
	"github.com/rivo/uniseg":               "go-runewidth before v0.0.17, under Fiber: 0.5-1 ms and 22 KB of maps",
	"github.com/trustelem/zxcvbn/matching": "the strength estimator's dictionaries: 30 ms and 10 MB",
}

// TestStartInitialisesLightly reads the app's package initialisation
// (GODEBUG=inittrace=1) on a real start: none of heavyAtStart runs, and
// what the packages allocate before main stays small. Allocations, not
// times: they do not move with the machine's load.
func TestStartInitialisesLightly(t *testing.T) {
	bin := appBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Package initialisation is the same whatever the command line, and
	// --help then exits at once, closing stderr.
	cmd := command(ctx, bin, "--help")
	cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	// Every init line is written before main runs; the first line that is
	// not one (the app's own log) ends them.
	var packages, bytes, allocs int
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		// init <package> @<t> ms, <t> ms clock, <n> bytes, <n> allocs
		f := strings.Fields(line)
		if len(f) != 11 || f[0] != "init" {
			if packages > 0 {
				break
			}
			continue
		}
		packages++
		if why, heavy := heavyAtStart[strings.ReplaceAll(f[1], "%2e", ".")]; heavy {
			t.Errorf("%s initialises at every start (%s)", f[1], why)
		}
		n, err1 := strconv.Atoi(f[7])
		m, err2 := strconv.Atoi(f[9])
		if err1 != nil || err2 != nil {
			t.Fatalf("unreadable init line %q", line)
		}
		bytes += n
		allocs += m
	}
	if packages == 0 {
		t.Fatalf("no init lines on stderr (%v)", sc.Err())
	}
	t.Logf("%d packages initialised: %d bytes in %d allocations", packages, bytes, allocs)
	// 162 packages, 290 KB in 2,018 allocations before issue 28's second
	// round; 165 packages, 270 KB in 1,987 after it (uniseg gone; the
	// NHSmail simulator's zitadel/oidc op package, with encoding/gob and
	// OpenTelemetry, kept: see BENCHMARKS.md). Passkeys (issue 29) add
	// go-webauthn, which Go initialises at every start: 180 packages,
	// 330 KB in 2,659 allocations, of which go-webauthn's protocol package
	// (its tables of countries and attestation formats) 53 KB in 424 and
	// its dependencies (go-tpm, cbor, jwt, secp256k1) 15 KB in 253.
	if bytes > 345<<10 || allocs > 2750 {
		t.Errorf("package initialisation allocates %d bytes in %d allocations, want at most 345 KiB in 2750", bytes, allocs)
	}
}

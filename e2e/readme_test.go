package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The README is the definition of done: every flag and subcommand it
// names exists, and every screenshot it shows is in the repository.
func TestREADMEPromisesExist(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	bin := appBinary(t)
	r := runBinary(t, 10*time.Second, bin, "--help")
	help := r.stdout + r.stderr
	for _, flag := range regexp.MustCompile("`(--[a-z][a-z-]+)").FindAllStringSubmatch(string(readme), -1) {
		if name := flag[1]; name != "--help" && !strings.Contains(help, "-"+strings.TrimPrefix(name, "--")+" ") && !strings.Contains(help, "-"+strings.TrimPrefix(name, "--")+"\n") {
			t.Errorf("the README names %s, which --help does not list", name)
		}
	}
	// The test suite's own settings are the tests' promise, not the app's:
	// the harness that reads each must name it.
	testSettings := map[string]string{"CQRS_TEST_ENGINE": "handlers/harness_test.go"}
	for env, reader := range testSettings {
		src, err := os.ReadFile(filepath.Join(repoRoot, reader))
		if err != nil || !strings.Contains(string(src), env) {
			t.Errorf("the README's test setting $%s is not read by %s", env, reader)
		}
	}
	for _, env := range regexp.MustCompile(`CQRS_[A-Z_]+`).FindAllString(string(readme), -1) {
		if _, ok := testSettings[env]; ok {
			continue
		}
		if !strings.Contains(help, env) {
			t.Errorf("the README names $%s, which --help does not list", env)
		}
	}
	for _, sc := range []string{"backup", "restore", "check", "setup-link", "reset-second-factor"} {
		if !strings.Contains(string(readme), "cqrs-signin "+sc) {
			t.Errorf("the README does not show the %s subcommand", sc)
		}
		if r := runBinary(t, 10*time.Second, bin, sc, "--help"); r.code != 0 && !strings.Contains(r.stdout+r.stderr, "Usage:") {
			t.Errorf("%s --help: exit %d\n%s", sc, r.code, r.stdout+r.stderr)
		}
	}
	for _, img := range regexp.MustCompile(`\((screenshots/[^)]+\.png)\)`).FindAllStringSubmatch(string(readme), -1) {
		if _, err := os.Stat(filepath.Join(repoRoot, img[1])); err != nil {
			t.Errorf("the README shows %s, which is missing", img[1])
		}
	}
}

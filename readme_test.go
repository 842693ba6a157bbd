package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README is the definition of done: every flag and subcommand it
// names exists, and every screenshot it shows is in the repository.
func TestREADMEPromisesExist(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	help, _ := runCmd(t, "--help")
	for _, flag := range regexp.MustCompile("`(--[a-z][a-z-]+)").FindAllStringSubmatch(string(readme), -1) {
		if name := flag[1]; name != "--help" && !strings.Contains(help, "-"+strings.TrimPrefix(name, "--")+" ") && !strings.Contains(help, "-"+strings.TrimPrefix(name, "--")+"\n") {
			t.Errorf("the README names %s, which --help does not list", name)
		}
	}
	for _, env := range regexp.MustCompile(`CQRS_[A-Z_]+`).FindAllString(string(readme), -1) {
		if !strings.Contains(help, env) {
			t.Errorf("the README names $%s, which --help does not list", env)
		}
	}
	for _, sc := range []string{"backup", "restore", "check"} {
		if !strings.Contains(string(readme), "cqrs-signin "+sc) {
			t.Errorf("the README does not show the %s subcommand", sc)
		}
		if out, err := runCmd(t, sc, "--help"); err != nil && !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: %v\n%s", sc, err, out)
		}
	}
	for _, img := range regexp.MustCompile(`\((screenshots/[^)]+\.png)\)`).FindAllStringSubmatch(string(readme), -1) {
		if _, err := os.Stat(img[1]); err != nil {
			t.Errorf("the README shows %s, which is missing", img[1])
		}
	}
}

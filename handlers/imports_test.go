package handlers

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// modulePath is this module's import path.
const modulePath = "github.com/cqrs-local/cqrs-signin"

// TestHandlersDoNotImportTheSimulator: the app reaches the embedded NHSmail
// simulator only through what main passes in (Deps.NHSmail, an
// NHSmailSimulator), so nothing handlers builds on, directly or through
// another of this module's packages, imports package nhsmail: the same
// answer as `go list -deps ./handlers | grep nhsmail`, which must print
// nothing.
func TestHandlersDoNotImportTheSimulator(t *testing.T) {
	const simulator = modulePath + "/nhsmail"
	seen := map[string]string{} // package: the package that imports it
	var walk func(path, from string)
	walk = func(path, from string) {
		if _, ok := seen[path]; ok {
			return
		}
		seen[path] = from
		dir := filepath.Join("..", strings.TrimPrefix(strings.TrimPrefix(path, modulePath), "/"))
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, imp := range pkg.Imports { // the package's own files, not its tests
			if imp == modulePath || strings.HasPrefix(imp, modulePath+"/") {
				walk(imp, path)
			}
		}
	}
	walk(modulePath+"/handlers", "")
	if from, ok := seen[simulator]; ok {
		chain := simulator
		for p := from; p != ""; p = seen[p] {
			chain = p + " -> " + chain
		}
		t.Errorf("handlers depends on the NHSmail simulator: %s", chain)
	}
	if len(seen) < 3 {
		t.Errorf("walked only %v: the walk is broken", seen)
	}
}

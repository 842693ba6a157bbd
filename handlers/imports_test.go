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
	if chain := importChain(t, modulePath+"/handlers", modulePath+"/nhsmail"); chain != "" {
		t.Errorf("handlers depends on the NHSmail simulator: %s", chain)
	}
}

// TestTrainingDoesNotImportHandlers: handlers registers training mode's
// routes, so training reaches the app only through what handlers hands it
// (training.Host): nothing training builds on is package handlers (the
// same answer as `go list -deps ./training | grep handlers`).
func TestTrainingDoesNotImportHandlers(t *testing.T) {
	if chain := importChain(t, modulePath+"/training", modulePath+"/handlers"); chain != "" {
		t.Errorf("training depends on handlers: %s", chain)
	}
}

// importChain is how package from depends on package to, directly or
// through another of this module's packages ("from -> x -> to"), reading
// each package's own files, not its tests; "" when it does not.
func importChain(t *testing.T, from, to string) string {
	t.Helper()
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
	walk(from, "")
	if len(seen) < 3 {
		t.Fatalf("walked only %v from %s: the walk is broken", seen, from)
	}
	by, ok := seen[to]
	if !ok {
		return ""
	}
	chain := to
	for p := by; p != ""; p = seen[p] {
		chain = p + " -> " + chain
	}
	return chain
}

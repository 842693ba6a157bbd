package training

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// modulePath is this module's import path.
const modulePath = "github.com/cqrs-local/cqrs-signin"

// TestTrainingDoesNotImportHandlers: handlers registers training mode's
// routes, so training reaches the app only through what handlers hands it
// (Host): nothing training builds on, directly or through another of this
// module's packages, is package handlers. The same answer as
// `go list -deps ./training | grep handlers`, which must print nothing.
func TestTrainingDoesNotImportHandlers(t *testing.T) {
	const handlers = modulePath + "/handlers"
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
	walk(modulePath+"/training", "")
	if from, ok := seen[handlers]; ok {
		chain := handlers
		for p := from; p != ""; p = seen[p] {
			chain = p + " -> " + chain
		}
		t.Errorf("training depends on handlers: %s", chain)
	}
	if len(seen) < 3 {
		t.Errorf("walked only %v: the walk is broken", seen)
	}
}

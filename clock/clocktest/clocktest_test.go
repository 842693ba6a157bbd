package clocktest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestClockMovesOnlyWhenMoved(t *testing.T) {
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	c := New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	var wg sync.WaitGroup
	for range 4 { // moved and read from several goroutines, as the code under test does
		wg.Go(func() { c.Advance(time.Hour); c.Now() })
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(4*time.Hour); !got.Equal(want) {
		t.Errorf("after four hours' moves Now = %v, want %v", got, want)
	}
}

// TestOneSettableClock: the module's tests share this clock; no package
// keeps a settable clock of its own (a type with an Advance method).
func TestOneSettableClock(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_templ.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "Advance" {
				continue
			}
			if filepath.Base(path) == "clocktest.go" && filepath.Base(filepath.Dir(path)) == "clocktest" {
				found++
				continue
			}
			t.Errorf("%s: a settable clock of its own; use clocktest.Clock", fset.Position(fn.Pos()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found != 1 {
		t.Errorf("found clocktest.Clock's Advance %d times, want 1: the walk is broken", found)
	}
}

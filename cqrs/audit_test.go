package cqrs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAuditTypesComeFromTheList: every audit event type is named once, in
// this package's list (AuditTypes). The test reads the module's source
// (its tests and the contract suite's made-up events aside): an audit
// entry or filter whose Type is spelled as a string, a short name (the
// handlers' ev...) that is not one of this package's constants, or a
// constant of this package missing from the list, each fails it.
func TestAuditTypesComeFromTheList(t *testing.T) {
	listed := map[string]bool{}
	for _, typ := range AuditTypes {
		if listed[typ] {
			t.Errorf("%q is in AuditTypes twice", typ)
		}
		listed[typ] = true
	}

	fset := token.NewFileSet()
	files := map[string][]*ast.File{} // by directory, relative to the module's root
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "storetest", "e2e", "testdata", "dist", "bin":
				// storetest writes made-up events to test the engines; e2e
				// only reads the app from outside.
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, "_templ.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files[filepath.Dir(path)] = append(files[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// This package's Audit... string constants, each of which must be
	// listed.
	self := filepath.Join("..", "cqrs")
	own := map[string]string{}
	for _, f := range files[self] {
		for name, value := range stringConstants(f) {
			if !strings.HasPrefix(name, "Audit") {
				continue
			}
			own[name] = value
			if !listed[value] {
				t.Errorf("cqrs.%s (%q) is not in AuditTypes", name, value)
			}
		}
	}
	if len(own) != len(AuditTypes) {
		t.Errorf("%d Audit constants, %d listed types: each listed type has one constant", len(own), len(AuditTypes))
	}

	// auditType says whether e names a listed type without spelling it:
	// this package's constant, or a short name defined as one.
	checked := 0
	for dir, fs := range files {
		short := map[string]ast.Expr{} // the package's constants
		for _, f := range fs {
			for name, value := range constantExprs(f) {
				short[name] = value
			}
		}
		var auditType func(e ast.Expr) (string, bool)
		auditType = func(e ast.Expr) (string, bool) {
			switch e := e.(type) {
			case *ast.SelectorExpr:
				if pkg, ok := e.X.(*ast.Ident); ok && pkg.Name == "cqrs" {
					v, ok := own[e.Sel.Name]
					return v, ok
				}
			case *ast.Ident:
				if dir == self {
					v, ok := own[e.Name]
					return v, ok
				}
				if value, ok := short[e.Name]; ok {
					return auditType(value)
				}
			}
			return "", false
		}
		for _, f := range fs {
			pos := func(n ast.Node) string { return fset.Position(n.Pos()).String() }
			// Every short name ev... is one of the list's constants.
			for name, value := range constantExprs(f) {
				if len(name) > 2 && strings.HasPrefix(name, "ev") && name[2] >= 'A' && name[2] <= 'Z' {
					checked++
					if _, ok := auditType(value); !ok {
						t.Errorf("%s: %s is not one of cqrs's audit type constants (cqrs.AuditTypes)", pos(value), name)
					}
				}
			}
			// Every audit entry's and filter's Type is a listed type, or a
			// variable (a function's parameter, which its callers fill in
			// with short names, checked above).
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.CompositeLit)
				if !ok || !auditLiteral(lit.Type) {
					return true
				}
				for _, elt := range lit.Elts {
					kv, ok := elt.(*ast.KeyValueExpr)
					if key, _ := kv.Key.(*ast.Ident); !ok || key == nil || key.Name != "Type" {
						continue
					}
					checked++
					switch v := kv.Value.(type) {
					case *ast.BasicLit:
						t.Errorf("%s: an audit type spelled %s: name it from cqrs's list (cqrs.AuditTypes)", pos(v), v.Value)
					case *ast.Ident:
						if _, isConst := short[v.Name]; !isConst && dir != self {
							continue // a variable
						}
						if _, ok := auditType(v); !ok {
							t.Errorf("%s: audit type %s is not in cqrs's list", pos(v), v.Name)
						}
					default:
						if _, ok := auditType(v); !ok {
							if _, isSelector := v.(*ast.SelectorExpr); isSelector {
								t.Errorf("%s: audit type %v is not in cqrs's list", pos(v), v)
							}
						}
					}
				}
				return true
			})
		}
	}
	if checked < len(AuditTypes) {
		t.Errorf("checked only %d audit types in the source: the walk is broken", checked)
	}
}

// auditLiteral reports an AuditEvent or AuditFilter literal's type.
func auditLiteral(e ast.Expr) bool {
	name := ""
	switch e := e.(type) {
	case *ast.Ident:
		name = e.Name
	case *ast.SelectorExpr:
		if pkg, ok := e.X.(*ast.Ident); ok && pkg.Name == "cqrs" {
			name = e.Sel.Name
		}
	}
	return name == "AuditEvent" || name == "AuditFilter"
}

// constantExprs is each constant declared in f with its value's expression.
func constantExprs(f *ast.File) map[string]ast.Expr {
	out := map[string]ast.Expr{}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					out[name.Name] = vs.Values[i]
				}
			}
		}
	}
	return out
}

// stringConstants is each constant of f whose value is a string literal.
func stringConstants(f *ast.File) map[string]string {
	out := map[string]string{}
	for name, e := range constantExprs(f) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if v, err := strconv.Unquote(lit.Value); err == nil {
				out[name] = v
			}
		}
	}
	return out
}

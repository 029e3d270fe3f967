// Package architecture_test keeps the rules of docs/architecture.md as
// tests: which packages may import which, no init registries, names that
// say what a package is, one composition root, and a document that names
// every package. It reads the module's source with go/build and go/parser
// (no dependency beyond the standard library) and runs in make test.
package architecture_test

import (
	"bufio"
	"errors"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pkg is one package folder of the module.
type pkg struct {
	Rel      string // folder relative to the module root, slash-separated ("channel/slack/notifier")
	Path     string // import path
	Name     string // package name (of the non-test files, else of the test files without _test)
	Dir      string // absolute folder
	Files    []string
	Ignored  []string // non-test .go files no build variant compiles (//go:build ignore scripts)
	Imports  map[string][]token.Position
	TestOnly bool // only _test.go files
}

// module is every package of the module, loaded once.
type module struct {
	Root   string
	Path   string
	Pkgs   []*pkg
	ByRel  map[string]*pkg
	ByPath map[string]*pkg
}

// buildVariants are the build configurations whose imports count: the
// default one and the production binary's (-tags nodev, without the
// embedded Temporal server). An import in either is an import.
var buildVariants = [][]string{nil, {"nodev"}}

var (
	loadOnce sync.Once
	loaded   *module
	loadErr  error
)

// load reads the module from ../.. once per test binary.
func load(t *testing.T) *module {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = loadModule("../..") })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

func loadModule(root string) (*module, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	modPath, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	m := &module{Root: root, Path: modPath, ByRel: map[string]*pkg{}, ByPath: map[string]*pkg{}}
	err = filepath.WalkDir(root, func(dir string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if dir != root {
			// The go command's own rules: no testdata, no folders starting
			// with . or _, no nested modules.
			if name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "vendor" || name == "node_modules" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		p, err := loadDir(root, modPath, dir)
		if err != nil || p == nil {
			return err
		}
		m.Pkgs = append(m.Pkgs, p)
		m.ByRel[p.Rel] = p
		m.ByPath[p.Path] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(m.Pkgs) < 10 {
		return nil, errors.New("found fewer than 10 packages under " + root + ": is the walk broken?")
	}
	return m, nil
}

// loadDir reads one folder under every build variant; nil if it holds no Go.
func loadDir(root, modPath, dir string) (*pkg, error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return nil, err
	}
	rel = filepath.ToSlash(rel)
	p := &pkg{Rel: rel, Path: modPath, Dir: dir, Imports: map[string][]token.Position{}}
	if rel != "." {
		p.Path = modPath + "/" + rel
	}
	files := map[string]bool{}
	ignored := map[string]int{}
	for _, tags := range buildVariants {
		ctx := build.Default
		ctx.BuildTags = tags
		bp, err := ctx.ImportDir(dir, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		p.Name = bp.Name
		p.TestOnly = len(bp.GoFiles)+len(bp.CgoFiles) == 0
		for _, f := range slices.Concat(bp.GoFiles, bp.CgoFiles) {
			files[filepath.Join(dir, f)] = true
		}
		for _, f := range bp.IgnoredGoFiles {
			if !strings.HasSuffix(f, "_test.go") {
				ignored[filepath.Join(dir, f)]++
			}
		}
		for imp, pos := range bp.ImportPos {
			for _, ps := range pos {
				if !slices.ContainsFunc(p.Imports[imp], func(q token.Position) bool { return q.Filename == ps.Filename }) {
					p.Imports[imp] = append(p.Imports[imp], ps)
				}
			}
		}
	}
	for f := range files {
		p.Files = append(p.Files, f)
	}
	for f, n := range ignored {
		if n == len(buildVariants) && !files[f] {
			p.Ignored = append(p.Ignored, f)
		}
	}
	sort.Strings(p.Files)
	sort.Strings(p.Ignored)
	return p, nil
}

func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", errors.New(gomod + ": no module line")
}

// rel is the module folder of an import path, and whether it is ours.
func (m *module) rel(importPath string) (string, bool) {
	if importPath == m.Path {
		return ".", true
	}
	rest, ok := strings.CutPrefix(importPath, m.Path+"/")
	return rest, ok
}

// imports calls f for each import of p in sorted order, with the files
// (relative to the module root, with line) that hold it.
func (p *pkg) imports(f func(imp string, at []string)) {
	keys := make([]string, 0, len(p.Imports))
	for k := range p.Imports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var at []string
		for _, ps := range p.Imports[k] {
			at = append(at, path.Join(p.Rel, filepath.Base(ps.Filename))+":"+strconv.Itoa(ps.Line))
		}
		f(k, at)
	}
}

// under reports whether folder rel is pattern or inside it. A pattern
// element "*" matches any one folder name ("channel/*/callbacks").
func under(rel, pattern string) bool {
	re, pe := strings.Split(rel, "/"), strings.Split(pattern, "/")
	if len(re) < len(pe) {
		return false
	}
	for i, e := range pe {
		if ok, _ := path.Match(e, re[i]); !ok {
			return false
		}
	}
	return true
}

// underAny reports whether rel is under one of the patterns.
func underAny(rel string, patterns ...string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return under(rel, p) })
}

// isStd reports whether an import path is the standard library's (no dot
// in its first element).
func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

// parseFile reads a Go file's declarations and comments.
func parseFile(t *testing.T, name string) (*ast.File, *token.FileSet) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return f, fset
}

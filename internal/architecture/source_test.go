package architecture_test

import (
	"go/ast"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// R4.
func TestNoInitFunctions(t *testing.T) {
	m := load(t)
	for _, p := range m.Pkgs {
		for _, name := range slices.Concat(p.Files, p.Ignored) {
			f, fset := parseFile(t, name)
			if ast.IsGenerated(f) {
				continue
			}
			for _, d := range f.Decls {
				if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "init" {
					t.Errorf("%s:%d: func init: R4 no init functions outside tests and generated code (make a registry one explicit list, or initialise the variable where it is declared)",
						path.Join(p.Rel, filepath.Base(name)), fset.Position(fn.Pos()).Line)
				}
			}
		}
	}
}

// generated reports whether p holds generated code (whose generator
// names the package: proto/signoff/v1 is signoffv1, after its go_package).
func generated(t *testing.T, p *pkg) bool {
	for _, name := range p.Files {
		if f, _ := parseFile(t, name); ast.IsGenerated(f) {
			return true
		}
	}
	return false
}

// singular folds the plural forms package names take.
func singular(s string) string {
	switch {
	case strings.HasSuffix(s, "ies"):
		return strings.TrimSuffix(s, "ies") + "y"
	case strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss"):
		return strings.TrimSuffix(s, "s")
	}
	return s
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// R6.
func TestPackageNamesSayWhatTheyAre(t *testing.T) {
	m := load(t)
	const rule = "R6 names say what a package is"
	t.Run("name equals folder", func(t *testing.T) {
		for _, p := range m.Pkgs {
			if p.Rel == "." {
				continue
			}
			folder := path.Base(p.Rel)
			switch {
			case p.Name == folder:
			case p.Name == "main":
				if !under(p.Rel, "cmd") {
					t.Errorf("%s: package main outside cmd/ (%s: commands live in cmd/<name>)", p.Rel, rule)
				}
			case generated(t, p):
				// The generator names the package (proto/signoff/v1 is signoffv1).
			default:
				t.Errorf("%s: package %s in folder %s (%s: the package is named as its folder, except main and generated code)", p.Rel, p.Name, folder, rule)
			}
		}
	})
	t.Run("store suffix only under store", func(t *testing.T) {
		for _, p := range m.Pkgs {
			if strings.HasSuffix(p.Name, "store") && !under(p.Rel, "store") {
				t.Errorf("%s: package %s ends in store outside store/ (%s: the suffix store is for ports under store/)", p.Rel, p.Name, rule)
			}
		}
	})
	t.Run("no near-duplicate names", func(t *testing.T) {
		// The same name in several folders is the design (channel/*/notifier,
		// channel/*/callbacks: one role, one name); names one letter or a
		// plural apart are not.
		folders := map[string][]string{}
		for _, p := range m.Pkgs {
			if p.Name != "main" {
				folders[p.Name] = append(folders[p.Name], p.Rel)
			}
		}
		names := make([]string, 0, len(folders))
		for n := range folders {
			names = append(names, n)
		}
		sort.Strings(names)
		for i, a := range names {
			for _, b := range names[i+1:] {
				if distance(a, b) <= 1 || singular(a) == singular(b) {
					t.Errorf("packages %s (%s) and %s (%s) differ by one letter or a plural (%s: rename one so the two read apart)",
						a, strings.Join(folders[a], ", "), b, strings.Join(folders[b], ", "), rule)
				}
			}
		}
	})
}

// docPath is a path in backticks, as docs/architecture.md names packages.
var docPath = regexp.MustCompile("`\\.?/?([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*)/?`")

// R8.
func TestArchitectureDocNamesEveryPackage(t *testing.T) {
	m := load(t)
	const doc = "docs/architecture.md"
	src, err := os.ReadFile(filepath.Join(m.Root, doc))
	if err != nil {
		t.Fatalf("R8 %s covers every package: %v", doc, err)
	}
	named := map[string]bool{}
	for _, g := range docPath.FindAllStringSubmatch(string(src), -1) {
		named[g[1]] = true
	}
	for _, p := range m.Pkgs {
		switch {
		case p.Rel == "." || under(p.Rel, "cmd"):
			// Commands are described by what they run.
		case under(p.Rel, "internal"):
			// Test helpers: one line for internal/ covers them.
			if !named["internal"] && !named[p.Rel] {
				t.Errorf("%s is not in %s: R8 the document names every package (`internal/` once covers test helpers)", p.Rel, doc)
			}
		case under(p.Rel, "proto") && generated(t, p):
			// Generated code: `proto/` or its folder.
			if !named["proto"] && !named[p.Rel] {
				t.Errorf("%s is not in %s: R8 the document names every package (`proto/` covers generated code)", p.Rel, doc)
			}
		default:
			if !named[p.Rel] {
				t.Errorf("%s is not in %s: R8 the document names every package, as `%s/`", p.Rel, doc, p.Rel)
			}
		}
	}
}

package gateway

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestGatewayImportsNoWorkerSide keeps the rule of docs/architecture.md:
// arrows point inward, so no gateway package imports activities/ or
// worker/ (shared vocabularies live in neutral packages both import).
func TestGatewayImportsNoWorkerSide(t *testing.T) {
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			return nil // a folder of assets or templates
		}
		for _, imp := range pkg.Imports {
			for _, banned := range []string{"github.com/signoff/signoff/activities", "github.com/signoff/signoff/worker"} {
				if imp == banned || strings.HasPrefix(imp, banned+"/") {
					t.Errorf("gateway/%s imports %s", dir, imp)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package verify_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps verify pure: its non-test files import only the standard library,
// golang.org/x/crypto and jpki — never the simulator, the card, a database or the network
// packages of the platform.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.Split(path, "/")[0], ".")
			if std && path != "net/http" && path != "database/sql" && path != "os" {
				continue
			}
			if strings.HasPrefix(path, "golang.org/x/crypto/") || path == "github.com/mynagate/mynagate/jpki" {
				continue
			}
			t.Errorf("%s imports %s", name, path)
		}
	}
}

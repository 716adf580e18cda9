package reader_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The reader is a host: it talks to cards through apdu and knows JPKI through jpki, and never
// reaches the card simulator, the J-LIS simulator, the platform or HTTP (DESIGN.md, import
// direction).
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/mynagate/mynagate/reader").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{"/card", "/jlis", "/platform", "/store", "/web", "/verify", "/revocation", "net/http", "database/sql"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasSuffix(dep, f) || strings.Contains(dep, f+"/") {
				t.Errorf("reader depends on %s", dep)
			}
		}
	}
}

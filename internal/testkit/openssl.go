package testkit

import (
	"os"
	"os/exec"
	"testing"
)

// OpenSSL returns the path of the openssl command, for tests that check a CMS or certificate
// with the real tool: it fails the test under CI=true when openssl is missing, and skips it
// otherwise.
func OpenSSL(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("openssl is needed under CI=true: %v", err)
		}
		t.Skipf("openssl not installed: %v", err)
	}
	return p
}

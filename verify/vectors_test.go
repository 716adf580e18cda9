package verify_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mynagate/mynagate/verify"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors from a fresh simulator and own CA")

// TestVectors checks that the committed certificates in testdata/vectors still verify, and with
// -update (testdata/gen.sh) rewrites them first. The fuzz target in ../fuzz seeds from them.
func TestVectors(t *testing.T) {
	dir := filepath.Join("testdata", "vectors")
	if *update {
		f := fixtures(t)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, der := range map[string][]byte{
			"sim-sign-ca.der": f.taro.signCA.Raw, "sim-auth-ca.der": f.taro.authCA.Raw,
			"sim-sign.der": f.taro.signDER, "sim-auth.der": f.taro.authDER,
			"own-root.der": f.own.cert.Raw, "own-sign.der": f.ownSignDER, "own-auth.der": f.ownAuthDER,
		} {
			if err := os.WriteFile(filepath.Join(dir, name), der, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (regenerate with testdata/gen.sh)", err)
		}
		return b
	}
	for _, tt := range []struct {
		leaf, root string
		purpose    verify.Purpose
	}{
		{"sim-sign.der", "sim-sign-ca.der", verify.PurposeIdentity},
		{"sim-auth.der", "sim-auth-ca.der", verify.PurposeLogin},
		{"own-sign.der", "own-root.der", verify.PurposeIdentity},
		{"own-auth.der", "own-root.der", verify.PurposeLogin},
	} {
		root := mustParse(t, read(tt.root))
		if _, err := verify.Certificate(read(tt.leaf), verify.Options{Roots: roots(root), At: at, Purpose: tt.purpose}); err != nil {
			t.Errorf("%s: %v", tt.leaf, err)
		}
	}
}

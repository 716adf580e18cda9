package kdf

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// labelConsts reads every constant of type Label declared in the package's files, by name.
func labelConsts(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Label" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("label %s is not a string literal", n.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[n.Name] = v
				}
			}
		}
	}
	return out
}

// TestLabels: no two labels share a string (two uses would share a key), none holds the 0x00
// byte that separates a context, and each is versioned.
func TestLabels(t *testing.T) {
	labels := labelConsts(t)
	// The parse must see the compiled constants, or the checks below would check nothing.
	for name, l := range map[string]Label{"Pairwise": Pairwise, "CardKey": CardKey, "UISession": UISession, "TicketPages": TicketPages} {
		if labels[name] != string(l) {
			t.Fatalf("parsed %s = %q, compiled %q", name, labels[name], l)
		}
	}
	if len(labels) < 16 {
		t.Fatalf("found %d labels, want every one of labels.go", len(labels))
	}
	form := regexp.MustCompile(`^mynagate/[a-z0-9-]+(/[a-z0-9-]+)*/v[0-9]+$`)
	byValue := map[string]string{}
	for name, v := range labels {
		if other, dup := byValue[v]; dup {
			t.Errorf("labels %s and %s are both %q", name, other, v)
		}
		byValue[v] = name
		if !form.MatchString(v) {
			t.Errorf("label %s = %q is not mynagate/<use>/v<n>", name, v)
		}
	}
}

// TestKnownAnswers pins derivations: a key once derived is derived the same way for as long as
// the label lives, because values kept under it (sealed secrets, pairwise ids, card ids) must
// still open and match. The expected keys are HKDF-SHA256 computed by crypto/hkdf directly.
func TestKnownAnswers(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	s, err := New(secret)
	if err != nil {
		t.Fatal(err)
	}
	long, err := New(bytes.Repeat([]byte{0xab}, 48))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		got    []byte
		secret []byte
		info   string
		want   string
	}{
		{s.KeyFor(Pairwise, "t_demo"), secret, "mynagate/pairwise/v1\x00t_demo", "3cc868bce1c4bd8ed2e4e97e0351d18e7c170e5b044a617e5e02e4b57761227d"},
		{s.KeyFor(CardKey, "t_demo"), secret, "mynagate/card-key/v1\x00t_demo", "b0b6700184d9fda8a856d0f3595bd8de7cd5373c8969c6a1acf6019376f5d0c4"},
		{s.Key(WebhookSecrets), secret, "mynagate/webhook-secret-seal/v1", "f7ecb46ebf26d0ceb11688df9cc6cb1d27973335d13111a687d88427649c7363"},
		{s.Key(Pages), secret, "mynagate/pages/v1", "439e37b5d9e0908f8987a4fed1fbeced2b12f59382904bed80f0091aae079f93"},
		{long.Key(HolderToken), bytes.Repeat([]byte{0xab}, 48), "mynagate/holder-token/v1", "2da77e05efb9812bcbcfd7c4b4eaa7938aeed607dfbcc3d955d4f440fccc69d3"},
	} {
		ref, err := hkdf.Key(sha256.New, c.secret, nil, c.info, 32)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(ref) != c.want {
			t.Fatalf("crypto/hkdf gives %x for %q, the pinned vector is %s", ref, c.info, c.want)
		}
		if hex.EncodeToString(c.got) != c.want {
			t.Errorf("%q: derived %x, want %s", c.info, c.got, c.want)
		}
	}
}

// TestSeparation: other labels, other contexts and other secrets give other keys; one secret,
// label and context give the same key every time, from any Secret made of it.
func TestSeparation(t *testing.T) {
	a, _ := New(bytes.Repeat([]byte{1}, 32))
	a2, _ := New(bytes.Repeat([]byte{1}, 32))
	b, _ := New(bytes.Repeat([]byte{2}, 32))
	seen := map[string]string{}
	add := func(name string, k []byte) {
		t.Helper()
		if len(k) != Size {
			t.Fatalf("%s: %d bytes, want %d", name, len(k), Size)
		}
		if other, dup := seen[string(k)]; dup {
			t.Errorf("%s and %s derive the same key", name, other)
		}
		seen[string(k)] = name
	}
	for name, l := range labelConsts(t) {
		add(name, a.Key(Label(l)))
		add(name+" for t_1", a.KeyFor(Label(l), "t_1"))
		add(name+" for t_2", a.KeyFor(Label(l), "t_2"))
		add(name+` for ""`, a.KeyFor(Label(l), ""))
		add(name+" under another secret", b.Key(Label(l)))
	}
	if !bytes.Equal(a.KeyFor(Pairwise, "t_1"), a2.KeyFor(Pairwise, "t_1")) || !bytes.Equal(a.Key(EventID), a.Key(EventID)) {
		t.Error("one secret, label and context give two keys")
	}
	k := a.Key(EventID)
	k[0] ^= 1
	if bytes.Equal(k, a.Key(EventID)) {
		t.Error("a caller changing its key changes the next one derived")
	}
}

// TestShortSecret: a secret under 32 bytes is refused with ErrShortSecret, saying its length.
func TestShortSecret(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31} {
		s, err := New(make([]byte, n))
		if !errors.Is(err, ErrShortSecret) || s != nil {
			t.Fatalf("New(%d bytes) = %v, %v; want ErrShortSecret", n, s, err)
		}
		if !strings.Contains(err.Error(), "has "+strconv.Itoa(n)+")") {
			t.Errorf("error %q does not say the length %d", err, n)
		}
	}
	if _, err := New(make([]byte, 32)); err != nil {
		t.Fatalf("New(32 bytes): %v", err)
	}
}

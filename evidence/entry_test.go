package evidence_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// zeros is a deterministic randomness source for reproducible leaves.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// newLog returns a log over a fresh memory storage.
func newLog(t testing.TB, opts ...evidence.Option) (*evidence.Log, *memory.Storage) {
	t.Helper()
	s := memory.New()
	return evidencetest.NewLog(t, s, opts...), s
}

func bg(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestPrepareRefusesInvalidEntries(t *testing.T) {
	l, _ := newLog(t)
	tests := []struct {
		name      string
		edit      func(e *evidence.Entry)
		wantField string
	}{
		{"no id", func(e *evidence.Entry) { e.ID = "" }, "ID"},
		{"no tenant", func(e *evidence.Entry) { e.TenantID = "" }, "TenantID"},
		{"id too long", func(e *evidence.Entry) { e.ID = strings.Repeat("v", 256) }, "ID"},
		{"invalid UTF-8", func(e *evidence.Entry) { e.Purpose = "\xff" }, "Purpose"},
		{"zero time", func(e *evidence.Entry) { e.Time = time.Time{} }, "Time"},
		{"time before 1970", func(e *evidence.Entry) { e.Time = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, "Time"},
		{"unknown decision", func(e *evidence.Entry) { e.Decision = "maybe" }, "Decision"},
		{"accepted with a reason", func(e *evidence.Entry) { e.Reason = "cert-revoked" }, "Reason"},
		{"rejected without a reason", func(e *evidence.Entry) { e.Decision = evidence.Rejected }, "Reason"},
		{"challenge too long", func(e *evidence.Entry) { e.Challenge = make([]byte, 1<<16) }, "Challenge"},
		{"CRL number with leading zero", func(e *evidence.Entry) { e.CRLNumber = "042" }, "CRLNumber"},
		{"CRL number not decimal", func(e *evidence.Entry) { e.CRLNumber = "0x2A" }, "CRLNumber"},
		{"CRL without thisUpdate", func(e *evidence.Entry) { e.CRLThisUpdate = time.Time{} }, "CRLThisUpdate"},
		{"OCSP with a CRL number", func(e *evidence.Entry) { e.Method = evidence.MethodOCSP; e.Personal.OCSPResponse = []byte{1} }, "CRLNumber"},
		{"OCSP without a response", func(e *evidence.Entry) {
			e.Method, e.CRLNumber, e.CRLThisUpdate = evidence.MethodOCSP, "", time.Time{}
		}, "Personal.OCSPResponse"},
		{"CRL with an OCSP response", func(e *evidence.Entry) { e.Personal.OCSPResponse = []byte{1} }, "Personal.OCSPResponse"},
		{"unknown method", func(e *evidence.Entry) { e.Method = "pigeon" }, "Method"},
		{"fact name empty", func(e *evidence.Entry) { e.Personal.Facts[""] = "x" }, "Personal.Facts name"},
		{"subject too long", func(e *evidence.Entry) { e.Personal.Subject = strings.Repeat("s", 256) }, "Personal.Subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := evidencetest.Entry(1, "t_a")
			tt.edit(&e)
			_, err := l.Prepare(e)
			var ee *evidence.EntryError
			if !errors.As(err, &ee) || !errors.Is(err, evidence.ErrInvalidEntry) {
				t.Fatalf("Prepare = %v, want an *EntryError", err)
			}
			if ee.Field != tt.wantField {
				t.Errorf("refused field %q (%v), want %q", ee.Field, err, tt.wantField)
			}
		})
	}
}

func TestPrepareAcceptsEdgeCases(t *testing.T) {
	l, _ := newLog(t)
	rejected := evidencetest.Entry(2, "t_a")
	rejected.Decision, rejected.Reason, rejected.Method, rejected.CRLNumber, rejected.CRLThisUpdate = evidence.Rejected, "chain-invalid", evidence.MethodNone, "", time.Time{}
	rejected.Personal = evidence.Personal{Detail: "the certificate does not chain to a J-LIS CA"}
	ocsp := evidencetest.Entry(3, "t_a")
	ocsp.Method, ocsp.CRLNumber, ocsp.CRLThisUpdate, ocsp.Personal.OCSPResponse = evidence.MethodOCSP, "", time.Time{}, []byte{0x30, 0x03, 0x0a, 0x01, 0x00}
	for _, e := range []evidence.Entry{rejected, ocsp} {
		r, err := l.Prepare(e)
		if err != nil {
			t.Fatalf("Prepare(%s): %v", e.ID, err)
		}
		leaf, err := evidence.ParseLeaf(r.LeafData)
		if err != nil {
			t.Fatal(err)
		}
		if leaf.ID != e.ID || leaf.Decision != e.Decision || leaf.Method != e.Method || leaf.Reason != e.Reason {
			t.Errorf("leaf of %s does not round-trip: %+v", e.ID, leaf.Header)
		}
	}
}

// TestLeafGolden pins the version-2 leaf encoding byte for byte, and keeps the version-1 golden
// leaf (what every entry stored before version 2 holds) parsing to itself: a change to either
// would make stored leaves unverifiable. Regenerate (only for a new version) with
// go test -run TestLeafGolden -update.
func TestLeafGolden(t *testing.T) {
	v1, err := os.ReadFile(filepath.Join("testdata", "leaf-v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := hex.DecodeString(strings.TrimSpace(string(v1)))
	if err != nil {
		t.Fatal(err)
	}
	if l1, err := evidence.ParseLeaf(old); err != nil || l1.Version != 1 || l1.ID != evidencetest.Entry(7, "t_0123456789abcdef").ID || len(l1.Disclosures) != 0 {
		t.Fatalf("the version-1 golden leaf no longer parses: %+v, %v", l1, err)
	}
	keys := evidencetest.Keys(t)
	l, err := evidence.New(memory.New(), keys, evidence.WithRand(zeros{}))
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Prepare(evidencetest.Entry(7, "t_0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "leaf-v2.golden")
	got := hex.EncodeToString(r.LeafData) + "\n"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("the v2 leaf encoding changed:\n got %s\nwant %s", got, want)
	}
	leaf, err := evidence.ParseLeaf(r.LeafData)
	if err != nil {
		t.Fatal(err)
	}
	e := evidencetest.Entry(7, "t_0123456789abcdef")
	if leaf.ID != e.ID || leaf.SessionID != e.SessionID || leaf.TenantID != e.TenantID || leaf.Purpose != e.Purpose ||
		!leaf.Time.Equal(e.Time) || leaf.Decision != e.Decision || leaf.Reason != e.Reason || !bytes.Equal(leaf.Challenge, e.Challenge) ||
		leaf.Method != e.Method || leaf.CRLNumber != e.CRLNumber || !leaf.CRLThisUpdate.Equal(e.CRLThisUpdate) {
		t.Errorf("ParseLeaf does not return the entry's header: %+v", leaf.Header)
	}
}

func TestParseLeafIsStrict(t *testing.T) {
	l, _ := newLog(t)
	r, err := l.Prepare(evidencetest.Entry(1, "t_a"))
	if err != nil {
		t.Fatal(err)
	}
	good := r.LeafData
	tests := []struct {
		name    string
		data    []byte
		version bool
	}{
		{"empty", nil, false},
		{"version 3", append([]byte{3}, good[1:]...), true},
		{"version 1 with version 2's fields", append([]byte{1}, good[1:]...), false},
		{"trailing byte", append(bytes.Clone(good), 0), false},
		{"truncated", good[:len(good)-1], false},
		{"unknown decision", func() []byte {
			b := bytes.Clone(good)
			// version, 4 strings, time: the decision byte follows.
			off := 1
			for i := 0; i < 4; i++ {
				off += 1 + int(b[off])
			}
			b[off+8] = 9
			return b
		}(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := evidence.ParseLeaf(tt.data)
			if err == nil {
				t.Fatal("ParseLeaf accepted it")
			}
			if tt.version != strings.Contains(err.Error(), "version 3 is not supported") {
				t.Errorf("error %q does not say whether the version is unknown", err)
			}
		})
	}
	// Every truncation is refused.
	for n := 0; n < len(good); n++ {
		if _, err := evidence.ParseLeaf(good[:n]); err == nil {
			t.Fatalf("ParseLeaf accepted the first %d of %d bytes", n, len(good))
		}
	}
}

func FuzzParseLeaf(f *testing.F) {
	l, _ := newLog(f)
	r, err := l.Prepare(evidencetest.Entry(1, "t_a"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.LeafData)
	f.Fuzz(func(t *testing.T, data []byte) {
		leaf, err := evidence.ParseLeaf(data)
		if err != nil {
			return
		}
		// ParseLeaf itself re-encodes what it accepts and compares; what it accepts must also
		// satisfy the rules Prepare enforces.
		if leaf.ID == "" || leaf.TenantID == "" || (leaf.Decision == evidence.Rejected) == (leaf.Reason == "") {
			t.Fatalf("accepted a leaf without id or tenant")
		}
	})
}

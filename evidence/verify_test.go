package evidence_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
)

var (
	otherKeysOnce sync.Once
	otherKeys     *evidence.Keys // another log with the same origin
)

func otherLogKeys(t testing.TB) *evidence.Keys {
	otherKeysOnce.Do(func() {
		var err error
		if otherKeys, err = evidence.GenerateKeys(rand.Reader, evidence.DefaultOrigin); err != nil {
			panic(err)
		}
	})
	return otherKeys
}

// sample returns a disclosed bundle of entry 3 in a log of 6 entries, and the log.
func sample(t *testing.T) ([]byte, *evidence.Log) {
	t.Helper()
	l, s := newLog(t)
	fill(t, l, s, 0, 6)
	b, err := l.Bundle(bg(t), "t_a", evidencetest.Entry(3, "t_a").ID, true)
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data, l
}

func TestVerifyBundle(t *testing.T) {
	data, l := sample(t)
	v, err := evidence.VerifyBundle(data, l.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	want := evidencetest.Entry(3, "t_a")
	if v.Index != 3 || v.Checkpoint.Size != 6 || v.Checkpoint.Origin != evidence.DefaultOrigin || v.Leaf.ID != want.ID || v.Leaf.TenantID != "t_a" ||
		!v.Leaf.Time.Equal(want.Time) || v.Leaf.Decision != evidence.Accepted {
		t.Errorf("verified %+v", v)
	}
	p := v.Personal
	if p == nil || !bytes.Equal(p.Certificate, want.Personal.Certificate) || !bytes.Equal(p.Signature, want.Personal.Signature) ||
		p.Subject != want.Personal.Subject || p.Facts["name"] != "デジタル 花子" || len(p.Facts) != 4 {
		t.Errorf("personal data %+v", p)
	}
	// Without the final newline too.
	if _, err := evidence.VerifyBundle(bytes.TrimSuffix(data, []byte("\n")), l.PublicKey()); err != nil {
		t.Errorf("bundle without its final newline: %v", err)
	}
}

// TestVerifyBundleDetectsEveryFlippedByte changes every byte of a bundle in two ways (its low
// bit, and its ASCII case bit, which encoding/json alone would ignore in field names) and
// requires each change to be refused with a reason.
func TestVerifyBundleDetectsEveryFlippedByte(t *testing.T) {
	data, l := sample(t)
	reasons := map[evidence.Reason]int{}
	for i := range data {
		for _, mask := range []byte{0x01, 0x20} {
			b := bytes.Clone(data)
			b[i] ^= mask
			_, err := evidence.VerifyBundle(b, l.PublicKey())
			var ve *evidence.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("flipping byte %d (%q) with %#x: VerifyBundle = %v, want a *VerifyError", i, data[i], mask, err)
			}
			reasons[ve.Reason]++
		}
	}
	t.Logf("reasons over %d altered bundles: %v", 2*len(data), reasons)
	for _, r := range []evidence.Reason{evidence.ReasonMalformed, evidence.ReasonWrongKey, evidence.ReasonBadSignature, evidence.ReasonNotIncluded, evidence.ReasonSealedMismatch, evidence.ReasonDataKeyMismatch} {
		if reasons[r] == 0 {
			t.Errorf("no flipped byte was reported as %s", r)
		}
	}
}

// rewrite decodes a bundle, edits it and re-encodes it canonically: a tamperer who knows the
// format.
func rewrite(t *testing.T, data []byte, edit func(b *evidence.Bundle)) []byte {
	t.Helper()
	var b evidence.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	edit(&b)
	out, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyBundleRefusesTampering(t *testing.T) {
	data, l := sample(t)
	c := bg(t)
	other, err := l.Bundle(c, "t_a", evidencetest.Entry(4, "t_a").ID, true)
	if err != nil {
		t.Fatal(err)
	}
	// A log with another key and the same origin, and the same entries.
	os := memory.New()
	ol, err := evidence.New(os, otherLogKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	fill(t, ol, os, 0, 6)
	foreign, err := ol.Bundle(c, "t_a", evidencetest.Entry(3, "t_a").ID, true)
	if err != nil {
		t.Fatal(err)
	}
	foreignData, _ := foreign.Marshal()

	tests := []struct {
		name string
		data []byte
		key  *evidence.PublicKey
		want evidence.Reason
	}{
		{"wrong trusted key", data, otherLogKeys(t).Public, evidence.ReasonWrongKey},
		{"another log's bundle", foreignData, l.PublicKey(), evidence.ReasonWrongKey},
		{"another log's checkpoint", rewrite(t, data, func(b *evidence.Bundle) { b.Checkpoint = foreign.Checkpoint }), l.PublicKey(), evidence.ReasonWrongKey},
		{"log key swapped to match a foreign checkpoint", rewrite(t, data, func(b *evidence.Bundle) { b.LogKey = foreign.LogKey }), l.PublicKey(), evidence.ReasonWrongKey},
		{"signature altered", rewrite(t, data, func(b *evidence.Bundle) {
			i := strings.LastIndex(b.Checkpoint, " ") + 1
			sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b.Checkpoint[i:]))
			if err != nil {
				t.Fatal(err)
			}
			sig[20] ^= 1 // after the 4-byte key hash
			b.Checkpoint = b.Checkpoint[:i] + base64.StdEncoding.EncodeToString(sig) + "\n"
		}), l.PublicKey(), evidence.ReasonBadSignature},
		{"signature padding bits altered", rewrite(t, data, func(b *evidence.Bundle) {
			// The last base64 digit before "=" carries 2 unused bits; a lenient decoder ignores them.
			i := strings.LastIndex(b.Checkpoint, "=") - 1
			d := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", b.Checkpoint[i])
			b.Checkpoint = b.Checkpoint[:i] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[d^1]) + b.Checkpoint[i+1:]
		}), l.PublicKey(), evidence.ReasonMalformed},
		{"checkpoint size altered", rewrite(t, data, func(b *evidence.Bundle) {
			b.Checkpoint = strings.Replace(b.Checkpoint, "\n6\n", "\n7\n", 1)
		}), l.PublicKey(), evidence.ReasonBadSignature},
		{"index changed", rewrite(t, data, func(b *evidence.Bundle) { b.Index = 2 }), l.PublicKey(), evidence.ReasonNotIncluded},
		{"index beyond the tree", rewrite(t, data, func(b *evidence.Bundle) { b.Index = 6 }), l.PublicKey(), evidence.ReasonNotIncluded},
		{"another entry's leaf", rewrite(t, data, func(b *evidence.Bundle) { b.Leaf = other.Leaf }), l.PublicKey(), evidence.ReasonNotIncluded},
		{"proof hash dropped", rewrite(t, data, func(b *evidence.Bundle) { b.Inclusion = b.Inclusion[1:] }), l.PublicKey(), evidence.ReasonNotIncluded},
		{"proof hash short", rewrite(t, data, func(b *evidence.Bundle) { b.Inclusion[0] = b.Inclusion[0][:31] }), l.PublicKey(), evidence.ReasonMalformed},
		{"another entry's personal data", rewrite(t, data, func(b *evidence.Bundle) { b.Sealed, b.DataKey = other.Sealed, other.DataKey }), l.PublicKey(), evidence.ReasonSealedMismatch},
		{"another entry's data key", rewrite(t, data, func(b *evidence.Bundle) { b.DataKey = other.DataKey }), l.PublicKey(), evidence.ReasonDataKeyMismatch},
		{"data key without data", rewrite(t, data, func(b *evidence.Bundle) { b.Sealed = nil }), l.PublicKey(), evidence.ReasonMalformed},
		{"unknown format", rewrite(t, data, func(b *evidence.Bundle) { b.Format = "mynagate-evidence-bundle/v9" }), l.PublicKey(), evidence.ReasonUnsupportedVersion},
		{"re-indented", func() []byte { var out bytes.Buffer; json.Indent(&out, data, "", "  "); return out.Bytes() }(), l.PublicKey(), evidence.ReasonMalformed},
		{"field name case changed", bytes.Replace(data, []byte(`"index"`), []byte(`"Index"`), 1), l.PublicKey(), evidence.ReasonMalformed},
		{"duplicate field", bytes.Replace(data, []byte(`{"format"`), []byte(`{"index":9,"format"`), 1), l.PublicKey(), evidence.ReasonMalformed},
		{"unknown field", bytes.Replace(data, []byte(`{"format"`), []byte(`{"note":"x","format"`), 1), l.PublicKey(), evidence.ReasonMalformed},
		{"not JSON", []byte("hello\n"), l.PublicKey(), evidence.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := evidence.VerifyBundle(tt.data, tt.key)
			var ve *evidence.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("VerifyBundle = %v, want a *VerifyError", err)
			}
			if ve.Reason != tt.want {
				t.Errorf("reason %s (%v), want %s", ve.Reason, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "evidence: "+tt.want.String()+": ") {
				t.Errorf("message %q does not start with the package and reason", err)
			}
		})
	}
}

// forkedLogs returns a log and a fork of it with the same key: both hold entries 0–4, then
// the fork holds different entries 5–9 where the log holds 5–11.
func forkedLogs(t *testing.T) (*evidence.Log, *evidence.Log) {
	as, bs := memory.New(), memory.New()
	a, b := evidencetest.NewLog(t, as), evidencetest.NewLog(t, bs)
	fill(t, a, as, 0, 5)
	fill(t, b, bs, 0, 5)
	fill(t, a, as, 5, 7)
	fill(t, b, bs, 100, 5)
	return a, b
}

func TestVerifyConsistency(t *testing.T) {
	c := bg(t)
	a, fork := forkedLogs(t)
	key := a.PublicKey()
	good, err := a.ConsistencyBundle(c, 5)
	if err != nil {
		t.Fatal(err)
	}
	goodData, _ := good.Marshal()
	older, newer, err := evidence.VerifyConsistency(goodData, key)
	if err != nil || older.Size != 5 || newer.Size != 12 {
		t.Fatalf("VerifyConsistency = %d → %d, %v", older.Size, newer.Size, err)
	}
	forkCB, err := fork.ConsistencyBundle(c, 10)
	if err != nil {
		t.Fatal(err)
	}
	// The genuine proof from size 10 to 12 of the log: it fits the log's tree at 10, not the fork's.
	proof10to12, err := a.ConsistencyProof(c, 10, 12)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b *evidence.ConsistencyBundle)) []byte {
		var b evidence.ConsistencyBundle
		json.Unmarshal(goodData, &b)
		f(&b)
		out, _ := b.Marshal()
		return out
	}
	tests := []struct {
		name string
		data []byte
		key  *evidence.PublicKey
		want evidence.Reason
	}{
		// The fork's checkpoint at size 10 is validly signed but not a prefix of the log at 12.
		{"older checkpoint from a fork", edit(func(b *evidence.ConsistencyBundle) { b.Older, b.Proof = forkCB.Newer, proof10to12 }), key, evidence.ReasonInconsistent},
		{"older and newer swapped", edit(func(b *evidence.ConsistencyBundle) { b.Older, b.Newer = b.Newer, b.Older }), key, evidence.ReasonInconsistent},
		{"same size, different roots", edit(func(b *evidence.ConsistencyBundle) {
			b.Older, b.Newer, b.Proof = string(checkpointOf(t, 10)), forkCB.Newer, nil
		}), key, evidence.ReasonInconsistent},
		{"proof altered", edit(func(b *evidence.ConsistencyBundle) { b.Proof[0][3] ^= 1 }), key, evidence.ReasonInconsistent},
		{"wrong key", goodData, otherLogKeys(t).Public, evidence.ReasonWrongKey},
		{"not a consistency bundle", edit(func(b *evidence.ConsistencyBundle) { b.Format = evidence.FormatBundle }), key, evidence.ReasonUnsupportedVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := evidence.VerifyConsistency(tt.data, tt.key)
			if !evidence.IsReason(err, tt.want) {
				t.Errorf("VerifyConsistency = %v, want reason %s", err, tt.want)
			}
		})
	}
	for i := range goodData {
		b := bytes.Clone(goodData)
		b[i] ^= 0x01
		if _, _, err := evidence.VerifyConsistency(b, key); err == nil {
			t.Fatalf("flipping byte %d of a consistency bundle went undetected", i)
		}
	}
}

// checkpointOf returns the checkpoint of a log (with the test keys) holding entries 0 to n-1.
func checkpointOf(t *testing.T, n int) []byte {
	t.Helper()
	ms := memory.New()
	m := evidencetest.NewLog(t, ms)
	return fill(t, m, ms, 0, n).Note
}

func TestExport(t *testing.T) {
	c := bg(t)
	l, s := newLog(t)
	for i := 0; i < 30; i++ {
		if _, err := evidencetest.Append(c, l, s, evidencetest.Entry(i, []string{"t_a", "t_b", "t_a"}[i%3])); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	var calls int
	from, to := evidencetest.Base.Add(3*time.Second), evidencetest.Base.Add(25*time.Second)
	sum, err := l.Export(c, &buf, evidence.ExportQuery{TenantID: "t_a", From: from, To: to, Disclose: true}, func(done, total int64) {
		calls++
		if total != 15 {
			t.Errorf("progress total %d, want 15", total)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// t_a holds i%3 != 1 in [3, 25): 3,5,6,8,…,24 → 15 entries.
	if sum.Count != 15 || sum.Disclosed != 15 || calls == 0 {
		t.Fatalf("export summary %+v, progress calls %d", sum, calls)
	}
	data := buf.Bytes()
	if evidence.DocumentFormat(data) != evidence.FormatExport {
		t.Errorf("DocumentFormat = %q", evidence.DocumentFormat(data))
	}
	got, err := evidence.VerifyExport(bytes.NewReader(data), l.PublicKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 15 || got.TenantID != "t_a" || !got.From.Equal(from) || !got.To.Equal(to) || got.Checkpoint.Size != 30 {
		t.Errorf("verified export %+v", got)
	}

	lines := bytes.SplitAfter(data, []byte("\n"))
	lines = lines[:len(lines)-1] // the empty tail after the last newline
	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }
	tests := []struct {
		name string
		data []byte
		want evidence.Reason
	}{
		{"truncated (no trailer)", join(lines[:len(lines)-1]...), evidence.ReasonInconsistent},
		{"cut inside a line", data[:len(data)/2], evidence.ReasonMalformed},
		{"entry removed", join(append(append([][]byte{}, lines[:3]...), lines[4:]...)...), evidence.ReasonInconsistent},
		{"entries swapped", join(append(append([][]byte{}, lines[:2]...), append([][]byte{lines[3], lines[2]}, lines[4:]...)...)...), evidence.ReasonInconsistent},
		{"entry repeated", join(append(append([][]byte{}, lines[:3]...), lines[2:]...)...), evidence.ReasonInconsistent},
		{"empty", nil, evidence.ReasonMalformed},
		{"wrong key", data, evidence.ReasonWrongKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := l.PublicKey()
			if tt.want == evidence.ReasonWrongKey {
				key = otherLogKeys(t).Public
			}
			_, err := evidence.VerifyExport(bytes.NewReader(tt.data), key, nil)
			if !evidence.IsReason(err, tt.want) {
				t.Errorf("VerifyExport = %v, want reason %s", err, tt.want)
			}
		})
	}
	// Another tenant's entry spliced in, with its valid proof.
	var foreign bytes.Buffer
	if _, err := l.Export(c, &foreign, evidence.ExportQuery{TenantID: "t_b", From: from, To: to}, nil); err != nil {
		t.Fatal(err)
	}
	fl := bytes.SplitAfter(foreign.Bytes(), []byte("\n"))
	spliced := join(append(append([][]byte{}, lines[:2]...), append([][]byte{fl[1]}, lines[2:]...)...)...)
	if _, err := evidence.VerifyExport(bytes.NewReader(spliced), l.PublicKey(), nil); !evidence.IsReason(err, evidence.ReasonInconsistent) {
		t.Errorf("VerifyExport(another tenant's entry) = %v, want inconsistent", err)
	}
	// Every flipped byte of a small export: the header, two disclosed entries and the trailer.
	l2, s2 := newLog(t)
	fill(t, l2, s2, 0, 4)
	var small bytes.Buffer
	if _, err := l2.Export(c, &small, evidence.ExportQuery{TenantID: "t_a", From: evidencetest.Base.Add(time.Second), To: evidencetest.Base.Add(3 * time.Second), Disclose: true}, nil); err != nil {
		t.Fatal(err)
	}
	data = small.Bytes()
	if _, err := evidence.VerifyExport(bytes.NewReader(data), l2.PublicKey(), nil); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		b := bytes.Clone(data)
		b[i] ^= 0x01
		if _, err := evidence.VerifyExport(bytes.NewReader(b), l2.PublicKey(), nil); err == nil {
			t.Fatalf("flipping byte %d of the export went undetected", i)
		}
	}
}

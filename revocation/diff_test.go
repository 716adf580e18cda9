package revocation

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
)

func mustRead(t *testing.T, der []byte, ca testCA) *Index {
	t.Helper()
	ix, err := Read(der, ca.cert, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func entryString(e Entry) string {
	return fmt.Sprintf("%x@%d/%v", e.Serial, e.RevokedAt.Unix(), e.Reason)
}

func entriesString(es []Entry) []string {
	var s []string
	for _, e := range es {
		s = append(s, entryString(e))
	}
	return s
}

func TestDiff(t *testing.T) {
	c := cas(t)
	hour := testNow.Add(-time.Hour)
	longA, longB, longC, longD := bigHex("0a0000000000000000000001"), bigHex("0a0000000000000000000002"), bigHex("0a0000000000000000000003"), bigHex("0b00000000000000000000000000ff")
	prev := mustRead(t, writerCRL(t, c.rsa, 5, []crlwriter.Entry{
		{Serial: big.NewInt(3), RevokedAt: hour, Reason: 6},
		{Serial: big.NewInt(1), RevokedAt: hour, Reason: 1},
		{Serial: big.NewInt(2), RevokedAt: hour, Reason: -1},
		{Serial: longB, RevokedAt: hour, Reason: 4},
		{Serial: longA, RevokedAt: hour, Reason: 3},
	}), c.rsa)
	next := mustRead(t, writerCRL(t, c.rsa, 6, []crlwriter.Entry{
		{Serial: big.NewInt(1), RevokedAt: hour, Reason: 1},
		{Serial: big.NewInt(3), RevokedAt: hour, Reason: 1},
		{Serial: big.NewInt(4), RevokedAt: testNow, Reason: 3},
		{Serial: longA, RevokedAt: hour, Reason: 3},
		{Serial: longD, RevokedAt: testNow, Reason: 5},
		{Serial: longC, RevokedAt: testNow, Reason: -1},
	}), c.rsa)

	ch, err := Diff(prev, next)
	if err != nil {
		t.Fatal(err)
	}
	e := func(n *big.Int, at time.Time, r CRLReason) string {
		return entryString(Entry{Serial: serialBytes(n), RevokedAt: at, Reason: r})
	}
	wantAdded := []string{e(big.NewInt(4), testNow, AffiliationChanged), e(longC, testNow, NoReason), e(longD, testNow, CessationOfOperation)}
	wantRemoved := []string{e(big.NewInt(2), hour, NoReason), e(longB, hour, Superseded)}
	if got := entriesString(ch.Added); fmt.Sprint(got) != fmt.Sprint(wantAdded) {
		t.Errorf("Added %v; want %v", got, wantAdded)
	}
	if got := entriesString(ch.Removed); fmt.Sprint(got) != fmt.Sprint(wantRemoved) {
		t.Errorf("Removed %v; want %v", got, wantRemoved)
	}
	if len(ch.Changed) != 1 || ch.Changed[0].Old.Reason != CertificateHold || ch.Changed[0].New.Reason != KeyCompromise ||
		ch.Changed[0].New.SerialNumber().Int64() != 3 {
		t.Errorf("Changed %+v; want serial 3 from certificateHold to keyCompromise", ch.Changed)
	}

	same, err := Diff(next, next)
	if err != nil || len(same.Added)+len(same.Removed)+len(same.Changed) != 0 {
		t.Fatalf("diff of an index with itself: %+v, %v", same, err)
	}
	if _, err := Diff(next, prev); !errors.Is(err, ErrNumberWentBackwards) {
		t.Fatalf("reversed diff: %v; want ErrNumberWentBackwards", err)
	}
	other := mustRead(t, x509CRL(t, c.other, 9, nil, nil), c.other)
	if _, err := Diff(prev, other); !errors.Is(err, ErrWrongIssuer) {
		t.Fatalf("diff across issuers: %v; want ErrWrongIssuer", err)
	}
}

// TestDiffRandom checks Diff against a map-based computation on random consecutive CRLs.
func TestDiffRandom(t *testing.T) {
	c := cas(t)
	r := rand.New(rand.NewPCG(11, 12))
	for round := range 5 {
		base := randomWriterEntries(r, 1500)
		var next []crlwriter.Entry
		for _, e := range base {
			switch r.IntN(10) {
			case 0: // removed
			case 1: // changed
				e.Reason = []int{-1, 1, 3, 4}[r.IntN(4)]
				e.RevokedAt = e.RevokedAt.Add(-time.Second)
				next = append(next, e)
			default:
				next = append(next, e)
			}
		}
		next = append(next, randomWriterEntries(r, 200)...)
		prevIx := mustRead(t, writerCRL(t, c.rsa, int64(10*round), base), c.rsa)
		nextIx := mustRead(t, writerCRL(t, c.rsa, int64(10*round+1), next), c.rsa)
		ch, err := Diff(prevIx, nextIx)
		if err != nil {
			t.Fatal(err)
		}
		old, cur := map[string]Entry{}, map[string]Entry{}
		for e := range prevIx.All() {
			old[string(e.Serial)] = e
		}
		for e := range nextIx.All() {
			cur[string(e.Serial)] = e
		}
		want := map[string]string{}
		for k, e := range cur {
			o, ok := old[k]
			switch {
			case !ok:
				want[k] = "added " + entryString(e)
			case !o.RevokedAt.Equal(e.RevokedAt) || o.Reason != e.Reason:
				want[k] = "changed " + entryString(o) + " " + entryString(e)
			}
		}
		for k, e := range old {
			if _, ok := cur[k]; !ok {
				want[k] = "removed " + entryString(e)
			}
		}
		got := map[string]string{}
		for _, e := range ch.Added {
			got[string(e.Serial)] = "added " + entryString(e)
		}
		for _, e := range ch.Removed {
			got[string(e.Serial)] = "removed " + entryString(e)
		}
		for _, x := range ch.Changed {
			got[string(x.New.Serial)] = "changed " + entryString(x.Old) + " " + entryString(x.New)
		}
		if len(got) != len(want) || len(got) != len(ch.Added)+len(ch.Removed)+len(ch.Changed) {
			t.Fatalf("round %d: %d changes, want %d", round, len(got), len(want))
		}
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("round %d: serial %x: got %q, want %q", round, k, got[k], w)
			}
		}
	}
}

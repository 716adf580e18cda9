package revocation

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
)

// splitSmall makes the second pass split CRLs of a few hundred entries over several
// goroutines, as it does with large ones. Tests using it must not run in parallel.
func splitSmall(t *testing.T, workers int) {
	t.Helper()
	oldMark, oldWorkers := markEvery, fillWorkers
	markEvery, fillWorkers = 16, func() int { return workers }
	t.Cleanup(func() { markEvery, fillWorkers = oldMark, oldWorkers })
}

func TestSplitSecondPass(t *testing.T) {
	c := cas(t)
	r := rand.New(rand.NewPCG(15, 16))
	der := writerCRL(t, c.rsa, 1, randomWriterEntries(r, 3000))
	ref := parseReference(t, der)
	for _, workers := range []int{1, 2, 3, 4, 7} {
		splitSmall(t, workers)
		f, err := parseFrame(der)
		if err != nil {
			t.Fatal(err)
		}
		cn := f.count()
		if segs := cn.segments(workers); len(segs) != workers {
			t.Fatalf("%d workers: %d segments", workers, len(segs))
		}
		ix, err := Read(der, c.rsa.cert, Options{})
		if err != nil {
			t.Fatalf("%d workers: %v", workers, err)
		}
		assertMatches(t, ix, ref)
	}
}

// TestSplitReportsFirstError puts bad entries in two different segments: the one earlier in
// the CRL is reported, as a single pass would.
func TestSplitReportsFirstError(t *testing.T) {
	c := cas(t)
	splitSmall(t, 4)
	parts := c.rsa.defaultParts(t)
	var entries [][]byte
	for i := range 400 {
		e := entry(big.NewInt(int64(i+1)).Bytes(), utc("260301000000Z"), reasonExt(1))
		switch i {
		case 150:
			e = entry(big.NewInt(int64(i+1)).Bytes(), utc("260301000000Z"), reasonExt(7))
		case 350:
			e = entry([]byte{0, 1}, utc("260301000000Z"))
		}
		entries = append(entries, e)
	}
	parts.entries = derSeq(entries...)
	_, err := Read(c.rsa.sign(t, parts, nil), c.rsa.cert, Options{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "entry 150:") {
		t.Fatalf("error %v; want entry 150 malformed", err)
	}
}

// TestLongSerialsAcrossSegments has long serials of several widths in every segment.
func TestLongSerialsAcrossSegments(t *testing.T) {
	c := cas(t)
	splitSmall(t, 3)
	var es []crlwriter.Entry
	for i := range 500 {
		s := big.NewInt(int64(i + 1))
		if i%3 == 0 {
			s.Lsh(s, uint(64+8*(i%5))) // 9 to 13 octets
		}
		es = append(es, crlwriter.Entry{Serial: s, RevokedAt: testNow.Add(-time.Duration(i) * time.Minute), Reason: i % 7})
	}
	der := writerCRL(t, c.rsa, 1, es)
	ix, err := Read(der, c.rsa.cert, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertMatches(t, ix, parseReference(t, der))
}

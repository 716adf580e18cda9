package revocation

import (
	"bytes"
	"crypto/x509"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
)

// FuzzRead feeds arbitrary bytes to the reader with the signature check left out (a fuzzer
// cannot forge signatures, and the parser behind it is what needs the exercise). It must never
// panic, and whatever it accepts, x509.ParseRevocationList must accept with the same contents.
func FuzzRead(f *testing.F) {
	c := cas(f)
	r := rand.New(rand.NewPCG(13, 14))
	f.Add(writerCRL(f, c.rsa, 1, randomWriterEntries(r, 20)))
	f.Add(writerCRL(f, c.rsa, 2, nil))
	f.Add(x509CRL(f, c.ecdsa, 3, []x509.RevocationListEntry{rle(big.NewInt(-5), testNow, 1)}, nil))
	f.Add(writerCRL(f, c.rsa, 4, []crlwriter.Entry{
		{Serial: big.NewInt(1), RevokedAt: time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), Reason: 0, InvalidityDate: testNow},
	}))
	seeds, _ := filepath.Glob(filepath.Join("..", "testdata", "crl", "*.crl"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	// Split even tiny CRLs over goroutines, so the fuzzer exercises the split second pass too.
	oldMark, oldWorkers := markEvery, fillWorkers
	markEvery, fillWorkers = 2, func() int { return 3 }
	f.Cleanup(func() { markEvery, fillWorkers = oldMark, oldWorkers })

	f.Fuzz(func(t *testing.T, der []byte) {
		// Read with a real issuer must not panic either.
		_, _ = Read(der, c.rsa.cert, Options{At: testNow, Previous: &Metadata{Number: big.NewInt(2)}})

		fr, err := parseFrame(der)
		if err != nil || fr.unsupported != nil {
			return
		}
		ix, err := fr.index()
		if err != nil {
			return
		}
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			// The reader checks only the shape of the issuer name: Read then requires it to be
			// byte for byte the issuer certificate's subject, which x509 has parsed. x509 also
			// interprets every attribute value, so a fuzzed name can fail there alone.
			if strings.HasPrefix(err.Error(), "x509: invalid RDNSequence") {
				return
			}
			t.Fatalf("accepted what x509 refuses (%v)", err)
		}
		m := ix.Metadata()
		if m.Number.Cmp(rl.Number) != 0 || !m.ThisUpdate.Equal(rl.ThisUpdate) || !m.NextUpdate.Equal(rl.NextUpdate) ||
			!bytes.Equal(m.Issuer, rl.RawIssuer) || !bytes.Equal(m.AuthorityKeyID, rl.AuthorityKeyId) ||
			m.Entries != len(rl.RevokedCertificateEntries) {
			t.Fatalf("metadata %+v differs from x509's", m)
		}
		for _, e := range rl.RevokedCertificateEntries {
			revoked, at, reason := ix.Lookup(e.SerialNumber)
			if !revoked || at.After(e.RevocationTime) {
				t.Fatalf("serial %v: %v at %v; x509 has it at %v", e.SerialNumber, revoked, at, e.RevocationTime)
			}
			if at.Equal(e.RevocationTime) && reason != NoReason && int(reason) != e.ReasonCode {
				t.Fatalf("serial %v: reason %v; x509 says %d", e.SerialNumber, reason, e.ReasonCode)
			}
		}
		n := 0
		for range ix.All() {
			n++
		}
		if n != ix.Len() || ix.Len()+m.Duplicates != m.Entries {
			t.Fatalf("All yields %d, Len %d, %d entries with %d duplicates", n, ix.Len(), m.Entries, m.Duplicates)
		}
	})
}

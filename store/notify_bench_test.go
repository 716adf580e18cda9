package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/notify"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

type benchRevocation struct{}

func (benchRevocation) Status(context.Context, *x509.Certificate, *x509.Certificate, platform.RevocationOptions) (*platform.RevocationStatus, error) {
	return &platform.RevocationStatus{Method: platform.MethodCRL}, nil
}

type benchLinks struct{}

func (benchLinks) Links(context.Context, jlisapi.CertRef) (*jlisapi.LinkInfo, error) {
	return nil, jlisapi.ErrNotFound
}

// BenchmarkReconcile1M checks one million watched certificates (a million persons, each verified
// by a tenant) against a fresh CRL of a million entries, a thousand of which are watched ones:
// the work a node does on the first CRL it reads after a start, when there is no previous CRL to
// diff against. Timed: Notifier.Reconcile — stream the watched certificates from SQLite, look
// each up in the CRL index, and record the thousand notices with their certificate.revoked
// events (follow-ups are left to the notifier's Run). Reported beside two baselines measured in
// the same run: the bare scan of the same rows (scan-s) and the bare lookups (lookup-s).
// Goal: under 10 s.
//
//	go test -run '^$' -bench Reconcile1M -benchtime 1x ./store/
//
// reconcileSize is the number of watched certificates and of CRL entries; a smaller one checks
// the benchmark itself quickly (-reconcile-size 10000).
var reconcileSize = flag.Int("reconcile-size", 1_000_000, "BenchmarkReconcile1M: watched certificates and CRL entries (a multiple of 1000)")

func BenchmarkReconcile1M(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) { benchReconcile(b, d) })
	}
}

func benchReconcile(b *testing.B, dialect string) {
	watched, crlSize := *reconcileSize, *reconcileSize
	const hits = 1_000 // every watched/1000-th certificate is revoked
	ctx := context.Background()
	s := storetest.Open(b, dialect)
	now := time.Now().UTC().Truncate(time.Second)

	key, err := testkit.Key()
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"}, SubjectKeyId: []byte("bench-ca"),
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	caKey := platform.CAKey(ca)

	// A tenant, and a million persons each with a session, an accepted verification and a
	// certificate (serials 0x1000000 + i), generated in SQL.
	if err := s.CreateTenant(ctx, platform.Tenant{ID: "t1", Name: "bench", Facts: platform.AllFacts, CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	at := now.UnixNano()
	// SQLite counts with a recursive CTE, PostgreSQL with generate_series; the rest is shared.
	// hash stands for an entry's leaf and its 32-byte hash: the bench reads no entry.
	gen, hexSerial, nonce, hash := `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1 - 1) `, `printf('%X', 16777216 + i)`, `x'00'`, `zeroblob(32)`
	if dialect == store.DialectPostgres {
		gen, hexSerial, nonce, hash = `WITH n(i) AS (SELECT generate_series(0, $1 - 1)) `, `upper(to_hex(16777216 + i))`, `'\x00'::bytea`, `decode(repeat('00', 32), 'hex')`
	}
	err = store.InTx(ctx, s, func(tx *sql.Tx) error {
		for _, q := range []string{
			gen + `INSERT INTO persons (id, created_at) SELECT 'p' || i, CAST($2 AS BIGINT) FROM n`,
			gen + `INSERT INTO sessions (id, tenant_id, purpose, nonce, holder_token, created_at, expires_at)
			 SELECT 's' || i, 't1', 'identity', ` + nonce + `, 'h', CAST($2 AS BIGINT), CAST($2 AS BIGINT) + 1 FROM n`,
			gen + `INSERT INTO evidence_entries (id, tenant_id, created_at, leaf, leaf_hash)
			 SELECT 'v' || i, 't1', CAST($2 AS BIGINT), ` + hash + `, ` + hash + ` FROM n`,
			gen + `INSERT INTO verifications (id, tenant_id, session_id, purpose, decision, person_id, cert_ca, cert_serial, method, created_at)
			 SELECT 'v' || i, 't1', 's' || i, 'identity', 'accepted', 'p' || i, 'CA', ` + hexSerial + `, 'crl', CAST($2 AS BIGINT) FROM n`,
			gen + `INSERT INTO person_certs (ca, serial, person_id, kind, linked_at)
			 SELECT '` + caKey + `', ` + hexSerial + `, 'p' || i, 'sign', CAST($2 AS BIGINT) FROM n`,
		} {
			if _, err := tx.ExecContext(ctx, q, watched, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if dialect == store.DialectPostgres {
		if err := store.Exec(ctx, s, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}

	// The fresh CRL: the thousand watched certificates and 999 000 others.
	path := filepath.Join(b.TempDir(), "fresh.crl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	_, err = crlwriter.Write(f, crlwriter.Template{Issuer: ca, Number: big.NewInt(7), ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour)},
		func(yield func(crlwriter.Entry) error) error {
			n := new(big.Int)
			for i := range crlSize {
				if i < hits {
					n.SetInt64(16777216 + int64(i)*int64(watched/hits))
				} else {
					n.SetInt64(1<<40 + int64(i))
				}
				if err := yield(crlwriter.Entry{Serial: n, RevokedAt: now.Add(-time.Minute), Reason: 1}); err != nil {
					return err
				}
			}
			return nil
		}, key)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	idx, err := revocation.ReadFile(path, ca, revocation.Options{At: now})
	if err != nil {
		b.Fatal(err)
	}
	lookup := func(serial string) (bool, time.Time, int) {
		ok, at, r := idx.LookupText(serial)
		return ok, at, int(r)
	}

	p, err := platform.New(s, platform.WithMaster(bytes.Repeat([]byte{7}, 32)), platform.WithCAs(platform.CA{Name: "sign", Cert: ca, Purpose: platform.PurposeIdentity}),
		platform.WithRevocation(benchRevocation{}), platform.WithLinks(benchLinks{}), platform.WithEvidence(testkit.EvidenceLog(b, s)))
	if err != nil {
		b.Fatal(err)
	}
	n, err := notify.New(p, notify.WithInlineFollowUp(false))
	if err != nil {
		b.Fatal(err)
	}
	crl := notify.CRLRef{CA: caKey, Name: "sign", Number: "7"}

	// Baselines: the bare scan of the watched certificates, and the bare lookups.
	var serials []string
	start := time.Now()
	if err := s.WatchedCerts(ctx, caKey, func(serial, _ string) error { serials = append(serials, serial); return nil }); err != nil {
		b.Fatal(err)
	}
	scan := time.Since(start)
	start = time.Now()
	found := 0
	for _, sn := range serials {
		if ok, _, _ := lookup(sn); ok {
			found++
		}
	}
	lookups := time.Since(start)
	if len(serials) != watched || found != hits {
		b.Fatalf("scan found %d certificates and %d revoked, want %d and %d", len(serials), found, watched, hits)
	}

	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if err := store.Exec(ctx, s, `DELETE FROM outbox`); err != nil {
			b.Fatal(err)
		}
		if err := store.Exec(ctx, s, `DELETE FROM revocation_notices`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		stored, err := n.Reconcile(ctx, crl, lookup)
		if err != nil {
			b.Fatal(err)
		}
		if stored != hits {
			b.Fatalf("noticed %d, want %d", stored, hits)
		}
	}
	b.StopTimer()
	per := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(per, "s/reconcile")
	b.ReportMetric(float64(watched)/per, "certs/s")
	b.ReportMetric(scan.Seconds(), "scan-s")
	b.ReportMetric(lookups.Seconds(), "lookup-s")
	b.ReportMetric(per/scan.Seconds(), "x-scan")
	if events, _ := store.CountRows(ctx, s, "outbox"); events != hits {
		b.Fatalf("%d events, want %d", events, hits)
	}
}

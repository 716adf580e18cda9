package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
	"github.com/mynagate/mynagate/web"
)

// crlSource serves one CA's CRL valid for a day from now.
func crlSource(t *testing.T, now time.Time) revocation.Source {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "readiness CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SubjectKeyId: []byte{1, 2, 3, 4}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(24 * time.Hour)}, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(crl) }))
	t.Cleanup(srv.Close)
	return revocation.Source{Name: "sign", CRLURL: srv.URL, Issuer: ca}
}

type readyNode struct {
	st  *store.Store
	crl *revocation.Fetcher
	clk *clockwork.FakeClock
	srv *httptest.Server
}

// newReadyNode builds a node's dependencies as serve does (SQLite store, fetched CRL, running
// evidence log) behind web's /readyz.
func newReadyNode(t *testing.T) *readyNode {
	t.Helper()
	ctx := context.Background()
	clk := clockwork.NewFakeClockAt(time.Now())
	st := storetest.Open(t, store.DialectSQLite)
	f := revocation.NewFetcher([]revocation.Source{crlSource(t, clk.Now())}, revocation.WithClock(clk), revocation.WithTempDir(t.TempDir()))
	if err := f.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	log := testkit.EvidenceLog(t, st)
	testkit.RunEvidence(t, log)
	p, err := platform.New(st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.New(p, web.WithReadiness(nodeReadiness(st, f, log))))
	t.Cleanup(srv.Close)
	return &readyNode{st: st, crl: f, clk: clk, srv: srv}
}

// readyz returns /readyz's status and, on a 503, the problem's type and detail.
func (n *readyNode) readyz(t *testing.T) (int, string, string) {
	t.Helper()
	var res *http.Response
	var err error
	for range 100 { // the evidence log starts in the background
		if res, err = http.Get(n.srv.URL + "/readyz"); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == http.StatusOK {
			break
		}
		var p struct{ Type, Detail string }
		json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if res.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("503 with Content-Type %q", res.Header.Get("Content-Type"))
		}
		if !strings.Contains(p.Detail, "evidence log: its integrator is not running") {
			return res.StatusCode, p.Type, p.Detail
		}
		time.Sleep(10 * time.Millisecond)
	}
	res.Body.Close()
	return res.StatusCode, "", ""
}

// TestReadyz shows /readyz answering 200 when the database, the J-LIS CRLs and the evidence
// log are all good, and 503 problem+json naming the dependency that is not ready otherwise.
func TestReadyz(t *testing.T) {
	t.Run("all good", func(t *testing.T) {
		n := newReadyNode(t)
		if st, typ, detail := n.readyz(t); st != http.StatusOK {
			t.Fatalf("/readyz = %d %s %s, want 200", st, typ, detail)
		}
	})
	t.Run("database closed", func(t *testing.T) {
		n := newReadyNode(t)
		n.st.Close()
		st, typ, detail := n.readyz(t)
		if st != http.StatusServiceUnavailable || !strings.HasSuffix(typ, "not-ready") || !strings.HasPrefix(detail, "database: ") {
			t.Fatalf("/readyz = %d %s %q, want 503 not-ready naming the database", st, typ, detail)
		}
		if strings.Contains(detail, "jlis-crl") || strings.Contains(detail, "evidence-log") {
			t.Fatalf("detail names a dependency that is fine: %q", detail)
		}
	})
	t.Run("CRL past its nextUpdate", func(t *testing.T) {
		n := newReadyNode(t)
		n.clk.Advance(25 * time.Hour)
		st, _, detail := n.readyz(t)
		if st != http.StatusServiceUnavailable || !strings.Contains(detail, "jlis-crl: revocation: CRL of sign is not fresh") {
			t.Fatalf("/readyz = %d %q, want 503 naming the stale CRL", st, detail)
		}
		if strings.Contains(detail, "database") {
			t.Fatalf("detail names the database, which is fine: %q", detail)
		}
	})
	t.Run("evidence log not running", func(t *testing.T) {
		ctx := context.Background()
		clk := clockwork.NewFakeClockAt(time.Now())
		st := storetest.Open(t, store.DialectSQLite)
		f := revocation.NewFetcher([]revocation.Source{crlSource(t, clk.Now())}, revocation.WithClock(clk), revocation.WithTempDir(t.TempDir()))
		if err := f.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		log := testkit.EvidenceLog(t, st) // never Run
		err := nodeReadiness(st, f, log)(ctx)
		if err == nil || err.Error() != "evidence-log: evidence log: its integrator is not running" {
			t.Fatalf("readiness = %v, want only the evidence log named", err)
		}
	})
}

package jlis_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"golang.org/x/crypto/ocsp"
)

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func fetchCRL(t *testing.T, srv *httptest.Server, ca string) *x509.RevocationList {
	t.Helper()
	resp, body := get(t, srv.URL+"/crl/"+ca+".crl")
	if resp.StatusCode != 200 {
		t.Fatalf("GET CRL: %d %s", resp.StatusCode, body)
	}
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatalf("parse CRL: %v", err)
	}
	return crl
}

func TestCRL(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	iss := testkit.Issue(t, sim, testkit.Taro())
	root, _ := sim.CACertificate("sign")

	first := fetchCRL(t, srv, "sign")
	if err := first.CheckSignatureFrom(root); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if len(first.RevokedCertificateEntries) != 0 {
		t.Fatalf("fresh CA lists %d revoked", len(first.RevokedCertificateEntries))
	}
	// Unchanged and not due: the same CRL, and conditional GET answers 304.
	resp, _ := get(t, srv.URL+"/crl/sign.crl")
	if again := fetchCRL(t, srv, "sign"); again.Number.Cmp(first.Number) != 0 {
		t.Errorf("CRL regenerated without a change: %v → %v", first.Number, again.Number)
	}
	if resp, _ := get(t, srv.URL+"/crl/sign.crl", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d, want 304", resp.StatusCode)
	}

	clk.Advance(time.Hour)
	ref, _ := sim.RefOf(iss.Card.Sign.Cert)
	lostAt := testkit.Epoch.Add(-48 * time.Hour).UTC().Truncate(time.Second)
	if err := sim.Revoke(ctx, ref, jlis.CauseLost, lostAt); err != nil {
		t.Fatal(err)
	}
	second := fetchCRL(t, srv, "sign")
	if second.Number.Cmp(first.Number) <= 0 {
		t.Fatalf("CRL number did not increase: %v → %v", first.Number, second.Number)
	}
	if len(second.RevokedCertificateEntries) != 1 {
		t.Fatalf("CRL lists %d entries, want 1", len(second.RevokedCertificateEntries))
	}
	e := second.RevokedCertificateEntries[0]
	if e.SerialNumber.Int64() != ref.Serial || e.ReasonCode != int(jlis.ReasonKeyCompromise) || !e.RevocationTime.Equal(clk.Now().Truncate(time.Second)) {
		t.Errorf("entry = serial %v reason %d at %v", e.SerialNumber, e.ReasonCode, e.RevocationTime)
	}
	var inv bool
	for _, x := range e.Extensions {
		if x.Id.String() == "2.5.29.24" {
			inv = true
		}
	}
	if !inv {
		t.Error("entry lacks the invalidity date")
	}
	if !second.NextUpdate.Equal(second.ThisUpdate.Add(24 * time.Hour)) {
		t.Errorf("nextUpdate %v, thisUpdate %v", second.NextUpdate, second.ThisUpdate)
	}
	// The authentication CA's CRL is separate and still empty.
	if auth := fetchCRL(t, srv, "auth"); len(auth.RevokedCertificateEntries) != 0 {
		t.Error("revocation of a signing certificate shows in the auth CRL")
	}
	// Due by schedule: a new number after the interval even without a change.
	clk.Advance(25 * time.Hour)
	if third := fetchCRL(t, srv, "sign"); third.Number.Cmp(second.Number) <= 0 {
		t.Errorf("CRL not regenerated on schedule")
	}
}

func ocspQuery(t *testing.T, srv *httptest.Server, ca string, leaf, issuer *x509.Certificate, h crypto.Hash) *ocsp.Response {
	t.Helper()
	req, err := ocsp.CreateRequest(leaf, issuer, &ocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/ocsp/"+ca, "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r, err := ocsp.ParseResponseForCert(body, leaf, issuer)
	if err != nil {
		t.Fatalf("parse OCSP response: %v", err)
	}
	return r
}

func TestOCSP(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	iss := testkit.Issue(t, sim, testkit.Taro())
	signCA, _ := sim.CACertificate("sign")
	leaf := parse(t, iss.Card.Sign.Cert)

	r := ocspQuery(t, srv, "sign", leaf, signCA, crypto.SHA1)
	if r.Status != ocsp.Good {
		t.Fatalf("status %d, want good", r.Status)
	}
	responder, _ := sim.OCSPResponderCertificate("sign")
	if r.Certificate == nil || !r.Certificate.Equal(responder) {
		t.Error("response not signed by the delegated responder")
	}
	clk.Advance(time.Minute)
	ref, _ := sim.RefOf(iss.Card.Sign.Cert)
	if err := sim.Revoke(ctx, ref, jlis.CauseMove, time.Time{}); err != nil {
		t.Fatal(err)
	}
	r = ocspQuery(t, srv, "sign", leaf, signCA, crypto.SHA256)
	if r.Status != ocsp.Revoked || r.RevocationReason != ocsp.AffiliationChanged || !r.RevokedAt.Equal(clk.Now().Truncate(time.Second)) {
		t.Fatalf("after move: status %d reason %d at %v", r.Status, r.RevocationReason, r.RevokedAt)
	}
	// A certificate of the other CA asked of this CA: unauthorized; a serial never issued: unknown.
	authCA, _ := sim.CACertificate("auth")
	req, _ := ocsp.CreateRequest(parse(t, iss.Card.Auth.Cert), authCA, nil)
	resp, _ := http.Post(srv.URL+"/ocsp/sign", "application/ocsp-request", bytes.NewReader(req))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, ocsp.UnauthorizedErrorResponse) {
		t.Errorf("other issuer: % X", body)
	}
	fake := *leaf
	fake.SerialNumber = leaf.SerialNumber
	fake.SerialNumber = fake.SerialNumber.Add(fake.SerialNumber, bigOne)
	if r := ocspQuery(t, srv, "sign", &fake, signCA, crypto.SHA1); r.Status != ocsp.Unknown {
		t.Errorf("never-issued serial: status %d, want unknown", r.Status)
	}
	// Garbage, by POST and GET: malformedRequest.
	for _, b := range [][]byte{[]byte("garbage"), {}, {0x30, 0x03, 0x02, 0x01}} {
		resp, _ := http.Post(srv.URL+"/ocsp/sign", "application/ocsp-request", bytes.NewReader(b))
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, ocsp.MalformedRequestErrorResponse) {
			t.Errorf("POST %q: % X", b, got)
		}
	}
	if _, got := get(t, srv.URL+"/ocsp/sign/not-base64!"); !bytes.Equal(got, ocsp.MalformedRequestErrorResponse) {
		t.Errorf("GET garbage: % X", got)
	}
}

func TestHTTPErrorsAndToken(t *testing.T) {
	sim, _, _ := testkit.Simulator(t)
	srv := httptest.NewServer(sim.Handler(jlis.WithPlatformToken("s3cret")))
	defer srv.Close()
	iss := testkit.Issue(t, sim, testkit.Taro())
	ref, _ := sim.RefOf(iss.Card.Sign.Cert)
	path := fmt.Sprintf("/links/%s/%X", ref.CA, ref.Serial)
	tests := []struct {
		name, method, path, body, token string
		status                          int
		problem                         string
	}{
		{"links without token", "GET", path, "", "", 401, "unauthorized"},
		{"links with wrong token", "GET", path, "", "nope", 401, "unauthorized"},
		{"links", "GET", path, "", "s3cret", 200, ""},
		{"links bad serial", "GET", "/links/sign/xyz", "", "s3cret", 400, "invalid-request"},
		{"links unknown CA", "GET", "/links/gold/1A", "", "s3cret", 404, "not-found"},
		{"status unknown serial", "GET", "/status/sign/1A", "", "s3cret", 404, "not-found"},
		{"basic4 garbage", "POST", "/basic4", "{{", "s3cret", 400, "invalid-request"},
		{"basic4 unknown field", "POST", "/basic4", `{"ca":"sign","serial":"1","x":1}`, "s3cret", 400, "invalid-request"},
		{"basic4 no consent", "POST", "/basic4", fmt.Sprintf(`{"ca":"sign","serial":"%X","requester":"p"}`, ref.Serial), "s3cret", 400, "invalid-request"},
		{"basic4", "POST", "/basic4", fmt.Sprintf(`{"ca":"sign","serial":"%X","requester":"p","consent_ref":"c"}`, ref.Serial), "s3cret", 200, ""},
		{"unknown CRL", "GET", "/crl/gold.crl", "", "", 404, "not-found"},
		{"CRL without extension", "GET", "/crl/sign", "", "", 404, "not-found"},
		{"CA cert", "GET", "/ca/sign.cer", "", "", 200, ""},
		{"no such endpoint", "GET", "/nope", "", "", 404, "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.problem != "" {
				var p struct{ Type, Detail string }
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("content type %q", ct)
				}
				if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || !strings.HasSuffix(p.Type, "/"+tt.problem) || p.Detail == "" {
					t.Fatalf("problem %+v (%v), want type %s", p, err, tt.problem)
				}
			}
		})
	}
	// None of the rejected requests changed anything.
	if st, _ := sim.Status(ctx, ref); st.Revoked {
		t.Fatal("a rejected request revoked the certificate")
	}
}

// TestOpenSSL runs the real openssl tools against the simulator's certificates, CRLs and OCSP.
func TestOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed for this test (Debian package openssl)")
	}
	sim, _, _ := testkit.Simulator(t, jlis.WithClock(realClockForOpenSSL()))
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	iss := testkit.Issue(t, sim, testkit.Taro())
	dir := t.TempDir()
	write := func(name string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	signPEM, signCA := write("sign.pem", iss.Card.Sign.Cert), write("signca.pem", iss.Card.Sign.CACert)
	authPEM, authCA := write("auth.pem", iss.Card.Auth.Cert), write("authca.pem", iss.Card.Auth.CACert)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("openssl", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, c := range [][2]string{{signCA, signPEM}, {authCA, authPEM}} {
		if out := run("verify", "-CAfile", c[0], c[1]); !strings.Contains(out, ": OK") {
			t.Errorf("openssl verify: %s", out)
		}
	}
	ocspCheck := func(ca, caFile, leaf, want string) {
		t.Helper()
		out := run("ocsp", "-issuer", caFile, "-cert", leaf, "-url", srv.URL+"/ocsp/"+ca, "-CAfile", caFile)
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, leaf+": "+want) || strings.Contains(out, "WARNING") {
			t.Errorf("openssl ocsp: want %q in\n%s", want, out)
		}
	}
	ocspCheck("sign", signCA, signPEM, "good")
	ref, _ := sim.RefOf(iss.Card.Sign.Cert)
	if err := sim.Revoke(ctx, ref, jlis.CauseMove, time.Time{}); err != nil {
		t.Fatal(err)
	}
	ocspCheck("sign", signCA, signPEM, "revoked")
	out := run("ocsp", "-issuer", signCA, "-cert", signPEM, "-url", srv.URL+"/ocsp/sign", "-CAfile", signCA)
	if !strings.Contains(out, "Reason: affiliationChanged") {
		t.Errorf("openssl ocsp reason:\n%s", out)
	}
	ocspCheck("auth", authCA, authPEM, "good")
	for _, ca := range []string{"sign", "auth"} {
		_, der := get(t, srv.URL+"/crl/"+ca+".crl")
		p := filepath.Join(dir, ca+".crl")
		os.WriteFile(p, der, 0o600)
		out := run("crl", "-inform", "DER", "-in", p, "-noout", "-text")
		if !strings.Contains(out, "CRL Number") {
			t.Errorf("openssl crl %s:\n%s", ca, out)
		}
		if ca == "sign" && !strings.Contains(out, "Affiliation Changed") {
			t.Errorf("openssl crl does not show the move:\n%s", out)
		}
		// The CRL verifies against its CA.
		if out := run("crl", "-inform", "DER", "-in", p, "-noout", "-CAfile", map[string]string{"sign": signCA, "auth": authCA}[ca]); !strings.Contains(out, "verify OK") {
			t.Errorf("openssl crl verify %s: %s", ca, out)
		}
	}
}

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
)

// TestTicketGateFlags: the gate-manifest flags of `ticket serve` read the CA certificate (DER or
// PEM) at start and the CRL from a file or a URL at each download; missing companions, a bad key,
// a certificate that is not one, a CRL URL that fails, answers garbage or is too large are errors
// naming the flag or the source.
func TestTicketGateFlags(t *testing.T) {
	ctx := context.Background()
	sim, clk, _ := testkit.Simulator(t)
	clk.Advance(time.Minute)
	caRaw, crlDER, _ := testkit.AuthTrust(t, sim)
	dir := t.TempDir()
	caPEM, caDER, crlFile, junk := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.der"), filepath.Join(dir, "auth.crl"), filepath.Join(dir, "junk")
	writePEM(t, caPEM, "CERTIFICATE", caRaw)
	os.WriteFile(caDER, caRaw, 0o600)
	os.WriteFile(crlFile, crlDER, 0o600)
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pk8, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(dir, "svc.pem")
	writePEM(t, keyFile, "PRIVATE KEY", pk8)

	var served []byte
	var status = 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write(served)
	}))
	defer srv.Close()

	for _, cas := range [][]string{{caPEM}, {caDER}} {
		for _, src := range []string{crlFile, srv.URL + "/auth.crl"} {
			served, status = crlDER, 200
			tr, err := gateTrust(cas, []string{src}, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			gotCAs, gotCRLs, err := tr(ctx)
			if err != nil || len(gotCAs) != 1 || string(gotCAs[0]) != string(caRaw) || len(gotCRLs) != 1 || string(gotCRLs[0]) != string(crlDER) {
				t.Errorf("%v %s: %d CAs, %d CRLs, %v", cas, src, len(gotCAs), len(gotCRLs), err)
			}
		}
	}
	if opt, err := gateOption(keyFile, []string{caPEM}, []string{crlFile}, time.Hour); err != nil || opt == nil {
		t.Errorf("all flags: %v", err)
	}
	if opt, err := gateOption("", nil, nil, time.Hour); err != nil || opt != nil {
		t.Errorf("no gate flags: %v, want no option", err)
	}
	for _, c := range []struct {
		key        string
		cas, crls  []string
		validity   time.Duration
		wantSubstr string
	}{
		{keyFile, nil, []string{crlFile}, time.Hour, "go together"},
		{"", []string{caPEM}, []string{crlFile}, time.Hour, "go together"},
		{keyFile, []string{caPEM}, []string{crlFile}, 0, "--gate-manifest-validity"},
		{caPEM, []string{caPEM}, []string{crlFile}, time.Hour, "--gate-manifest-key"},
		{keyFile, []string{junk}, []string{crlFile}, time.Hour, "--gate-ca"},
		{keyFile, []string{filepath.Join(dir, "none")}, []string{crlFile}, time.Hour, "--gate-ca"},
		{keyFile, []string{caPEM}, []string{filepath.Join(dir, "none")}, time.Hour, "--gate-crl"},
	} {
		if _, err := gateOption(c.key, c.cas, c.crls, c.validity); err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("%+v: %v, want an error naming %s", c, err, c.wantSubstr)
		}
	}
	tr, err := gateTrust([]string{caPEM}, []string{srv.URL + "/auth.crl"}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body   []byte
		status int
		want   string
	}{
		{crlDER, 404, "HTTP 404"},
		{[]byte("garbage"), 200, "CRL"},
		{make([]byte, maxCRLSize+1), 200, "larger than"},
	} {
		served, status = c.body, c.status
		if _, _, err := tr(ctx); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CRL source answering %d (%d bytes): %v, want %q", c.status, len(c.body), err, c.want)
		}
	}
}

package jlis_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

// TestRollover: a rollover makes a second generation of the signing CA with the same DN and a
// new key, linked from the first; certificates issued after it come from the new generation,
// the older ones still chain to the old one; each generation's CRL and OCSP responder speak for
// its own certificates only; the generations survive a reopen; the J-LIS list publishes them.
func TestRollover(t *testing.T) {
	sim, clk, dir := testkit.Simulator(t)
	before := testkit.Issue(t, sim, testkit.Taro()).Card
	clk.Advance(24 * time.Hour)

	name, err := sim.Rollover(ctx, "sign")
	if err != nil || name != "sign-g2" {
		t.Fatalf("Rollover(sign) = %q, %v; want sign-g2", name, err)
	}
	after := testkit.Issue(t, sim, testkit.Hanako()).Card

	g1, g2 := parse(t, mustCACert(t, sim, "sign").Raw), parse(t, mustCACert(t, sim, "sign-g2").Raw)
	if !bytes.Equal(g1.RawSubject, g2.RawSubject) || bytes.Equal(g1.SubjectKeyId, g2.SubjectKeyId) {
		t.Fatal("the new generation must keep the DN and change the key")
	}
	oldSign, newSign := parse(t, before.Sign.Cert), parse(t, after.Sign.Cert)
	if !bytes.Equal(newSign.AuthorityKeyId, g2.SubjectKeyId) || !bytes.Equal(after.Sign.CACert, g2.Raw) {
		t.Error("a certificate issued after the rollover is not from the new generation (AKI or the card's CA file)")
	}
	if !bytes.Equal(parse(t, after.Auth.Cert).AuthorityKeyId, mustCACert(t, sim, "auth").SubjectKeyId) {
		t.Error("rolling the signing CA over changed the authentication CA")
	}
	now := clk.Now()
	if err := verifyChain(t, before.Sign.Cert, g1.Raw, now); err != nil {
		t.Errorf("old certificate against the old generation: %v", err)
	}
	if err := verifyChain(t, after.Sign.Cert, g2.Raw, now); err != nil {
		t.Errorf("new certificate against the new generation: %v", err)
	}
	if oldSign.CheckSignatureFrom(g2) == nil || newSign.CheckSignatureFrom(g1) == nil {
		t.Error("a certificate verifies with the other generation's key")
	}
	for _, c := range []struct {
		der  []byte
		want string
	}{{before.Sign.Cert, "sign"}, {after.Sign.Cert, "sign-g2"}} {
		if ref, err := sim.RefOf(c.der); err != nil || ref.CA != c.want {
			t.Errorf("RefOf = %v, %v; want CA %s", ref, err, c.want)
		}
	}

	// The link certificate: the new key under the common DN, signed by the first generation.
	gens := sim.CAGenerations()
	var link *jlis.CAGeneration
	for i := range gens {
		if gens[i].Name == "sign-g2" {
			link = &gens[i]
		}
	}
	if link == nil || link.Link == nil || !link.Issuing || link.Generation != 2 || link.Base != "sign" {
		t.Fatalf("CAGenerations has no issuing sign-g2 with a link certificate: %+v", gens)
	}
	if err := link.Link.CheckSignatureFrom(g1); err != nil || !bytes.Equal(link.Link.RawSubjectPublicKeyInfo, g2.RawSubjectPublicKeyInfo) ||
		!bytes.Equal(link.Link.AuthorityKeyId, g1.SubjectKeyId) || !link.Link.NotAfter.Equal(g1.NotAfter) {
		t.Errorf("link certificate is not NewWithOld from generation 1 (signature: %v)", err)
	}

	// Revocation per generation: the old certificate is listed by the old generation's CRL and
	// OCSP responder, and the new generation knows nothing of it.
	if _, err := sim.RevokeCard(ctx, before, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	listed := func(ca string) bool {
		info, err := sim.CRL(ctx, ca)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := os.ReadFile(info.Path)
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		issuer := mustCACert(t, sim, ca)
		if err := crl.CheckSignatureFrom(issuer); err != nil || !bytes.Equal(crl.AuthorityKeyId, issuer.SubjectKeyId) {
			t.Errorf("CRL of %s is not signed by its own generation: %v", ca, err)
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(oldSign.SerialNumber) == 0 {
				return true
			}
		}
		return false
	}
	if !listed("sign") || listed("sign-g2") {
		t.Error("the old certificate's revocation must be on generation 1's CRL only")
	}
	status := func(ca string, c *jpki.KeySlot) int {
		issuer := mustCACert(t, sim, ca)
		req, err := ocsp.CreateRequest(parse(t, c.Cert), issuer, nil)
		if err != nil {
			t.Fatal(err)
		}
		der, err := sim.RespondOCSP(ctx, ca, req)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ocsp.ParseResponseForCert(der, parse(t, c.Cert), issuer)
		if err != nil {
			t.Fatalf("OCSP %s: %v", ca, err)
		}
		return resp.Status
	}
	if status("sign", before.Sign) != ocsp.Revoked || status("sign-g2", after.Sign) != ocsp.Good {
		t.Error("OCSP per generation: old revoked, new good")
	}

	// The CRL files of one generation survive the CRL generation of another ("sign-*" matches
	// "sign-g2-N.crl").
	g2CRL, err := sim.PublishCRL(ctx, "sign-g2")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := sim.PublishCRL(ctx, "sign"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(g2CRL.Path); err != nil {
		t.Errorf("publishing generation 1's CRL removed generation 2's: %v", err)
	}

	// The list J-LIS publishes over HTTP.
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ca")
	if err != nil {
		t.Fatal(err)
	}
	var list jlis.CAList
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list.CAs {
		names = append(names, e.Name)
		if e.Name == "sign-g2" && (!bytes.Equal(e.Cert, g2.Raw) || !bytes.Equal(e.LinkCert, link.Link.Raw) || !e.Issuing) {
			t.Error("GET /ca: sign-g2 entry differs from the simulator's")
		}
		if e.Name == "sign" && (e.Issuing || e.LinkCert != nil) {
			t.Error("GET /ca: generation 1 is no longer issuing and has no link certificate")
		}
	}
	if len(names) != 3 || names[0] != "sign" || names[1] != "sign-g2" || names[2] != "auth" {
		t.Errorf("GET /ca names %v, want [sign sign-g2 auth]", names)
	}

	// A reopen keeps the generations and keeps issuing from the newest.
	sim.Close()
	sim2, err := jlis.Open(ctx, dir, jlis.WithClock(clk), jlis.WithKeyGenerator(testkit.Key))
	if err != nil {
		t.Fatal(err)
	}
	defer sim2.Close()
	third := testkit.Issue(t, sim2, testkit.Taro()).Card
	if !bytes.Equal(parse(t, third.Sign.Cert).AuthorityKeyId, g2.SubjectKeyId) {
		t.Error("after a reopen, issuance does not come from the newest generation")
	}
	if got, err := sim2.Rollover(ctx, "sign"); err != nil || got != "sign-g3" {
		t.Errorf("second rollover = %q, %v; want sign-g3", got, err)
	}
}

// TestRolloverRefused: only the four CA families roll over; a generation's name, an unknown
// name or the phone CAs of a simulator without them are refused, and nothing changes.
func TestRolloverRefused(t *testing.T) {
	sim, _, dir := testkit.Simulator(t)
	for _, bad := range []string{"", "sign-g2", "sign-phone", "card-ap", "SIGN", "sign/../auth", "auth-g1"} {
		if name, err := sim.Rollover(ctx, bad); !errors.Is(err, jlis.ErrInvalid) {
			t.Errorf("Rollover(%q) = %q, %v; want ErrInvalid", bad, name, err)
		}
	}
	if got := sim.CANames(); len(got) != 2 {
		t.Errorf("refused rollovers changed the CAs: %v", got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "crl", "*-g*")); len(m) != 0 {
		t.Errorf("refused rollovers left files: %v", m)
	}
}

func mustCACert(t *testing.T, sim *jlis.Simulator, name string) *x509.Certificate {
	t.Helper()
	c, err := sim.CACertificate(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

package cades_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/cades"
	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/reader"
)

// cardSigner issues a card from the J-LIS simulator and opens its signing key in process, as a
// holder's app does after the password; it also returns the signing CA's certificate.
func cardSigner(t *testing.T) (*reader.Signer, *x509.Certificate) {
	t.Helper()
	sim, clk, _ := testkit.Simulator(t)
	path := testkit.CardFile(t, sim, testkit.Taro())
	c, err := card.Open(path, card.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := reader.NewClient(reader.NewInProcess(c, "in-process")).SignSigner(context.Background(), jlis.DefaultSignPassword)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := sim.CACertificate("sign")
	if err != nil {
		t.Fatal(err)
	}
	return signer, ca
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCMS: testOpenSSL signs a document's hash with a virtual card's signing
// key and checks the detached CMS with the real openssl: without chain verification, with the
// J-LIS signing CA as the trust anchor, and refused for another document.
func TestCMS(t *testing.T) {
	signer, ca := cardSigner(t) // one card for all: issuing takes seconds
	t.Run("openssl", func(t *testing.T) { testOpenSSL(t, signer, ca) })
	t.Run("deterministic", func(t *testing.T) { testDeterministic(t, signer) })
	t.Run("refused", func(t *testing.T) { testRefused(t, signer) })
}

func testOpenSSL(t *testing.T, signer *reader.Signer, ca *x509.Certificate) {
	bin := testkit.OpenSSL(t)
	doc := []byte("契約書 第1条: the holder agrees.\n")
	digest := sha256.Sum256(doc)
	at := time.Date(2026, 4, 1, 1, 2, 3, 0, time.UTC)
	bind := cades.Attribute{Type: asn1.ObjectIdentifier{2, 25, 1}, Value: []byte{0x0C, 0x02, 'h', 'i'}} // UTF8String "hi"
	der, err := cades.Sign(signer, nil, signer.Certificate(), digest[:], at, bind)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	docPath, cmsPath := write(t, dir, "doc.txt", doc), write(t, dir, "doc.txt.p7s", der)
	caPath := write(t, dir, "sign-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	other := write(t, dir, "other.txt", append(bytes.Clone(doc), '!'))
	run := func(args ...string) (string, error) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("cms", "-verify", "-binary", "-inform", "DER", "-in", cmsPath, "-content", docPath, "-noverify", "-out", os.DevNull); err != nil {
		t.Fatalf("openssl cms -verify -noverify: %v\n%s", err, out)
	}
	if out, err := run("cms", "-verify", "-binary", "-inform", "DER", "-in", cmsPath, "-content", docPath, "-CAfile", caPath, "-purpose", "any", "-attime", "1775005323", "-out", os.DevNull); err != nil {
		t.Fatalf("openssl cms -verify -CAfile (the J-LIS signing CA): %v\n%s", err, out)
	}
	if out, err := run("cms", "-verify", "-binary", "-inform", "DER", "-in", cmsPath, "-content", other, "-noverify", "-out", os.DevNull); err == nil {
		t.Fatalf("openssl verified the signature for another document:\n%s", out)
	}
	out, err := run("cms", "-cmsout", "-print", "-inform", "DER", "-in", cmsPath)
	if err != nil {
		t.Fatalf("openssl cms -cmsout -print: %v\n%s", err, out)
	}
	for _, want := range []string{"contentType", "messageDigest", "signingTime", "id-smime-aa-signingCertificateV2", "2.25.1", "eContent: <ABSENT>"} {
		if !strings.Contains(out, want) {
			t.Errorf("the CMS lacks %q:\n%s", want, out)
		}
	}
}

// testDeterministic: the platform builds the attributes, the holder's app may
// build them again to check them; both must get the same bytes.
func testDeterministic(t *testing.T, signer *reader.Signer) {
	d := sha256.Sum256([]byte("doc"))
	at := time.Date(2026, 4, 1, 1, 2, 3, 500, time.UTC)
	a, err := cades.SignedAttributes(d[:], signer.Certificate(), at)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cades.SignedAttributes(d[:], signer.Certificate(), at.Add(-500))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || a[0] != 0x31 {
		t.Fatalf("two builds differ or are not a SET:\n%x\n%x", a, b)
	}
	// The attributes as an RP's library reads them (openssl 3.0 does not check the ESS
	// attribute itself): content type, digest, time, and the signer's certificate by its hash,
	// issuer and serial.
	type attribute struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}
	var attrs []attribute
	if rest, err := asn1.UnmarshalWithParams(a, &attrs, "set"); err != nil || len(rest) != 0 {
		t.Fatalf("signed attributes do not parse: %v", err)
	}
	got := map[string][]byte{}
	for _, at := range attrs {
		if len(at.Values) != 1 {
			t.Fatalf("attribute %s has %d values", at.Type, len(at.Values))
		}
		got[at.Type.String()] = at.Values[0].FullBytes
	}
	var ct asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(got[cades.OIDContentType.String()], &ct); err != nil || !ct.Equal(cades.OIDData) {
		t.Errorf("content type = %v (%v), want id-data", ct, err)
	}
	var md []byte
	if _, err := asn1.Unmarshal(got[cades.OIDMessageDigest.String()], &md); err != nil || !bytes.Equal(md, d[:]) {
		t.Errorf("message digest = %x (%v), want %x", md, err, d)
	}
	var st time.Time
	if _, err := asn1.Unmarshal(got[cades.OIDSigningTime.String()], &st); err != nil || !st.Equal(at.Truncate(time.Second)) {
		t.Errorf("signing time = %v (%v), want %v", st, err, at.Truncate(time.Second))
	}
	var sc struct {
		Certs []struct {
			Hash         []byte
			IssuerSerial struct {
				Issuer []asn1.RawValue
				Serial *big.Int
			}
		}
	}
	if _, err := asn1.Unmarshal(got[cades.OIDSigningCertificateV2.String()], &sc); err != nil || len(sc.Certs) != 1 {
		t.Fatalf("signingCertificateV2 does not parse: %v", err)
	}
	cert := signer.Certificate()
	h := sha256.Sum256(cert.Raw)
	is := sc.Certs[0].IssuerSerial
	if !bytes.Equal(sc.Certs[0].Hash, h[:]) || len(is.Issuer) != 1 || is.Issuer[0].Tag != 4 ||
		!bytes.Equal(is.Issuer[0].Bytes, cert.RawIssuer) || is.Serial.Cmp(cert.SerialNumber) != 0 {
		t.Errorf("signingCertificateV2 does not name the signer's certificate: %+v", sc)
	}
}

// testRefused: bad input and a signature over something else give no CMS.
func testRefused(t *testing.T, signer *reader.Signer) {
	cert := signer.Certificate()
	d := sha256.Sum256([]byte("doc"))
	at := time.Date(2026, 4, 1, 1, 2, 3, 0, time.UTC)
	for name, f := range map[string]func() error{
		"short digest": func() error { _, err := cades.SignedAttributes(d[:31], cert, at); return err },
		"long digest":  func() error { _, err := cades.SignedAttributes(append(d[:], 0), cert, at); return err },
		"no cert":      func() error { _, err := cades.SignedAttributes(d[:], nil, at); return err },
		"extra replacing message-digest": func() error {
			_, err := cades.SignedAttributes(d[:], cert, at, cades.Attribute{Type: cades.OIDMessageDigest, Value: []byte{4, 0}})
			return err
		},
		"extra value not one DER element": func() error {
			_, err := cades.SignedAttributes(d[:], cert, at, cades.Attribute{Type: asn1.ObjectIdentifier{2, 25, 1}, Value: []byte{4, 1, 0, 0}})
			return err
		},
		"attributes not a SET": func() error { _, err := cades.SignedData([]byte{0x30, 0}, []byte{1}, cert); return err },
	} {
		if err := f(); !errors.Is(err, cades.ErrInput) {
			t.Errorf("%s: err = %v, want ErrInput", name, err)
		}
	}

	attrs, err := cades.SignedAttributes(d[:], cert, at)
	if err != nil {
		t.Fatal(err)
	}
	other, err := cades.SignedAttributes(d[:], cert, at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(other)
	sigOther, err := signer.Sign(nil, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cades.SignedData(attrs, sigOther, cert); !errors.Is(err, cades.ErrSignature) {
		t.Fatalf("a signature over other attributes: err = %v, want ErrSignature", err)
	}
	if _, err := cades.SignedData(other, sigOther, cert); err != nil {
		t.Fatalf("the matching signature: %v", err)
	}
}

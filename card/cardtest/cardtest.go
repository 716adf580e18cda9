// Package cardtest makes card files for tests of the virtual card and its bridges: RSA-2048
// keys (generated once per test binary), two self-signed CA certificates and the holder's
// authentication and signing certificates, the signing one with the basic 4 facts in its
// subjectAltName. The certificates are shaped like JPKI's only as far as the card needs
// (DER starting 30 82, matching keys); profile tests belong to package jlis, whose simulator
// issues the real thing.
package cardtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

// PINs of the cards made here.
const (
	AuthPIN      = "1234"
	SignPassword = "ABC123"
	SupportPIN   = "5678"
	JukiPIN      = "2468"
)

// Holder is the basic 4 facts on the cards made here.
var Holder = jpki.Basic4{
	Name:    "番号　花子",
	Address: "東京都千代田区霞が関２丁目１番２号",
	Birth:   jpki.Date{Year: 1980, Month: time.February, Day: 17},
	Sex:     jpki.SexFemale,
}

// MyNumber is the individual number on the cards made here (valid check digit).
const MyNumber = "123456789018"

var (
	keysOnce sync.Once
	keys     [3]*rsa.PrivateKey // CA, auth, sign
	keysErr  error
)

func genKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		for i := range keys {
			if keys[i], keysErr = rsa.GenerateKey(rand.Reader, 2048); keysErr != nil {
				return
			}
		}
	})
	if keysErr != nil {
		t.Fatalf("cardtest: generate keys: %v", keysErr)
	}
}

// Keys returns the holder's authentication and signing keys of every card made here.
func Keys(t testing.TB) (auth, sign *rsa.PrivateKey) {
	genKeys(t)
	return keys[1], keys[2]
}

// CardFile returns a fresh card file (new certificates each call, shared keys) for the medium.
func CardFile(t testing.TB, medium jpki.Medium) *jpki.CardFile {
	t.Helper()
	genKeys(t)
	now := time.Now()
	ca := func(cn string, serial int64) *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{Country: []string{"JP"}, Organization: []string{"JPKI-TEST"}, CommonName: cn},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.AddDate(10, 0, 0),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &keys[0].PublicKey, keys[0])
		if err != nil {
			t.Fatalf("cardtest: %v", err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	authCA, signCA := ca("Test Auth CA", 1), ca("Test Sign CA", 2)
	leaf := func(issuer *x509.Certificate, key *rsa.PrivateKey, subject pkix.Name, serial int64, extra []pkix.Extension, usage x509.KeyUsage) []byte {
		tmpl := &x509.Certificate{
			SerialNumber:    big.NewInt(serial),
			Subject:         subject,
			NotBefore:       now.Add(-time.Hour),
			NotAfter:        now.AddDate(5, 0, 0),
			KeyUsage:        usage,
			ExtraExtensions: extra,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, keys[0])
		if err != nil {
			t.Fatalf("cardtest: %v", err)
		}
		return der
	}
	san, err := jpki.MarshalSubjectAltName(Holder)
	if err != nil {
		t.Fatalf("cardtest: %v", err)
	}
	authCert := leaf(authCA, keys[1], pkix.Name{Country: []string{"JP"}, CommonName: "20250101000000000000001A"}, 1001, nil,
		x509.KeyUsageDigitalSignature)
	signCert := leaf(signCA, keys[2], pkix.Name{Country: []string{"JP"}, Locality: []string{"東京都", "千代田区"}, CommonName: "20250101000000000000002S"}, 1002,
		[]pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}},
		x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment)
	pkcs8 := func(k *rsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatalf("cardtest: %v", err)
		}
		return der
	}
	cf := &jpki.CardFile{
		Version:          jpki.CardFileVersion,
		Medium:           medium,
		CardSerial:       "400000012719843",
		MunicipalityCode: "13101",
		CardExpiry:       "2035-02-17",
		MyNumber:         MyNumber,
		Basic4:           Holder,
		SecurityCode:     "4321",
		Auth: &jpki.KeySlot{Cert: authCert, CACert: authCA.Raw, Key: pkcs8(keys[1]),
			PIN: jpki.PIN{Value: AuthPIN, Tries: jpki.AuthPINTries, MaxTries: jpki.AuthPINTries}},
		Sign: &jpki.KeySlot{Cert: signCert, CACert: signCA.Raw, Key: pkcs8(keys[2]),
			PIN: jpki.PIN{Value: SignPassword, Tries: jpki.SignPINTries, MaxTries: jpki.SignPINTries}},
		SupportPIN: jpki.PIN{Value: SupportPIN, Tries: jpki.SupportPINTries, MaxTries: jpki.SupportPINTries},
		JukiPIN:    jpki.PIN{Value: JukiPIN, Tries: jpki.JukiPINTries, MaxTries: jpki.JukiPINTries},
	}
	if medium == jpki.MediumCard {
		cf.SupportAP = SignSupportAP(t, cf)
	}
	return cf
}

// SignSupportAP signs the support AP's data of cf as an issuer does (the CA key of this
// package certifies the auth key of this package as the AP key; CAPublicKey verifies it).
func SignSupportAP(t testing.TB, cf *jpki.CardFile) *jpki.SignedAP {
	t.Helper()
	genKeys(t)
	myNumber, err := jpki.MarshalSupportMyNumber(cf.MyNumber)
	if err != nil {
		t.Fatalf("cardtest: %v", err)
	}
	basic4, err := jpki.MarshalSupportBasic4(cf.Basic4)
	if err != nil {
		t.Fatalf("cardtest: %v", err)
	}
	digests, err := jpki.SupportDigests(myNumber, basic4)
	if err != nil {
		t.Fatalf("cardtest: %v", err)
	}
	ref := func(s string) []byte { return []byte(s + "................")[:16] }
	cert, err := jpki.MarshalCVCert(ref("CARDTEST-CA"), ref("CARDTEST-AP"), &keys[1].PublicKey, keys[0])
	if err != nil {
		t.Fatalf("cardtest: %v", err)
	}
	sig, err := jpki.MarshalSupportSignature(digests, keys[1])
	if err != nil {
		t.Fatalf("cardtest: %v", err)
	}
	return &jpki.SignedAP{Signature: sig, Cert: cert}
}

// CAPublicKey is the public key of the CA that signs the test cards' AP certificates.
func CAPublicKey(t testing.TB) *rsa.PublicKey {
	genKeys(t)
	return &keys[0].PublicKey
}

// WriteCardFile writes a fresh card file for the medium into t.TempDir() and returns its path.
func WriteCardFile(t testing.TB, medium jpki.Medium) (string, *jpki.CardFile) {
	t.Helper()
	cf := CardFile(t, medium)
	path := filepath.Join(t.TempDir(), "card.json")
	if err := cf.Save(path); err != nil {
		t.Fatalf("cardtest: %v", err)
	}
	return path, cf
}

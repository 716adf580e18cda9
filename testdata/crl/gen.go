//go:build ignore

// gen writes the CRL fixtures in this directory. Run from the repository root:
//
//	go run ./testdata/crl/gen.go
//
// Keys are generated on every run and thrown away: the fixtures need only the CA certificates.
// README.md says what each file is and what a reader must make of it.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
)

var (
	dir        = filepath.Join("testdata", "crl")
	thisUpdate = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	nextUpdate = thisUpdate.Add(24 * time.Hour)
	revoked    = thisUpdate.Add(-6 * time.Hour)
)

type ca struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func main() {
	signing := newCA("JPKI for digital signature", "sign")
	other := newCA("JPKI for user authentication", "auth")
	writePEM("ca.pem", signing.cert)
	writePEM("other-ca.pem", other.cert)

	entries := []crlwriter.Entry{
		{Serial: big.NewInt(0x1001), RevokedAt: revoked, Reason: 3},                                               // affiliationChanged (異動)
		{Serial: big.NewInt(0x1002), RevokedAt: revoked, Reason: 1, InvalidityDate: revoked.Add(-48 * time.Hour)}, // keyCompromise (lost card)
		{Serial: big.NewInt(0x1003), RevokedAt: revoked.Add(time.Hour), Reason: 5},                                // cessationOfOperation
		{Serial: big.NewInt(0x1004), RevokedAt: revoked.Add(time.Hour), Reason: crlwriter.NoReason},
		{Serial: mustHex("8000000000000001"), RevokedAt: revoked, Reason: 4},                            // high bit set: nine octets
		{Serial: mustHex("0123456789abcdef0123456789abcdef"), RevokedAt: revoked, Reason: 6},            // 16 octets
		{Serial: big.NewInt(0x0fff), RevokedAt: time.Date(2050, 1, 2, 3, 4, 5, 0, time.UTC), Reason: 9}, // GeneralizedTime
	}
	good := write(signing, 10, thisUpdate, entries)
	save("good.crl", good)
	save("empty.crl", write(signing, 11, thisUpdate, nil))
	save("rolled-back.crl", write(signing, 9, thisUpdate.Add(-24*time.Hour), entries[:3]))
	save("future.crl", write(signing, 12, thisUpdate.Add(365*24*time.Hour), entries[:1]))
	save("wrong-issuer.crl", write(other, 10, thisUpdate, entries[:2]))
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	save("bad-signature.crl", bad)
	save("truncated.crl", good[:len(good)-10])

	rl := &x509.RevocationList{Number: big.NewInt(13), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	for _, e := range entries {
		r := e.Reason
		if r < 0 {
			r = 0
		}
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: e.Serial, RevocationTime: e.RevokedAt, ReasonCode: r})
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, signing.cert, signing.key)
	if err != nil {
		log.Fatal(err)
	}
	save("x509.crl", der)
}

func newCA(ou, id string) ca {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	ski := sha256.Sum256([]byte(id))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"JP"}, Organization: []string{"JPKI-TEST"}, OrganizationalUnit: []string{ou}},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2044, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	return ca{cert: cert, key: key}
}

func write(c ca, number int64, this time.Time, entries []crlwriter.Entry) []byte {
	var buf bytes.Buffer
	_, err := crlwriter.Write(&buf, crlwriter.Template{Issuer: c.cert, Number: big.NewInt(number), ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour)},
		func(yield func(crlwriter.Entry) error) error {
			for _, e := range entries {
				if err := yield(e); err != nil {
					return err
				}
			}
			return nil
		}, c.key)
	if err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		log.Fatal(s)
	}
	return n
}

func writePEM(name string, c *x509.Certificate) {
	save(name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func save(name string, b []byte) {
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		log.Fatal(err)
	}
}

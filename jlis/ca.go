package jlis

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"fmt"
	"math/big"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

var jstZone = jpki.JST

// caLifetime is the life of a root CA (REFERENCE §5.1: ten years, ending 23:59:59 JST).
const caLifetime = 10

// ocspLifetime is the life of a delegated OCSP responder certificate; a new one is issued at
// start-up when less than ocspRenewBefore is left.
const (
	ocspLifetime    = 365 * 24 * time.Hour
	ocspRenewBefore = 30 * 24 * time.Hour
)

func (s *Simulator) loadOrCreateCAs(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	naming, ok, err := getMeta(ctx, s.db, "naming")
	if err != nil {
		return err
	}
	if ok {
		if Naming(naming) != s.naming && s.naming != NamingTest {
			return fmt.Errorf("jlis: data directory %s uses %s naming; it cannot be reopened with %s naming", s.dir, naming, s.naming)
		}
		s.naming = Naming(naming)
		phone, _, err := getMeta(ctx, s.db, "phone_cas")
		if err != nil {
			return err
		}
		s.phoneCAs = phone == "1"
	} else {
		phone := "0"
		if s.phoneCAs {
			phone = "1"
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('naming', ?), ('phone_cas', ?)`, string(s.naming), phone); err != nil {
			return fmt.Errorf("jlis: write meta: %w", err)
		}
	}
	names := []caName{caSign, caAuth}
	if s.phoneCAs {
		names = append(names, caSignPhone, caAuthPhone)
	}
	s.cas = map[caName]*authority{}
	for _, n := range names {
		a, err := s.loadCA(ctx, n)
		if err != nil {
			return err
		}
		if a == nil {
			if a, err = s.createCA(ctx, n); err != nil {
				return err
			}
		}
		if a.ocspCert.NotAfter.Sub(s.clk.Now()) < ocspRenewBefore {
			if err := s.renewResponder(ctx, a); err != nil {
				return err
			}
		}
		s.cas[n] = a
	}
	return nil
}

func (s *Simulator) loadCA(ctx context.Context, n caName) (*authority, error) {
	var certDER, keyDER, ocspDER, ocspKeyDER []byte
	err := s.db.QueryRowContext(ctx, `SELECT cert, key, ocsp_cert, ocsp_key FROM ca WHERE name = ?`, string(n)).Scan(&certDER, &keyDER, &ocspDER, &ocspKeyDER)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jlis: load CA %s: %w", n, err)
	}
	a := &authority{name: n}
	if a.cert, err = x509.ParseCertificate(certDER); err != nil {
		return nil, fmt.Errorf("jlis: CA %s certificate in the database is corrupt: %w", n, err)
	}
	if a.ocspCert, err = x509.ParseCertificate(ocspDER); err != nil {
		return nil, fmt.Errorf("jlis: CA %s responder certificate in the database is corrupt: %w", n, err)
	}
	if a.key, err = parseRSAKey(keyDER); err != nil {
		return nil, fmt.Errorf("jlis: CA %s key: %w", n, err)
	}
	if a.ocspKey, err = parseRSAKey(ocspKeyDER); err != nil {
		return nil, fmt.Errorf("jlis: CA %s responder key: %w", n, err)
	}
	return a, nil
}

func parseRSAKey(der []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("jlis: parse key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("jlis: key is %T, not RSA", k)
	}
	return rk, nil
}

// createCA generates a root key and its self-signed certificate with the J-LIS root profile:
// keyUsage (critical) keyCertSign|cRLSign, subjectAltName directoryName in Japanese,
// basicConstraints (critical) CA:TRUE, cRLDistributionPoints naming the CA's own DN (the ARL),
// subjectKeyIdentifier; no AKI.
func (s *Simulator) createCA(ctx context.Context, n caName) (*authority, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("jlis: generate CA key: %w", err)
	}
	ski, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(s.rand, big.NewInt(1<<31))
	if err != nil {
		return nil, fmt.Errorf("jlis: CA serial: %w", err)
	}
	serial.Add(serial, big.NewInt(1<<24)) // four bytes, as J-LIS's 0133C349, 067C6A21
	now := s.clk.Now().UTC().Truncate(time.Second)
	name := marshalName(s.naming.caSubject(n))
	nd := now.In(jstZone)
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		RawSubject:         name,
		NotBefore:          now,
		NotAfter:           endOfDayJST(nd.Year()+caLifetime, nd.Month(), nd.Day()).Add(-24 * time.Hour),
		SignatureAlgorithm: x509.SHA256WithRSA,
		ExtraExtensions: []pkixExtension{
			keyUsageExt(0x06, 1),
			ext(oidExtSAN, false, directoryNames(marshalName(caAltName(n)))),
			basicConstraintsCA(),
			crldpExt(name),
			skiExt(ski),
		},
	}
	tmpl.RawIssuer = name
	der, err := x509.CreateCertificate(s.rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("jlis: create CA %s certificate: %w", n, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("jlis: parse new CA certificate: %w", err)
	}
	a := &authority{name: n, cert: cert, key: key}
	if err := s.newResponder(a); err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("jlis: marshal CA key: %w", err)
	}
	ocspKeyDER, err := x509.MarshalPKCS8PrivateKey(a.ocspKey)
	if err != nil {
		return nil, fmt.Errorf("jlis: marshal responder key: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO ca (name, cert, key, ocsp_cert, ocsp_key) VALUES (?, ?, ?, ?, ?)`,
		string(n), der, keyDER, a.ocspCert.Raw, ocspKeyDER); err != nil {
		return nil, fmt.Errorf("jlis: store CA %s: %w", n, err)
	}
	return a, nil
}

// newResponder issues a delegated OCSP responder certificate (RFC 6960 §4.2.2.2): extended key
// usage id-kp-OCSPSigning and id-pkix-ocsp-nocheck.
func (s *Simulator) newResponder(a *authority) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("jlis: generate responder key: %w", err)
	}
	serial, err := s.randomSerial()
	if err != nil {
		return err
	}
	ski, err := keyID(&key.PublicKey)
	if err != nil {
		return err
	}
	now := s.clk.Now().UTC().Truncate(time.Second)
	subject := append(s.naming.caSubject(a.name)[:3:3], utf8Attr(oidCommonName, "OCSP Responder"))
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(serial),
		RawSubject:         marshalName(subject),
		NotBefore:          now,
		NotAfter:           now.Add(ocspLifetime),
		SignatureAlgorithm: x509.SHA256WithRSA,
		ExtraExtensions: []pkixExtension{
			keyUsageExt(0x80, 7),
			ext(oidExtEKU, false, build(func(b *cryptobyteBuilder) {
				b.AddASN1(asn1SEQUENCE, func(b *cryptobyteBuilder) { b.AddASN1ObjectIdentifier(oidEKUOCSPSigning) })
			})),
			ext(oidOCSPNoCheck, false, []byte{0x05, 0x00}),
			akiExt(a.cert.SubjectKeyId),
			skiExt(ski),
		},
	}
	der, err := x509.CreateCertificate(s.rand, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return fmt.Errorf("jlis: create responder certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("jlis: parse responder certificate: %w", err)
	}
	a.ocspCert, a.ocspKey = cert, key
	return nil
}

func (s *Simulator) renewResponder(ctx context.Context, a *authority) error {
	if err := s.newResponder(a); err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(a.ocspKey)
	if err != nil {
		return fmt.Errorf("jlis: marshal responder key: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE ca SET ocsp_cert = ?, ocsp_key = ? WHERE name = ?`, a.ocspCert.Raw, keyDER, string(a.name)); err != nil {
		return fmt.Errorf("jlis: store responder: %w", err)
	}
	return nil
}

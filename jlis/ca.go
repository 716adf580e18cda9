package jlis

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
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
	s.newest = map[caName]*authority{}
	for _, n := range names {
		gens, err := s.loadGenerations(ctx, n)
		if err != nil {
			return err
		}
		if len(gens) == 0 {
			a, err := s.createCA(ctx, n, nil)
			if err != nil {
				return err
			}
			gens = append(gens, a)
		}
		for _, a := range gens {
			if a.ocspCert.NotAfter.Sub(s.clk.Now()) < ocspRenewBefore {
				if err := s.renewResponder(ctx, a); err != nil {
					return err
				}
			}
			s.cas[a.name] = a
		}
		s.newest[n] = gens[len(gens)-1]
	}
	return nil
}

// loadGenerations loads every generation of a base CA, oldest first.
func (s *Simulator) loadGenerations(ctx context.Context, base caName) ([]*authority, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, gen, cert, key, ocsp_cert, ocsp_key, link_cert FROM ca ORDER BY gen`)
	if err != nil {
		return nil, fmt.Errorf("jlis: load CAs: %w", err)
	}
	defer rows.Close()
	var out []*authority
	for rows.Next() {
		var name string
		var gen int
		var certDER, keyDER, ocspDER, ocspKeyDER, linkDER []byte
		if err := rows.Scan(&name, &gen, &certDER, &keyDER, &ocspDER, &ocspKeyDER, &linkDER); err != nil {
			return nil, fmt.Errorf("jlis: load CAs: %w", err)
		}
		if caName(name).base() != base || caName(name) != base.generation(gen) {
			continue
		}
		a := &authority{name: caName(name), gen: gen}
		if a.cert, err = x509.ParseCertificate(certDER); err != nil {
			return nil, fmt.Errorf("jlis: CA %s certificate in the database is corrupt: %w", name, err)
		}
		if a.ocspCert, err = x509.ParseCertificate(ocspDER); err != nil {
			return nil, fmt.Errorf("jlis: CA %s responder certificate in the database is corrupt: %w", name, err)
		}
		if linkDER != nil {
			if a.link, err = x509.ParseCertificate(linkDER); err != nil {
				return nil, fmt.Errorf("jlis: CA %s link certificate in the database is corrupt: %w", name, err)
			}
		}
		if a.key, err = parseRSAKey(keyDER); err != nil {
			return nil, fmt.Errorf("jlis: CA %s key: %w", name, err)
		}
		if a.ocspKey, err = parseRSAKey(ocspKeyDER); err != nil {
			return nil, fmt.Errorf("jlis: CA %s responder key: %w", name, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
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
// subjectKeyIdentifier; no AKI. With prev it is the next generation of prev's CA: the same DN,
// a new key, and a link certificate (NewWithOld, RFC 4210 §4.4) by which prev's key certifies
// the new one, so a verifier that trusts prev can accept its successor without a new pin.
func (s *Simulator) createCA(ctx context.Context, base caName, prev *authority) (*authority, error) {
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
	name := marshalName(s.naming.caSubject(base))
	nd := now.In(jstZone)
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		RawSubject:         name,
		NotBefore:          now,
		NotAfter:           endOfDayJST(nd.Year()+caLifetime, nd.Month(), nd.Day()).Add(-24 * time.Hour),
		SignatureAlgorithm: x509.SHA256WithRSA,
		ExtraExtensions: []pkixExtension{
			keyUsageExt(0x06, 1),
			ext(oidExtSAN, false, directoryNames(marshalName(caAltName(base)))),
			basicConstraintsCA(),
			crldpExt(name),
			skiExt(ski),
		},
	}
	tmpl.RawIssuer = name
	der, err := x509.CreateCertificate(s.rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("jlis: create CA %s certificate: %w", base, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("jlis: parse new CA certificate: %w", err)
	}
	a := &authority{name: base, gen: 1, cert: cert, key: key}
	var linkDER []byte
	if prev != nil {
		a.gen = prev.gen + 1
		a.name = base.generation(a.gen)
		if a.link, err = s.linkCert(prev, tmpl, &key.PublicKey); err != nil {
			return nil, err
		}
		linkDER = a.link.Raw
	}
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
	if _, err := s.db.ExecContext(ctx, `INSERT INTO ca (name, gen, cert, key, ocsp_cert, ocsp_key, link_cert) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		string(a.name), a.gen, der, keyDER, a.ocspCert.Raw, ocspKeyDER, linkDER); err != nil {
		return nil, fmt.Errorf("jlis: store CA %s: %w", a.name, err)
	}
	return a, nil
}

// linkCert issues the NewWithOld link certificate of a new generation: the new key and the
// common DN as subject, issued and signed by the previous generation (AKI = its key id), valid
// from now until the previous generation ends (RFC 4210 §4.4 gives it no longer life, since it
// only serves while the old key is trusted).
func (s *Simulator) linkCert(prev *authority, self *x509.Certificate, pub *rsa.PublicKey) (*x509.Certificate, error) {
	serial, err := rand.Int(s.rand, big.NewInt(1<<31))
	if err != nil {
		return nil, fmt.Errorf("jlis: link certificate serial: %w", err)
	}
	serial.Add(serial, big.NewInt(1<<24))
	exts := append([]pkixExtension(nil), self.ExtraExtensions...)
	exts = append(exts, akiExt(prev.cert.SubjectKeyId))
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		RawSubject:         self.RawSubject,
		NotBefore:          self.NotBefore,
		NotAfter:           prev.cert.NotAfter,
		SignatureAlgorithm: x509.SHA256WithRSA,
		ExtraExtensions:    exts,
	}
	der, err := x509.CreateCertificate(s.rand, tmpl, prev.cert, pub, prev.key)
	if err != nil {
		return nil, fmt.Errorf("jlis: create link certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// Rollover makes a new generation of a CA ("sign", "auth", "sign-phone", "auth-phone"): a new
// key under the same DN, its link certificate signed by the generation before, and its own OCSP
// responder. Certificates issued from then on come from the new generation; the older ones keep
// their CRL and OCSP responder until they expire. It returns the new generation's name.
func (s *Simulator) Rollover(ctx context.Context, base string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := caName(base)
	s.casMu.RLock()
	prev, ok := s.newest[b]
	s.casMu.RUnlock()
	if !ok || b.base() != b {
		return "", invalidf("--ca %q: roll over one of %v", base, s.bases())
	}
	a, err := s.createCA(ctx, b, prev)
	if err != nil {
		return "", err
	}
	s.casMu.Lock()
	s.cas[a.name] = a
	s.newest[b] = a
	s.casMu.Unlock()
	return string(a.name), nil
}

// bases lists the CA families of this simulator.
func (s *Simulator) bases() []string {
	s.casMu.RLock()
	defer s.casMu.RUnlock()
	var out []string
	for _, n := range []caName{caSign, caAuth, caSignPhone, caAuthPhone} {
		if _, ok := s.newest[n]; ok {
			out = append(out, string(n))
		}
	}
	return out
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
	subject := append(s.naming.caSubject(a.name.base())[:3:3], utf8Attr(oidCommonName, "OCSP Responder"))
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

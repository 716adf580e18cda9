package verify_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/verify"
)

func roots(cs ...*x509.Certificate) []*x509.Certificate { return cs }

// wantReason fails the test unless err is a *verify.Error with reason want.
func wantReason(t *testing.T, err error, want verify.Reason) {
	t.Helper()
	var ve *verify.Error
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want a *verify.Error with reason %v", err, err, want)
	}
	if ve.Reason != want {
		t.Fatalf("reason = %v (%v), want %v", ve.Reason, ve, want)
	}
}

func TestCertificateSimulator(t *testing.T) {
	f := fixtures(t)
	identity := verify.Options{Roots: roots(f.taro.signCA), At: at, Purpose: verify.PurposeIdentity}
	login := verify.Options{Roots: roots(f.taro.authCA), At: at, Purpose: verify.PurposeLogin}
	with := func(o verify.Options, edit func(*verify.Options)) verify.Options { edit(&o); return o }
	flipLast := func(der []byte) []byte {
		out := bytes.Clone(der)
		out[len(out)-1] ^= 1
		return out
	}
	// tamperCN changes one character of the subject CN: still well-formed, no longer signed.
	tamperCN := func(c *x509.Certificate) []byte {
		out := bytes.Clone(c.Raw)
		i := bytes.Index(out, []byte(c.Subject.CommonName))
		if i < 0 {
			t.Fatal("CN not found in DER")
		}
		out[i] ^= 1
		return out
	}
	pemOf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.taro.signDER})

	tests := []struct {
		name       string
		der        []byte
		opts       verify.Options
		wantReason verify.Reason // 0: accepted
		wantIssuer *x509.Certificate
		wantPhone  bool
	}{
		{name: "sign for identity", der: f.taro.signDER, opts: identity, wantIssuer: f.taro.signCA},
		{name: "auth for login", der: f.taro.authDER, opts: login, wantIssuer: f.taro.authCA},
		{name: "second card, identity", der: f.hanako.signDER, opts: identity, wantIssuer: f.taro.signCA},
		{name: "auth for identity", der: f.taro.authDER, opts: identity, wantReason: verify.ReasonWrongKind},
		{name: "auth for identity, both CAs trusted", der: f.taro.authDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.taro.signCA, f.taro.authCA) }), wantReason: verify.ReasonWrongKind},
		{name: "sign for login", der: f.taro.signDER, opts: login, wantReason: verify.ReasonWrongKind},
		{name: "sign for login, both CAs trusted", der: f.taro.signDER,
			opts: with(login, func(o *verify.Options) { o.Roots = roots(f.taro.authCA, f.taro.signCA) }), wantReason: verify.ReasonWrongKind},
		{name: "sign cert, only the auth CA trusted", der: f.taro.signDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.taro.authCA) }), wantReason: verify.ReasonChainInvalid},

		{name: "at notAfter", der: f.taro.signDER,
			opts: with(identity, func(o *verify.Options) { o.At = f.taro.sign.NotAfter }), wantIssuer: f.taro.signCA},
		{name: "expired", der: f.taro.signDER,
			opts: with(identity, func(o *verify.Options) { o.At = f.taro.sign.NotAfter.Add(time.Second) }), wantReason: verify.ReasonExpired},
		{name: "auth expired", der: f.taro.authDER,
			opts: with(login, func(o *verify.Options) { o.At = f.taro.auth.NotAfter.Add(time.Nanosecond) }), wantReason: verify.ReasonExpired},
		{name: "at notBefore", der: f.taro.signDER,
			opts: with(identity, func(o *verify.Options) { o.At = f.taro.sign.NotBefore }), wantIssuer: f.taro.signCA},
		{name: "not yet valid", der: f.taro.signDER,
			opts: with(identity, func(o *verify.Options) { o.At = f.taro.sign.NotBefore.Add(-time.Second) }), wantReason: verify.ReasonNotYetValid},

		{name: "real cert, lookalike root", der: f.taro.signDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.look.signCA) }), wantReason: verify.ReasonChainInvalid},
		{name: "lookalike cert, real root", der: f.look.signDER, opts: identity, wantReason: verify.ReasonChainInvalid},
		{name: "lookalike auth cert, real root", der: f.look.authDER, opts: login, wantReason: verify.ReasonChainInvalid},
		{name: "real cert, lookalike and real roots", der: f.taro.signDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.look.signCA, f.taro.signCA) }), wantIssuer: f.taro.signCA},
		{name: "lookalike cert, real and lookalike roots", der: f.look.signDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.taro.signCA, f.look.signCA) }), wantIssuer: f.look.signCA},
		{name: "test-naming cert, production root", der: f.taro.signDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.prod.signCA) }), wantReason: verify.ReasonChainInvalid},
		{name: "signature bit flipped", der: flipLast(f.taro.signDER), opts: identity, wantReason: verify.ReasonChainInvalid},
		{name: "subject tampered", der: tamperCN(f.taro.sign), opts: identity, wantReason: verify.ReasonChainInvalid},

		{name: "the root itself", der: f.taro.signCA.Raw, opts: identity, wantReason: verify.ReasonProfile},
		{name: "OCSP responder for login", der: f.authResp.Raw, opts: login, wantReason: verify.ReasonProfile},
		{name: "OCSP responder for identity", der: f.signResponder.Raw, opts: identity, wantReason: verify.ReasonProfile},

		{name: "truncated by one byte", der: f.taro.signDER[:len(f.taro.signDER)-1], opts: identity, wantReason: verify.ReasonMalformed},
		{name: "truncated by half", der: f.taro.signDER[:len(f.taro.signDER)/2], opts: identity, wantReason: verify.ReasonMalformed},
		{name: "trailing byte", der: append(bytes.Clone(f.taro.signDER), 0), opts: identity, wantReason: verify.ReasonMalformed},
		{name: "two certificates", der: append(bytes.Clone(f.taro.signDER), f.taro.authDER...), opts: identity, wantReason: verify.ReasonMalformed},
		{name: "garbage", der: []byte("this is not a certificate at all"), opts: identity, wantReason: verify.ReasonMalformed},
		{name: "empty", der: nil, opts: identity, wantReason: verify.ReasonMalformed},
		{name: "PEM instead of DER", der: pemOf, opts: identity, wantReason: verify.ReasonMalformed},
		{name: "oversized", der: append(bytes.Clone(f.taro.signDER), make([]byte, 20000)...), opts: identity, wantReason: verify.ReasonMalformed},

		{name: "production sign for identity", der: f.prod.signDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.prod.signCA) }), wantIssuer: f.prod.signCA},
		{name: "production auth for login", der: f.prod.authDER,
			opts: with(login, func(o *verify.Options) { o.Roots = roots(f.prod.authCA) }), wantIssuer: f.prod.authCA},
		{name: "production auth for identity", der: f.prod.authDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.prod.signCA) }), wantReason: verify.ReasonWrongKind},
		{name: "phone sign, phone CA in PhoneRoots", der: f.phone.signDER,
			opts:       with(identity, func(o *verify.Options) { o.Roots, o.PhoneRoots = roots(f.prod.signCA), roots(f.signPhoneCA) }),
			wantIssuer: f.signPhoneCA, wantPhone: true},
		{name: "phone auth, phone CA in PhoneRoots", der: f.phone.authDER,
			opts:       with(login, func(o *verify.Options) { o.Roots, o.PhoneRoots = roots(f.prod.authCA), roots(f.authPhoneCA) }),
			wantIssuer: f.authPhoneCA, wantPhone: true},
		{name: "phone sign, phone CA in Roots", der: f.phone.signDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.prod.signCA, f.signPhoneCA) }), wantIssuer: f.signPhoneCA},
		{name: "card sign with phone roots configured", der: f.prod.signDER,
			opts: with(identity, func(o *verify.Options) { o.Roots, o.PhoneRoots = roots(f.prod.signCA), roots(f.signPhoneCA) }), wantIssuer: f.prod.signCA},
		{name: "phone sign, phone CA not trusted", der: f.phone.signDER,
			opts: with(identity, func(o *verify.Options) { o.Roots = roots(f.prod.signCA) }), wantReason: verify.ReasonChainInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := verify.Certificate(tt.der, tt.opts)
			if tt.wantReason != 0 {
				if res != nil {
					t.Errorf("result = %+v, want nil", res)
				}
				wantReason(t, err, tt.wantReason)
				return
			}
			if err != nil {
				t.Fatalf("Certificate: %v", err)
			}
			if !bytes.Equal(res.Cert.Raw, tt.der) {
				t.Error("Result.Cert is not the presented certificate")
			}
			if res.Issuer != tt.wantIssuer {
				t.Errorf("Issuer = %v serial %X, want serial %X", res.Issuer.Subject, res.Issuer.SerialNumber, tt.wantIssuer.SerialNumber)
			}
			if res.Phone != tt.wantPhone {
				t.Errorf("Phone = %v, want %v", res.Phone, tt.wantPhone)
			}
			if want := tt.opts.Purpose.Kind(); res.Kind != want {
				t.Errorf("Kind = %v, want %v", res.Kind, want)
			}
			if (res.Basic4 != nil) != (tt.opts.Purpose == verify.PurposeIdentity) {
				t.Errorf("Basic4 = %+v for %v", res.Basic4, tt.opts.Purpose)
			}
		})
	}
}

// TestLookalikeIsByteIdentical proves the lookalike cases test keys, not names: the two
// simulators' CAs have the same DN bytes and different keys.
func TestLookalikeIsByteIdentical(t *testing.T) {
	f := fixtures(t)
	for _, p := range [][2]*x509.Certificate{{f.taro.signCA, f.look.signCA}, {f.taro.authCA, f.look.authCA}} {
		if !bytes.Equal(p[0].RawSubject, p[1].RawSubject) || !bytes.Equal(f.look.sign.RawIssuer, f.taro.sign.RawIssuer) {
			t.Fatalf("lookalike CA %v has another DN than %v", p[1].Subject, p[0].Subject)
		}
		if p[0].PublicKey.(*rsa.PublicKey).Equal(p[1].PublicKey) {
			t.Fatal("lookalike CA has the same key")
		}
	}
}

func TestCertificateBasic4(t *testing.T) {
	f := fixtures(t)
	for _, tt := range []struct {
		name string
		der  []byte
		want jpki.Basic4
	}{
		{"taro", f.taro.signDER, testkit.Taro()},
		{"hanako (non-BMP name)", f.hanako.signDER, testkit.Hanako()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := verify.Certificate(tt.der, verify.Options{Roots: roots(f.taro.signCA), At: at, Purpose: verify.PurposeIdentity})
			if err != nil {
				t.Fatal(err)
			}
			if *res.Basic4 != tt.want {
				t.Errorf("Basic4 = %+v, want %+v", *res.Basic4, tt.want)
			}
		})
	}
}

// TestCertificateProfile runs certificates of the tests' own CA, each departing from the JPKI
// profile in one way; the first two cases show that the departure, not the CA, is what fails.
func TestCertificateProfile(t *testing.T) {
	f := fixtures(t)
	ca := f.own
	identity := verify.Options{Roots: roots(ca.cert), At: at, Purpose: verify.PurposeIdentity}
	login := verify.Options{Roots: roots(ca.cert), At: at, Purpose: verify.PurposeLogin}
	sign := func(serial int64, mutate func(*x509.Certificate)) []byte {
		return ca.leaf(t, leafSpec{kind: jpki.KindSign, serial: serial, mutate: mutate})
	}
	auth := func(serial int64, mutate func(*x509.Certificate)) []byte {
		return ca.leaf(t, leafSpec{kind: jpki.KindAuth, serial: serial, mutate: mutate})
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// fakeRSA is an RSA public key of the given size that no one holds the private half of:
	// enough for a certificate whose key is never used.
	fakeRSA := func(bits int) *rsa.PublicKey {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
		if err != nil {
			t.Fatal(err)
		}
		n.SetBit(n, bits-1, 1).SetBit(n, 0, 1)
		return &rsa.PublicKey{N: n, E: 65537}
	}
	// v1 drops the version and extensions from a good certificate's TBS, keeping the rest.
	v1 := ca.resignTBS(t, f.ownSignDER, func(elems [][]byte) [][]byte {
		var out [][]byte
		for _, e := range elems {
			if e[0] == 0xA0 || e[0] == 0xA3 {
				continue
			}
			out = append(out, e)
		}
		return out
	})
	// same re-signed untouched: the re-signing itself yields an acceptable certificate.
	same := ca.resignTBS(t, f.ownSignDER, func(elems [][]byte) [][]byte { return elems })
	sanWithout4 := func(c *x509.Certificate) {
		c.ExtraExtensions = nil
		c.DNSNames = []string{"example.jp"}
	}
	badBirth := testkit.Taro()
	badSAN, err := jpki.MarshalSubjectAltName(badBirth)
	if err != nil {
		t.Fatal(err)
	}
	// Replace the era digit of the date of birth (昭和 '3' for 1985) by 令和 '5'.
	era := bytes.Index(badSAN, []byte("319850402"))
	if era < 0 {
		t.Fatal("birth date not found in SAN")
	}
	badSAN[era] = '5'
	critical := pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{5, 0}}

	tests := []struct {
		name       string
		der        []byte
		opts       verify.Options
		wantReason verify.Reason
	}{
		{"good sign", f.ownSignDER, identity, 0},
		{"good auth", f.ownAuthDER, login, 0},
		{"good sign re-signed", same, identity, 0},
		{"production sign policy", sign(1, func(c *x509.Certificate) { c.Policies = []x509.OID{oid(jpki.OIDPolicySign)} }), identity, 0},
		{"production auth policy", auth(2, func(c *x509.Certificate) { c.Policies = []x509.OID{oid(jpki.OIDPolicyAuth)} }), login, 0},
		{"auth with nonRepudiation", auth(3, func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageContentCommitment }), login, 0},

		{"X.509 v1", v1, identity, verify.ReasonMalformed},
		{"EC key", ca.leaf(t, leafSpec{kind: jpki.KindSign, serial: 10, pub: &ecKey.PublicKey}), identity, verify.ReasonMalformed},
		{"RSA-1024 key", ca.leaf(t, leafSpec{kind: jpki.KindSign, serial: 11, pub: fakeRSA(1024)}), identity, verify.ReasonMalformed},
		{"RSA-2047 key", ca.leaf(t, leafSpec{kind: jpki.KindSign, serial: 12, pub: fakeRSA(2047)}), identity, verify.ReasonMalformed},
		{"RSA-4097 key", ca.leaf(t, leafSpec{kind: jpki.KindSign, serial: 13, pub: fakeRSA(4097)}), identity, verify.ReasonMalformed},
		{"RSA-4096 key", ca.leaf(t, leafSpec{kind: jpki.KindSign, serial: 14, pub: fakeRSA(4096)}), identity, 0},
		{"sha384WithRSA", ca.leaf(t, leafSpec{kind: jpki.KindSign, serial: 15, alg: x509.SHA384WithRSA}), identity, verify.ReasonMalformed},

		{"own root not valid at At", f.ownSignDER, verify.Options{Roots: roots(f.expiredOwnRoot), At: at, Purpose: verify.PurposeIdentity}, verify.ReasonChainInvalid},
		{"own root valid again", f.ownSignDER, verify.Options{Roots: roots(f.expiredOwnRoot, ca.cert), At: at, Purpose: verify.PurposeIdentity}, 0},
		{"authorityKeyIdentifier naming another key", sign(5, func(c *x509.Certificate) {
			c.ExtraExtensions = append(c.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 35}, Value: []byte{0x30, 0x06, 0x80, 0x04, 1, 2, 3, 4}})
		}), verify.Options{Roots: roots(f.expiredOwnRoot, ca.cert), At: at, Purpose: verify.PurposeIdentity}, 0},
		{"expired leaf under an expired root", f.ownSignDER,
			verify.Options{Roots: roots(f.expiredOwnRoot), At: mustParse(t, f.ownSignDER).NotAfter.Add(time.Second), Purpose: verify.PurposeIdentity}, verify.ReasonExpired},

		{"CA flag", sign(20, func(c *x509.Certificate) { c.BasicConstraintsValid, c.IsCA = true, true }), identity, verify.ReasonProfile},
		{"keyCertSign", sign(21, func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageCertSign }), identity, verify.ReasonProfile},
		{"no keyUsage", sign(22, func(c *x509.Certificate) { c.KeyUsage = 0 }), identity, verify.ReasonProfile},
		{"sign without nonRepudiation", sign(23, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }), identity, verify.ReasonProfile},
		{"auth without digitalSignature", auth(24, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }), login, verify.ReasonProfile},
		{"no policy", sign(25, func(c *x509.Certificate) { c.Policies = nil }), identity, verify.ReasonProfile},
		{"foreign policy", sign(26, func(c *x509.Certificate) { c.Policies = []x509.OID{oid(asn1.ObjectIdentifier{2, 23, 140, 1, 2, 1})} }), identity, verify.ReasonProfile},
		{"two policies", sign(27, func(c *x509.Certificate) { c.Policies = append(c.Policies, oid(jpki.OIDPolicySign)) }), identity, verify.ReasonProfile},
		{"unknown critical extension", sign(28, func(c *x509.Certificate) { c.ExtraExtensions = append(c.ExtraExtensions, critical) }), identity, verify.ReasonProfile},
		{"sign without subjectAltName", sign(29, func(c *x509.Certificate) { c.ExtraExtensions = nil }), identity, verify.ReasonProfile},
		{"sign with a subjectAltName but no basic 4", sign(30, sanWithout4), identity, verify.ReasonProfile},
		{"sign with a broken basic 4", sign(31, func(c *x509.Certificate) { c.ExtraExtensions = []pkix.Extension{{Id: oidSAN, Value: badSAN}} }), identity, verify.ReasonProfile},
		{"auth with basic 4", auth(32, func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: oidSAN, Value: sanExt(t, testkit.Taro())}}
		}), login, verify.ReasonProfile},
		{"auth with a harmless subjectAltName", auth(33, sanWithout4), login, 0},
		{"sign policy, auth key usage, for login", sign(34, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }), login, verify.ReasonWrongKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := verify.Certificate(tt.der, tt.opts)
			if tt.wantReason == 0 {
				if err != nil {
					t.Fatalf("Certificate: %v", err)
				}
				if res.Issuer != ca.cert {
					t.Errorf("Issuer = %v", res.Issuer.Subject)
				}
				return
			}
			wantReason(t, err, tt.wantReason)
		})
	}

	t.Run("broken basic 4 is not quoted", func(t *testing.T) {
		_, err := verify.Certificate(sign(31, func(c *x509.Certificate) { c.ExtraExtensions = []pkix.Extension{{Id: oidSAN, Value: badSAN}} }), identity)
		if err == nil || bytes.Contains([]byte(err.Error()), []byte("1985")) {
			t.Errorf("error %v quotes the date of birth", err)
		}
	})
}

func TestCertificateUsage(t *testing.T) {
	f := fixtures(t)
	good := verify.Options{Roots: roots(f.taro.signCA), At: at, Purpose: verify.PurposeIdentity}
	for _, tt := range []struct {
		name string
		edit func(*verify.Options)
	}{
		{"zero At", func(o *verify.Options) { o.At = time.Time{} }},
		{"no purpose", func(o *verify.Options) { o.Purpose = "" }},
		{"unknown purpose", func(o *verify.Options) { o.Purpose = "signing" }},
		{"no roots", func(o *verify.Options) { o.Roots = nil }},
		{"nil root", func(o *verify.Options) { o.Roots = roots(f.taro.signCA, nil) }},
		{"nil phone root", func(o *verify.Options) { o.PhoneRoots = roots(nil) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			res, err := verify.Certificate(f.taro.signDER, o)
			if !errors.Is(err, verify.ErrUsage) || res != nil {
				t.Fatalf("Certificate = %v, %v; want ErrUsage", res, err)
			}
			if r, ok := verify.ReasonOf(err); ok {
				t.Errorf("ReasonOf(usage error) = %v, true", r)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	f := fixtures(t)
	for _, tt := range []struct {
		name string
		cert *x509.Certificate
		want jpki.Kind
		ok   bool
	}{
		{"test sign", f.taro.sign, jpki.KindSign, true},
		{"test auth", f.taro.auth, jpki.KindAuth, true},
		{"production sign", f.prod.sign, jpki.KindSign, true},
		{"production auth", f.prod.auth, jpki.KindAuth, true},
		{"phone sign", f.phone.sign, jpki.KindSign, true},
		{"root", f.taro.signCA, "", false},
		{"OCSP responder", f.authResp, "", false},
		{"sign policy without nonRepudiation", mustParse(t, f.own.leaf(t, leafSpec{kind: jpki.KindSign, serial: 40,
			mutate: func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }})), "", false},
		{"nil", nil, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := verify.KindOf(tt.cert)
			if got != tt.want || ok != tt.ok {
				t.Errorf("KindOf = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestCertificateConcurrent runs Certificate from several goroutines (run with -race).
func TestCertificateConcurrent(t *testing.T) {
	f := fixtures(t)
	opts := verify.Options{Roots: roots(f.taro.signCA, f.look.signCA), At: at, Purpose: verify.PurposeIdentity}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			der := f.taro.signDER
			if i%2 == 1 {
				der = f.look.authDER
			}
			_, err := verify.Certificate(der, opts)
			if i%2 == 0 {
				errs <- err
				return
			}
			if r, _ := verify.ReasonOf(err); r != verify.ReasonWrongKind {
				errs <- err
				return
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

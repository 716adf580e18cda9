package verify_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// at is the pinned time of every case unless it says otherwise: an hour after the simulators
// issued their cards (testkit.Epoch, 2026-04-01 10:00 JST).
var at = testkit.Epoch.Add(time.Hour)

// simCard is one card from a simulator: its certificates, CAs and keys.
type simCard struct {
	signDER, authDER []byte
	sign, auth       *x509.Certificate
	signCA, authCA   *x509.Certificate
	signKey, authKey *rsa.PrivateKey
}

// fixture is everything the tests verify, built once per test binary: three simulators open
// four CA key pairs each, which is too slow to repeat per test.
type fixture struct {
	// taro is a card from a simulator with the default (test) naming.
	taro simCard
	// hanako is a second card of the same simulator (a name outside JIS levels 1–2).
	hanako simCard
	// look is a card from a second simulator with the same naming: its CAs have DNs
	// byte-identical to taro's and other keys.
	look simCard
	// prod is a card from a simulator with production naming and phone CAs; phone is an
	// Android credential from the same simulator, issued by the phone CAs.
	prod, phone              simCard
	signPhoneCA, authPhoneCA *x509.Certificate
	signResponder, authResp  *x509.Certificate // delegated OCSP responders of taro's CAs
	own                      *ownCA
	ownSignDER, ownAuthDER   []byte            // good certificates of the own CA
	expiredOwnRoot           *x509.Certificate // own root's key under a certificate that ended before at
	knownTBS                 map[[32]byte]bool // every certificate a trusted key signed, by SHA-256 of its TBS
	signature, authSignature []byte            // taro's signatures over challenge, by the sign and auth keys
	challenge                []byte
}

var (
	fixOnce sync.Once
	fix     *fixture
)

// fixtures returns the shared fixture, building it on first use with tb.
func fixtures(tb testing.TB) *fixture {
	tb.Helper()
	fixOnce.Do(func() { fix = buildFixture(tb) })
	if fix == nil {
		tb.Fatal("fixtures could not be built (see the first failing test)")
	}
	return fix
}

func buildFixture(tb testing.TB) *fixture {
	f := &fixture{knownTBS: map[[32]byte]bool{}, challenge: []byte("mynagate challenge 0123456789abcdef")}

	sim, _, _ := testkit.Simulator(tb)
	f.taro = card(tb, testkit.Issue(tb, sim, testkit.Taro()))
	f.hanako = card(tb, testkit.Issue(tb, sim, testkit.Hanako()))
	var err error
	if f.signResponder, err = sim.OCSPResponderCertificate("sign"); err != nil {
		tb.Fatal(err)
	}
	if f.authResp, err = sim.OCSPResponderCertificate("auth"); err != nil {
		tb.Fatal(err)
	}

	lookSim, _, _ := testkit.Simulator(tb)
	f.look = card(tb, testkit.Issue(tb, lookSim, testkit.Taro()))

	prodSim, _, _ := testkit.Simulator(tb, jlis.WithNaming(jlis.NamingProduction), jlis.WithPhoneCAs(true))
	f.prod = card(tb, testkit.Issue(tb, prodSim, testkit.Taro()))
	iss, err := prodSim.Issue(tb.Context(), jlis.IssueRequest{Basic4: testkit.Hanako(), Medium: jpki.MediumAndroid})
	if err != nil {
		tb.Fatalf("issue phone credential: %v", err)
	}
	f.phone = card(tb, iss)
	f.signPhoneCA, f.authPhoneCA = f.phone.signCA, f.phone.authCA

	for _, c := range []simCard{f.taro, f.hanako, f.look, f.prod, f.phone} {
		f.knownTBS[sha256.Sum256(c.sign.RawTBSCertificate)] = true
		f.knownTBS[sha256.Sum256(c.auth.RawTBSCertificate)] = true
	}
	for _, c := range []*x509.Certificate{f.signResponder, f.authResp, f.taro.signCA, f.taro.authCA} {
		f.knownTBS[sha256.Sum256(c.RawTBSCertificate)] = true
	}

	f.own = newOwnCA(tb, notBefore(), testkit.Epoch.AddDate(10, 0, 0))
	f.ownSignDER = f.own.leaf(tb, leafSpec{kind: jpki.KindSign})
	f.ownAuthDER = f.own.leaf(tb, leafSpec{kind: jpki.KindAuth})
	f.expiredOwnRoot = f.own.reissue(tb, notBefore().AddDate(-5, 0, 0), notBefore().Add(-time.Second))

	f.signature = sign(tb, f.taro.signKey, f.challenge)
	f.authSignature = sign(tb, f.taro.authKey, f.challenge)
	return f
}

func card(tb testing.TB, iss *jlis.Issued) simCard {
	tb.Helper()
	cf := iss.Card
	c := simCard{signDER: cf.Sign.Cert, authDER: cf.Auth.Cert}
	c.sign, c.auth = mustParse(tb, cf.Sign.Cert), mustParse(tb, cf.Auth.Cert)
	c.signCA, c.authCA = mustParse(tb, cf.Sign.CACert), mustParse(tb, cf.Auth.CACert)
	c.signKey, c.authKey = pkcs8RSA(tb, cf.Sign.Key), pkcs8RSA(tb, cf.Auth.Key)
	return c
}

func mustParse(tb testing.TB, der []byte) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parse certificate: %v", err)
	}
	return c
}

func pkcs8RSA(tb testing.TB, der []byte) *rsa.PrivateKey {
	tb.Helper()
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		tb.Fatalf("parse key: %v", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		tb.Fatalf("key is %T", k)
	}
	return rk
}

// sign makes the signature the card makes: RSASSA-PKCS1-v1_5 over the DigestInfo of SHA-256(msg).
func sign(tb testing.TB, key *rsa.PrivateKey, msg []byte) []byte {
	tb.Helper()
	d := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return sig
}

// notBefore is the start of validity of the own CA's certificates: the simulator's, 00:00 JST
// of the issue day.
func notBefore() time.Time { return jpki.DateOf(testkit.Epoch).In(jpki.JST) }

var (
	ownKeysOnce sync.Once
	ownKeysVal  struct{ root, leaf *rsa.PrivateKey }
	ownKeysErr  error
)

// ownKeys returns the own CA's root and leaf keys, generated once and used by nothing else (the
// testkit pool's keys are shared by every simulator card).
func ownKeys(tb testing.TB) struct{ root, leaf *rsa.PrivateKey } {
	tb.Helper()
	ownKeysOnce.Do(func() {
		if ownKeysVal.root, ownKeysErr = rsa.GenerateKey(rand.Reader, 2048); ownKeysErr == nil {
			ownKeysVal.leaf, ownKeysErr = rsa.GenerateKey(rand.Reader, 2048)
		}
	})
	if ownKeysErr != nil {
		tb.Fatal(ownKeysErr)
	}
	return ownKeysVal
}

// ownCA is a CA of the tests' own, for certificates the simulator never makes: each departs
// from the JPKI profile in one way, so that each profile check is seen to fire.
type ownCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

var ownRootName = pkix.Name{Country: []string{"JP"}, Organization: []string{"mynagate verify tests"}, OrganizationalUnit: []string{"own root"}}

func newOwnCA(tb testing.TB, from, to time.Time) *ownCA {
	tb.Helper()
	ca := &ownCA{key: ownKeys(tb).root}
	ca.cert = ca.reissue(tb, from, to)
	return ca
}

// reissue makes a self-signed root certificate for the CA's key and name with another validity.
func (ca *ownCA) reissue(tb testing.TB, from, to time.Time) *x509.Certificate {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(from.Unix()),
		Subject:               ownRootName,
		NotBefore:             from,
		NotAfter:              to,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ca.key.PublicKey, ca.key)
	if err != nil {
		tb.Fatalf("create own root: %v", err)
	}
	return mustParse(tb, der)
}

// leafSpec describes one certificate of the own CA. The zero value plus a kind is a good JPKI
// certificate of that kind.
type leafSpec struct {
	kind   jpki.Kind
	pub    any                     // default: the fixed leaf key
	alg    x509.SignatureAlgorithm // default: SHA256WithRSA
	serial int64
	mutate func(*x509.Certificate) // changes to the template
}

func oid(o asn1.ObjectIdentifier) x509.OID {
	u := make([]uint64, len(o))
	for i, v := range o {
		u[i] = uint64(v)
	}
	x, err := x509.OIDFromInts(u)
	if err != nil {
		panic(err)
	}
	return x
}

var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

func sanExt(tb testing.TB, b4 jpki.Basic4) []byte {
	tb.Helper()
	san, err := jpki.MarshalSubjectAltName(b4)
	if err != nil {
		tb.Fatal(err)
	}
	return san
}

func (ca *ownCA) leaf(tb testing.TB, s leafSpec) []byte {
	tb.Helper()
	leafKey := ownKeys(tb).leaf
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(1000 + s.serial),
		Subject:            pkix.Name{Country: []string{"JP"}, CommonName: fmt.Sprintf("own leaf %s %d", s.kind, s.serial)},
		NotBefore:          notBefore(),
		NotAfter:           notBefore().AddDate(5, 0, 0),
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	if s.kind == jpki.KindSign {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		tmpl.Policies = []x509.OID{oid(jpki.OIDPolicySignTest)}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidSAN, Value: sanExt(tb, testkit.Taro())}}
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.Policies = []x509.OID{oid(jpki.OIDPolicyAuthTest)}
	}
	if s.alg != 0 {
		tmpl.SignatureAlgorithm = s.alg
	}
	if s.mutate != nil {
		s.mutate(tmpl)
	}
	var pub any = &leafKey.PublicKey
	if s.pub != nil {
		pub = s.pub
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		tb.Fatalf("create own leaf: %v", err)
	}
	return der
}

// resignTBS rebuilds a certificate of the own CA with its TBS elements edited by edit, and signs
// it again, so that the result differs from der only where edit says.
func (ca *ownCA) resignTBS(tb testing.TB, der []byte, edit func(elems [][]byte) [][]byte) []byte {
	tb.Helper()
	c := mustParse(tb, der)
	in := cryptobyte.String(c.RawTBSCertificate)
	var body cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) {
		tb.Fatal("TBS is not a SEQUENCE")
	}
	var elems [][]byte
	for !body.Empty() {
		var e cryptobyte.String
		if !body.ReadAnyASN1Element(&e, nil) {
			tb.Fatal("TBS element")
		}
		elems = append(elems, e)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, e := range edit(elems) {
			b.AddBytes(e)
		}
	})
	tbs := b.BytesOrPanic()
	d := sha256.Sum256(tbs)
	sig, err := rsa.SignPKCS1v15(nil, ca.key, crypto.SHA256, d[:])
	if err != nil {
		tb.Fatal(err)
	}
	algID := []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}
	var out cryptobyte.Builder
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(algID)
		b.AddASN1BitString(sig)
	})
	return out.BytesOrPanic()
}

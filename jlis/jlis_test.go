package jlis_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

var ctx = context.Background()

func parse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return c
}

func verifyChain(t *testing.T, leaf, root []byte, at time.Time) error {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(parse(t, root))
	_, err := parse(t, leaf).Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// extensionOIDs lists a certificate's extensions in order.
func extensionOIDs(c *x509.Certificate) []string {
	var out []string
	for _, e := range c.Extensions {
		out = append(out, e.Id.String())
	}
	return out
}

// nameTags returns the ASN.1 string tag of each attribute of a DER name.
func nameTags(t *testing.T, der []byte) []cbasn1.Tag {
	t.Helper()
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
		t.Fatal("name is not a SEQUENCE")
	}
	var tags []cbasn1.Tag
	for !seq.Empty() {
		var set, atv cryptobyte.String
		var oid asn1.ObjectIdentifier
		var tag cbasn1.Tag
		var v cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) || !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1ObjectIdentifier(&oid) || !atv.ReadAnyASN1(&v, &tag) {
			t.Fatal("malformed RDN")
		}
		tags = append(tags, tag)
	}
	return tags
}

func TestIssueProfiles(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	iss := testkit.Issue(t, sim, testkit.Hanako())
	cf := iss.Card
	sign, auth := parse(t, cf.Sign.Cert), parse(t, cf.Auth.Cert)

	for _, c := range []struct {
		name       string
		leaf, root []byte
	}{{"sign", cf.Sign.Cert, cf.Sign.CACert}, {"auth", cf.Auth.Cert, cf.Auth.CACert}} {
		if err := verifyChain(t, c.leaf, c.root, clk.Now()); err != nil {
			t.Errorf("%s: chain does not verify: %v", c.name, err)
		}
		if !bytes.HasPrefix(c.leaf, []byte{0x30, 0x82}) {
			t.Errorf("%s: certificate does not start 30 82 (OpenSC reads its length from there)", c.name)
		}
	}
	// The auth certificate must not chain to the signing CA: trust is pinned per purpose.
	if err := verifyChain(t, cf.Auth.Cert, cf.Sign.CACert, clk.Now()); err == nil {
		t.Error("auth certificate verifies against the signing CA")
	}

	// Subjects: signing C, L, L, CN; authentication C, CN; C is PrintableString, the rest UTF8String.
	if got := nameTags(t, sign.RawSubject); len(got) != 4 || got[0] != cbasn1.PrintableString || got[1] != cbasn1.UTF8String || got[3] != cbasn1.UTF8String {
		t.Errorf("signing subject string types = %v", got)
	}
	if sign.Subject.Locality[0] != "Tokyo" || sign.Subject.Locality[1] != "Kiyose-shi" {
		t.Errorf("signing subject localities = %v", sign.Subject.Locality)
	}
	if got := nameTags(t, auth.RawSubject); len(got) != 2 {
		t.Errorf("authentication subject has %d attributes, want C and CN only", len(got))
	}
	if len(sign.Subject.CommonName) != 23 || !bytes.Contains([]byte(sign.Subject.CommonName), []byte("13221")) {
		t.Errorf("subject CN %q is not the 23-character opaque id with the municipality code", sign.Subject.CommonName)
	}
	if sign.Issuer.Organization[0] != "JPKI-TEST" {
		t.Errorf("issuer O = %v, want the test naming", sign.Issuer.Organization)
	}

	// Extension order and key usage bytes.
	wantSign := []string{"2.5.29.15", "2.5.29.17", "2.5.29.32", "2.5.29.18", "2.5.29.31", "2.5.29.35", "2.5.29.14"}
	if got := extensionOIDs(sign); !equal(got, wantSign) {
		t.Errorf("signing extensions = %v, want %v", got, wantSign)
	}
	wantAuth := []string{"2.5.29.15", "2.5.29.32", "2.5.29.18", "2.5.29.31", "2.5.29.35", "2.5.29.14"}
	if got := extensionOIDs(auth); !equal(got, wantAuth) {
		t.Errorf("authentication extensions = %v, want %v", got, wantAuth)
	}
	if !bytes.Equal(sign.Extensions[0].Value, []byte{0x03, 0x02, 0x06, 0xC0}) || !sign.Extensions[0].Critical {
		t.Errorf("signing keyUsage = % X critical=%v, want critical 03 02 06 C0", sign.Extensions[0].Value, sign.Extensions[0].Critical)
	}
	if sign.PolicyIdentifiers[0].String() != jpki.OIDPolicySignTest.String() || auth.PolicyIdentifiers[0].String() != jpki.OIDPolicyAuthTest.String() {
		t.Errorf("policies = %v / %v", sign.PolicyIdentifiers, auth.PolicyIdentifiers)
	}

	// The basic 4 facts round-trip through the SAN, and the auth certificate carries none.
	got, err := jpki.ParseSubjectAltName(sign.Extensions[1].Value)
	if err != nil {
		t.Fatalf("parse SAN: %v", err)
	}
	if got != testkit.Hanako() {
		t.Errorf("SAN basic 4 = %+v, want %+v", got, testkit.Hanako())
	}
	for _, e := range auth.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) {
			t.Error("authentication certificate has a subjectAltName")
		}
	}

	// Validity: from 00:00 JST of the issue date to 23:59:59 JST of the fifth birthday after it.
	// Issued 2026-04-01; born 29 February: the fifth birthday is 2031-02-28 (a common year).
	if want := time.Date(2026, 4, 1, 0, 0, 0, 0, jpki.JST); !sign.NotBefore.Equal(want) {
		t.Errorf("notBefore = %v, want %v", sign.NotBefore, want)
	}
	if want := time.Date(2031, 2, 28, 23, 59, 59, 0, jpki.JST); !sign.NotAfter.Equal(want) || !auth.NotAfter.Equal(want) {
		t.Errorf("notAfter = %v / %v, want %v", sign.NotAfter, auth.NotAfter, want)
	}
	if cf.CardExpiry != "2036-02-29" {
		t.Errorf("card expiry = %s, want the 10th birthday after issue", cf.CardExpiry)
	}
	if !jpki.ValidMyNumber(cf.MyNumber) {
		t.Errorf("my number %s has a wrong check digit", cf.MyNumber)
	}
	if cf.Auth.PIN.Value != jlis.DefaultAuthPIN || cf.Sign.PIN.Value != jlis.DefaultSignPassword || cf.Sign.PIN.Tries != 5 || cf.Auth.PIN.Tries != 3 {
		t.Errorf("PINs = %+v / %+v", cf.Auth.PIN, cf.Sign.PIN)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestProductionNaming(t *testing.T) {
	sim, _, _ := testkit.Simulator(t, jlis.WithNaming(jlis.NamingProduction))
	cf := testkit.Issue(t, sim, testkit.Taro()).Card
	root := parse(t, cf.Sign.CACert)
	// The published J-LIS signing root DN, byte for byte (REFERENCE §5.1).
	want := "308180310b3009060355040613024a50310d300b060355040a0c044a504b4931233021060355040b0c1a4a504b4920666f72206469676974616c207369676e6174757265313d303b060355040b0c344a6170616e204167656e637920666f72204c6f63616c20417574686f7269747920496e666f726d6174696f6e2053797374656d73"
	if got := hexString(root.RawSubject); got != want {
		t.Errorf("production signing root DN\n got %s\nwant %s", got, want)
	}
	wantRoot := []string{"2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.31", "2.5.29.14"}
	if got := extensionOIDs(root); !equal(got, wantRoot) {
		t.Errorf("root extensions = %v, want %v", got, wantRoot)
	}
	if root.NotAfter.UTC().Format("15:04:05") != "14:59:59" {
		t.Errorf("root notAfter %v does not end at 23:59:59 JST", root.NotAfter)
	}
	if p := parse(t, cf.Sign.Cert).PolicyIdentifiers[0]; p.String() != jpki.OIDPolicySign.String() {
		t.Errorf("policy = %v, want production %v", p, jpki.OIDPolicySign)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestUnder15GetsNoSigningCertificate(t *testing.T) {
	sim, _, _ := testkit.Simulator(t)
	child := testkit.Taro()
	child.Birth = jpki.Date{Year: 2015, Month: time.May, Day: 5}
	iss := testkit.Issue(t, sim, child)
	if iss.Card.Sign != nil || iss.SignSerial != 0 {
		t.Fatal("a 10-year-old got a signing certificate")
	}
	if iss.Card.CardExpiry != "2030-05-05" { // issued 2026-04-01: birthdays 2026 … 2030
		t.Errorf("card expiry %s, want the 5th birthday for a minor", iss.Card.CardExpiry)
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	sim, _, _ := testkit.Simulator(t)
	future := testkit.Taro()
	future.Birth = jpki.Date{Year: 2030, Month: 1, Day: 1}
	noPref := testkit.Taro()
	noPref.Address = "霞が関２丁目"
	tests := []struct {
		name string
		req  jlis.IssueRequest
	}{
		{"empty name", jlis.IssueRequest{Basic4: jpki.Basic4{Birth: testkit.Taro().Birth, Sex: jpki.SexMale, Address: testkit.Taro().Address}}},
		{"birth in the future", jlis.IssueRequest{Basic4: future}},
		{"address without prefecture", jlis.IssueRequest{Basic4: noPref}},
		{"auth PIN not 4 digits", jlis.IssueRequest{Basic4: testkit.Taro(), AuthPIN: "12345"}},
		{"signing password without digit", jlis.IssueRequest{Basic4: testkit.Taro(), SignPassword: "ABCDEFG"}},
		{"signing password lower case", jlis.IssueRequest{Basic4: testkit.Taro(), SignPassword: "abc123"}},
		{"unknown medium", jlis.IssueRequest{Basic4: testkit.Taro(), Medium: "watch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sim.Issue(ctx, tt.req); !errors.Is(err, jlis.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestMoveRevokesOnlySigning(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	iss := testkit.Issue(t, sim, testkit.Taro())
	oldSign, err := sim.RefOf(iss.Card.Sign.Cert)
	if err != nil {
		t.Fatal(err)
	}
	authRef, _ := sim.RefOf(iss.Card.Auth.Cert)
	clk.Advance(24 * time.Hour)
	moved := iss.Card.Basic4
	moved.Address = "大阪府大阪市北区梅田１丁目１番"
	next, err := sim.Change(ctx, iss.Card, moved, jlis.CauseMove)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := sim.Status(ctx, oldSign)
	if !st.Revoked || *st.Reason != jlis.ReasonAffiliationChanged {
		t.Fatalf("old signing certificate: %+v, want revoked affiliationChanged", st)
	}
	if st, _ := sim.Status(ctx, authRef); st.Revoked {
		t.Fatal("a move revoked the authentication certificate")
	}
	if !bytes.Equal(next.Auth.Cert, iss.Card.Auth.Cert) {
		t.Fatal("the authentication certificate changed on a move")
	}
	// No successor: the card keeps its revoked signing certificate until the holder applies.
	if !bytes.Equal(next.Sign.Cert, iss.Card.Sign.Cert) {
		t.Fatal("a move without an application put a new signing certificate on the card")
	}
	links, err := sim.Links(ctx, oldSign)
	if err != nil {
		t.Fatal(err)
	}
	if len(links.Next) != 0 || links.Latest != nil {
		t.Fatalf("links = %+v, want no successor", links)
	}
	if next.Basic4.Address != moved.Address || next.MunicipalityCode != "27100" {
		t.Errorf("card file not updated: %+v %s", next.Basic4, next.MunicipalityCode)
	}
	ans, err := sim.LatestBasic4(ctx, oldSign, "platform-test", "consent-1")
	if err != nil {
		t.Fatal(err)
	}
	if ans.Basic4.Address != moved.Address || ans.LatestSign != nil {
		t.Errorf("latest basic 4 = %+v, want the new address and no current signing certificate", ans)
	}

	// Weeks later the holder applies at the counter: a new key and password, linked from the
	// revoked certificate, ending with the authentication certificate.
	clk.Advance(30 * 24 * time.Hour)
	if _, err := sim.ReissueSign(ctx, next, "abc"); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("re-issue with a malformed password: err = %v", err)
	}
	again, err := sim.ReissueSign(ctx, next, "NEW2PASS")
	if err != nil {
		t.Fatal(err)
	}
	newSign, _ := sim.RefOf(again.Sign.Cert)
	if again.Sign.PIN.Value != "NEW2PASS" || bytes.Equal(again.Sign.Key, iss.Card.Sign.Key) {
		t.Error("the new signing certificate kept the old password or key")
	}
	links, _ = sim.Links(ctx, oldSign)
	if len(links.Next) != 1 || links.Next[0].New != newSign || links.Next[0].Cause != jlis.CauseSignReissue || links.Latest == nil || *links.Latest != newSign {
		t.Fatalf("links = %+v, want old → %v (sign-reissue)", links, newSign)
	}
	nc := parse(t, again.Sign.Cert)
	if b4, err := jpki.ParseSubjectAltName(nc.Extensions[1].Value); err != nil || b4.Address != moved.Address {
		t.Fatalf("new signing certificate address = %q (%v)", b4.Address, err)
	}
	if !nc.NotAfter.Equal(parse(t, iss.Card.Auth.Cert).NotAfter) {
		t.Errorf("new signing certificate ends %v, the auth certificate %v", nc.NotAfter, parse(t, iss.Card.Auth.Cert).NotAfter)
	}
	if ans, _ := sim.LatestBasic4(ctx, oldSign, "platform-test", "consent-2"); ans.LatestSign == nil || *ans.LatestSign != newSign {
		t.Errorf("latest basic 4 after the re-issue = %+v", ans)
	}
	if _, err := sim.ReissueSign(ctx, again, "NEW3PASS"); !errors.Is(err, jlis.ErrInvalid) || !strings.Contains(err.Error(), "still valid") {
		t.Errorf("re-issue over a valid signing certificate: err = %v", err)
	}
	if _, err := sim.LatestBasic4(ctx, oldSign, "platform-test", ""); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("basic 4 request without consent reference: err = %v", err)
	}
	// The same change again is refused and changes nothing.
	if _, err := sim.Change(ctx, next, moved, jlis.CauseMove); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("repeated move: err = %v", err)
	}
}

func TestRenewReissueAndDeath(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	iss := testkit.Issue(t, sim, testkit.Taro())
	auth0, _ := sim.RefOf(iss.Card.Auth.Cert)
	clk.Advance(48 * time.Hour)
	if _, err := sim.Renew(ctx, iss.Card); !errors.Is(err, jlis.ErrInvalid) || !strings.Contains(err.Error(), "renewal is possible from 2030-01-02") {
		t.Fatalf("renewal two days after issue: err = %v", err)
	}
	clk.Advance(time.Date(2030, 1, 10, 10, 0, 0, 0, jpki.JST).Sub(clk.Now())) // inside the window
	renewed, err := sim.Renew(ctx, iss.Card)
	if err != nil {
		t.Fatal(err)
	}
	auth1, _ := sim.RefOf(renewed.Auth.Cert)
	if st, _ := sim.Status(ctx, auth0); !st.Revoked || *st.Reason != jlis.ReasonSuperseded {
		t.Fatalf("renewed-away certificate: %+v", st)
	}
	if renewed.CardSerial != iss.Card.CardSerial {
		t.Error("renewal changed the card")
	}
	clk.Advance(time.Hour)
	lost, err := sim.RevokeCard(ctx, renewed, jlis.CauseLost, time.Time{})
	if err != nil || len(lost) != 2 {
		t.Fatalf("revoke lost card: %v %v", lost, err)
	}
	st, _ := sim.Status(ctx, auth1)
	if !st.Revoked || *st.Reason != jlis.ReasonKeyCompromise || st.Invalidity == nil {
		t.Fatalf("lost card's certificate: %+v", st)
	}
	reissued, err := sim.Reissue(ctx, renewed, true)
	if err != nil {
		t.Fatal(err)
	}
	if reissued.CardSerial == renewed.CardSerial {
		t.Error("re-issue kept the card serial")
	}
	auth2, _ := sim.RefOf(reissued.Auth.Cert)
	info, err := sim.Links(ctx, auth0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Latest == nil || *info.Latest != auth2 {
		t.Fatalf("chain from the first certificate ends at %v, want %v", info.Latest, auth2)
	}
	// The old card can no longer be renewed.
	if _, err := sim.Renew(ctx, renewed); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("renewing a lost card: err = %v", err)
	}
	done, err := sim.RevokeCard(ctx, reissued, jlis.CauseDeath, time.Time{})
	if err != nil || len(done) != 2 {
		t.Fatalf("death: %v %v", done, err)
	}
	ans, err := sim.LatestBasic4(ctx, auth2, "platform-test", "consent-2")
	if err != nil || !ans.Deceased || ans.LatestSign != nil {
		t.Fatalf("after death: %+v %v", ans, err)
	}
	if _, err := sim.RevokeCard(ctx, reissued, jlis.CauseHolderRequest, time.Time{}); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("revoking a card with nothing valid: err = %v", err)
	}
	if err := sim.Revoke(ctx, auth2, jlis.CauseHolderRequest, time.Time{}); !errors.Is(err, jlis.ErrAlreadyRevoked) {
		t.Errorf("revoking twice: err = %v", err)
	}
	if err := sim.Revoke(ctx, jlis.CertRef{CA: "auth", Serial: 12345}, jlis.CauseHolderRequest, time.Time{}); !errors.Is(err, jlis.ErrNotFound) {
		t.Errorf("revoking an unknown serial: err = %v", err)
	}
}

func TestRestartKeepsState(t *testing.T) {
	sim, clk, dir := testkit.Simulator(t)
	iss := testkit.Issue(t, sim, testkit.Taro())
	ref, _ := sim.RefOf(iss.Card.Sign.Cert)
	if err := sim.Revoke(ctx, ref, jlis.CauseHolderRequest, time.Time{}); err != nil {
		t.Fatal(err)
	}
	root, _ := sim.CACertificate("sign")
	sim.Close()
	again, err := jlis.Open(ctx, dir, jlis.WithClock(clk), jlis.WithKeyGenerator(testkit.Key))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	root2, _ := again.CACertificate("sign")
	if !root.Equal(root2) {
		t.Fatal("the signing CA changed across a restart")
	}
	st, err := again.Status(ctx, ref)
	if err != nil || !st.Revoked || *st.Reason != jlis.ReasonCessationOfOperation {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	if _, err := jlis.Open(ctx, dir, jlis.WithNaming(jlis.NamingProduction)); err == nil {
		t.Fatal("reopening a test-naming directory with production naming succeeded")
	}
	if _, err := jlis.Open(ctx, filepath.Join(dir, "jlis.db")); err == nil {
		t.Fatal("opening a file as the data directory succeeded")
	}
}

var bigOne = big.NewInt(1)

// realClockForOpenSSL returns a clock at the real time: openssl checks validity against the
// machine's clock, so certificates for it must be issued now.
func realClockForOpenSSL() clockwork.Clock { return clockwork.NewRealClock() }

func TestLinksPreviousAndCounterpart(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	iss := testkit.Issue(t, sim, testkit.Taro())
	sign0, _ := sim.RefOf(iss.Card.Sign.Cert)
	auth0, _ := sim.RefOf(iss.Card.Auth.Cert)
	clk.Advance(time.Hour)
	moved := iss.Card.Basic4
	moved.Address = "東京都港区芝公園４丁目２番８号"
	next, err := sim.Change(ctx, iss.Card, moved, jlis.CauseMove, jlis.WithNewSigningCertificate("XYZ789"))
	if err != nil {
		t.Fatal(err)
	}
	sign1, _ := sim.RefOf(next.Sign.Cert)
	info, err := sim.Links(ctx, sign1)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Previous) != 1 || info.Previous[0].Old != sign0 || len(info.Next) != 0 {
		t.Errorf("previous of the new signing cert = %+v, want %v", info.Previous, sign0)
	}
	if info.Counterpart == nil || *info.Counterpart != auth0 {
		t.Errorf("counterpart of the new signing cert = %v, want the unchanged auth cert %v", info.Counterpart, auth0)
	}
	if a, _ := sim.Links(ctx, auth0); a.Counterpart == nil || *a.Counterpart != sign1 {
		t.Errorf("counterpart of the auth cert = %v, want the new signing cert %v", a.Counterpart, sign1)
	}
}

func mustParse(tb testing.TB, der []byte) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// appendNonce adds an RFC 8954 nonce extension to a DER OCSP request made by x/crypto/ocsp
// (which writes none): TBSRequest gains requestExtensions [2].
func appendNonce(tb testing.TB, req []byte) []byte {
	tb.Helper()
	in := cryptobyte.String(req)
	var outer, tbs cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !outer.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		tb.Fatal("malformed request")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(tbs)
			b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2})
						b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
							b.AddASN1OctetString([]byte("0123456789abcdef"))
						})
					})
				})
			})
		})
	})
	return b.BytesOrPanic()
}

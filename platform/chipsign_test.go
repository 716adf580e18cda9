package platform_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"testing"
	"time"

	"github.com/mynagate/mynagate/cades"
	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/reader"
)

// cardData reads the 券面事項入力補助AP of a card as the holder's app does.
func cardData(t *testing.T, cf *jpki.CardFile) *platform.CardData {
	t.Helper()
	c, err := card.New(cf)
	if err != nil {
		t.Fatal(err)
	}
	rc := reader.NewClient(reader.NewInProcess(c, "in-process"))
	defer rc.Close()
	d, err := rc.ReadSupportAPData(ctx, jlis.DefaultSupportPIN)
	if err != nil {
		t.Fatal(err)
	}
	return &platform.CardData{Basic4: d.Basic4, Signature: d.Signature, Cert: d.Cert}
}

// Chip reading: accepted card data gives the facts the tenant may see, marked with what it does
// not establish and without a pairwise id; tampered, foreign or replayed data is rejected and
// recorded; a platform trusting no card-AP CA refuses such sessions.
func TestChipReading(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	apCA, err := sim.CardAPCAPublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := testkit.Key()
	if err != nil {
		t.Fatal(err)
	}
	e := platformtest.NewJLISOn(t, sim, clk, platform.WithCardAPCAs(&other.PublicKey, apCA))
	if !e.P.ChipReadingEnabled() {
		t.Fatal("chip reading is not enabled")
	}
	shop := e.TenantWith("Example Shop", platform.FactName)
	cf := e.Card(testkit.Taro())
	good := cardData(t, cf)
	answer := func(ten *platform.Tenant, d *platform.CardData, echo func(s *platform.Session) []byte) (*platform.Session, *platform.Verification, error) {
		t.Helper()
		s := e.Session(ten, platform.PurposeChipReading)
		v, err := e.P.Complete(ctx, s.ID, s.HolderToken, platform.Answer{CardData: d, Challenge: echo(s)})
		return s, v, err
	}
	own := func(s *platform.Session) []byte { return s.Challenge() }

	_, v, err := answer(shop, good, own)
	if err != nil || v.Decision != platform.DecisionAccepted || v.Method != platform.MethodNone || len(v.Purpose.Limitations()) == 0 {
		t.Fatalf("chip reading: %+v, %v", v, err)
	}
	got, err := e.P.Verification(ctx, shop, v.ID)
	if err != nil || len(got.Facts) != 1 || got.Facts[platform.FactName] != testkit.Taro().Name || got.CardID != "" {
		t.Errorf("served %+v, %v; want the name only", got, err)
	}
	// Each reading is a person of its own: the data names no certificate to follow.
	if _, again, err := answer(shop, good, own); err != nil || again.PersonID == v.PersonID {
		t.Errorf("two readings of one card: persons %s and %s (%v)", v.PersonID, again.PersonID, err)
	}

	tampered := *good
	tampered.Basic4 = bytes.Clone(good.Basic4)
	i := bytes.Index(tampered.Basic4, []byte("霞が関"))
	tampered.Basic4[i+len("霞が関")-1]++
	otherCard := cardData(t, e.Card(testkit.Hanako()))
	mixed := *good
	mixed.Signature = otherCard.Signature
	malformed := *good
	malformed.Signature = bytes.Repeat([]byte{0xFF}, 100)
	earlier := e.Session(shop, platform.PurposeChipReading)
	for _, c := range []struct {
		name string
		d    *platform.CardData
		echo func(*platform.Session) []byte
		typ  string
	}{
		{"tampered facts", &tampered, own, "card-data-tampered"},
		{"another card's signature record", &mixed, own, "card-data-tampered"},
		{"a malformed signature record", &malformed, own, "card-data-malformed"},
		{"another session's challenge", good, func(*platform.Session) []byte { return earlier.Challenge() }, "challenge-mismatch"},
	} {
		s, v, err := answer(e.Tenant, c.d, c.echo)
		wantError(t, c.name, err, platform.KindRejected, c.typ)
		if st, _ := e.P.Session(ctx, e.Tenant, s.ID); v == nil || st.Status != platform.SessionFailed {
			t.Errorf("%s: not recorded (%+v, session %s)", c.name, v, st.Status)
		}
	}
	for _, c := range []struct {
		name string
		a    platform.Answer
	}{
		{"a signature for a chip reading", platform.Answer{CardData: good, Challenge: []byte("c"), Signature: []byte{1}}},
		{"no challenge echoed", platform.Answer{CardData: good}},
		{"an oversized file", platform.Answer{CardData: &platform.CardData{Basic4: good.Basic4, Signature: good.Signature, Cert: make([]byte, jpki.SupportCertSize+1)}, Challenge: []byte("c")}},
		{"an empty file", platform.Answer{CardData: &platform.CardData{Basic4: good.Basic4, Signature: nil, Cert: good.Cert}, Challenge: []byte("c")}},
		{"a certificate instead", platform.Answer{Certificate: cf.Sign.Cert, Signature: []byte{1}}},
	} {
		s := e.Session(e.Tenant, platform.PurposeChipReading)
		_, err := e.P.Complete(ctx, s.ID, s.HolderToken, c.a)
		wantError(t, c.name, err, platform.KindInvalid, "invalid-request")
	}

	untrusting := platformtest.NewJLISOn(t, sim, clk, platform.WithCardAPCAs(&other.PublicKey))
	us := untrusting.Session(untrusting.Tenant, platform.PurposeChipReading)
	_, err = untrusting.P.Complete(ctx, us.ID, us.HolderToken, platform.Answer{CardData: good, Challenge: us.Challenge()})
	wantError(t, "an untrusted card-AP CA", err, platform.KindRejected, "card-ap-untrusted")
	plain := platformtest.NewJLISOn(t, sim, clk)
	_, _, err = plain.P.CreateSession(ctx, plain.Tenant, platform.SessionRequest{Purpose: platform.PurposeChipReading})
	wantError(t, "chip reading on a platform without a card-AP CA", err, platform.KindInvalid, "invalid-request")
}

// A document signature: the holder signs CAdES signed attributes over the document's hash
// bound to the session's challenge; the tenant gets the detached CMS back from the evidence.
func TestDocumentSignature(t *testing.T) {
	e := platformtest.NewJLIS(t)
	other := e.TenantWith("Other")
	cf := e.Card(testkit.Taro())
	cert, err := x509.ParseCertificate(cf.Sign.Cert)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("loan contract"))
	req := &platform.SignRequest{DocumentSHA256: digest[:], RP: "Example Bank web"}
	for name, bad := range map[string]platform.SessionRequest{
		"a login":               {Purpose: platform.PurposeLogin, Sign: req},
		"a short hash":          {Purpose: platform.PurposeIdentity, Sign: &platform.SignRequest{DocumentSHA256: digest[:16], RP: "x"}},
		"no relying party":      {Purpose: platform.PurposeIdentity, Sign: &platform.SignRequest{DocumentSHA256: digest[:]}},
		"a control in the name": {Purpose: platform.PurposeIdentity, Sign: &platform.SignRequest{DocumentSHA256: digest[:], RP: "a\x1b[2Jb"}},
	} {
		_, _, err := e.P.CreateSession(ctx, e.Tenant, bad)
		wantError(t, name, err, platform.KindInvalid, "invalid-request")
	}
	s, _, err := e.P.CreateSession(ctx, e.Tenant, platform.SessionRequest{Purpose: platform.PurposeIdentity, Sign: req, IdempotencyKey: "doc-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.P.CreateSession(ctx, e.Tenant, platform.SessionRequest{Purpose: platform.PurposeIdentity, Sign: &platform.SignRequest{DocumentSHA256: digest[:], RP: "Other"}, IdempotencyKey: "doc-1"}); platform.AsError(err).Type != "idempotency-key-reused" {
		t.Errorf("the key with another document request: %v", err)
	}
	// Signing the bare challenge, as for a plain identity session, is not a document signature.
	plain := e.Answer(cf, s)
	if _, err := e.P.Complete(ctx, s.ID, s.HolderToken, plain); platform.AsError(err).Type != "signature-invalid" {
		t.Fatalf("the bare challenge signed for a document: %v", err)
	}
	s, _, err = e.P.CreateSession(ctx, e.Tenant, platform.SessionRequest{Purpose: platform.PurposeIdentity, Sign: req})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := cades.ChallengeAttributes(digest[:], cert, s.CreatedAt.Truncate(time.Second), s.Challenge())
	if err != nil {
		t.Fatal(err)
	}
	sig := platformtest.Sign(t, cf.Sign, attrs)
	v, err := e.P.Complete(ctx, s.ID, s.HolderToken, platform.Answer{Certificate: cf.Sign.Cert, Signature: sig})
	if err != nil || v.Decision != platform.DecisionAccepted {
		t.Fatalf("document signature: %+v %v", v, err)
	}
	cms, got, err := e.P.SignedDocument(ctx, e.Tenant, v.ID)
	if err != nil || !bytes.Equal(got, digest[:]) {
		t.Fatalf("SignedDocument: digest %x, %v", got, err)
	}
	want, err := cades.SignedData(attrs, sig, cert)
	if err != nil || !bytes.Equal(cms, want) {
		t.Errorf("the CMS served is not the SignedData of the holder's attributes and signature (%v)", err)
	}
	if _, _, err := e.P.SignedDocument(ctx, other, v.ID); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("another tenant's document: %v", err)
	}
	login := e.Verified(e.Tenant, cf, platform.PurposeLogin)
	if _, _, err := e.P.SignedDocument(ctx, e.Tenant, login.ID); platform.AsError(err).Type != "not-a-signature" {
		t.Errorf("a login as a document: %v", err)
	}
}

// The platform signs every challenge it hands out with a key derived from the master secret,
// which holders pin.
func TestChallengeSignature(t *testing.T) {
	e := platformtest.NewJLIS(t)
	s := e.Session(e.Tenant, platform.PurposeLogin)
	pub := e.P.ChallengePublicKey()
	sig := e.P.SignChallenge(s)
	if len(pub) == 0 || !ed25519.Verify(pub, s.Challenge(), sig) {
		t.Fatal("the challenge's signature does not verify with the platform's key")
	}
	if ed25519.Verify(pub, append(s.Challenge(), '!'), sig) {
		t.Error("the signature verifies over other bytes")
	}
	if e.P.SignChallenge(&platform.Session{}) != nil {
		t.Error("a session built elsewhere was signed")
	}
	op, _ := platform.New(e.St)
	if op.ChallengePublicKey() != nil {
		t.Error("a platform without a master secret has a challenge key")
	}
}

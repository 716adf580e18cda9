package reader

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

// step is one expected command APDU and the answer to it, in hex (spaces ignored). An answer
// starting with "!" is returned as an error of that reason instead ("!removed").
type step struct{ cmd, resp string }

// script is a Transport that expects exactly its steps, in order.
type script struct {
	t     *testing.T
	steps []step
	i     int
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func (s *script) Transmit(ctx context.Context, capdu []byte) ([]byte, error) {
	s.t.Helper()
	if s.i >= len(s.steps) {
		s.t.Fatalf("unexpected APDU % X after the script ended", capdu)
	}
	st := s.steps[s.i]
	s.i++
	if want := unhex(s.t, st.cmd); !bytes.Equal(capdu, want) {
		s.t.Fatalf("APDU %d: got % X, want % X", s.i, capdu, want)
	}
	if st.resp == "!removed" {
		return nil, &Error{Reason: ReasonCardRemoved}
	}
	return unhex(s.t, st.resp), nil
}
func (s *script) Present(context.Context) (bool, error) { return true, nil }
func (s *script) Reader() string                        { return "script" }
func (s *script) Close() error                          { return nil }

func (s *script) done() {
	s.t.Helper()
	if s.i != len(s.steps) {
		s.t.Fatalf("script stopped after %d of %d APDUs", s.i, len(s.steps))
	}
}

const (
	selJPKI    = "00A4040C0A D392F000260100000001"
	selSupport = "00A4040C0A D3921000310001010408"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// key returns one RSA-2048 key for the whole test binary (generation is slow).
func key(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

// selfSigned returns a DER certificate of about size bytes (padded with an extension).
func selfSigned(t testing.TB, pad int) []byte {
	k := key(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{Country: []string{"JP"}, CommonName: "reader test"},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC),
		ExtraExtensions: []pkix.Extension{
			{Id: []int{1, 2, 3, 4}, Value: bytes.Repeat([]byte{0x04}, pad)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// readSteps returns the READ BINARY steps a reader sends for a record of len(b) bytes: 7 bytes,
// then chunks of 256 and the exact remainder.
func readSteps(b []byte) []step {
	steps := []step{{"00B0000007", hex.EncodeToString(b[:7]) + "9000"}}
	for off := 7; off < len(b); {
		n := min(256, len(b)-off)
		le := byte(n)
		steps = append(steps, step{
			hex.EncodeToString([]byte{0x00, 0xB0, byte(off >> 8), byte(off), le}),
			hex.EncodeToString(b[off:off+n]) + "9000",
		})
		off += n
	}
	return steps
}

func TestReadAuthCertAPDUs(t *testing.T) {
	for _, pad := range []int{0, 400, 1200} {
		der := selfSigned(t, pad)
		steps := append([]step{{selJPKI, "9000"}, {"00A4020C02000A", "9000"}}, readSteps(der)...)
		s := &script{t: t, steps: steps}
		cert, err := NewClient(s).ReadAuthCert(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cert.Raw, der) {
			t.Fatalf("certificate of %d bytes read back differently", len(der))
		}
		s.done()
	}
}

func TestErrors(t *testing.T) {
	der := selfSigned(t, 0)
	ctx := context.Background()
	readAuth := func(c *Client) error { _, err := c.ReadAuthCert(ctx); return err }
	readSign := func(c *Client) error { _, err := c.ReadSignCert(ctx, "abc123"); return err }
	basic4 := func(c *Client) error { _, err := c.ReadBasic4(ctx, "1234"); return err }
	tries := func(p PIN) func(c *Client) error {
		return func(c *Client) error { _, err := c.TriesLeft(ctx, p); return err }
	}
	tests := []struct {
		name       string
		op         func(*Client) error
		steps      []step
		wantReason Reason
		wantTries  int
		wantSW     uint16
	}{
		{"not a My Number Card", readAuth, []step{{selJPKI, "6A82"}}, ReasonNotJPKI, 0, 0x6A82},
		{"not a My Number Card (INS unknown)", readAuth, []step{{selJPKI, "6D00"}}, ReasonNotJPKI, 0, 0x6D00},
		{"no support application", basic4, []step{{selSupport, "6A82"}}, ReasonNotJPKI, 0, 0x6A82},
		{"removed during select", readAuth, []step{{selJPKI, "!removed"}}, ReasonCardRemoved, 0, 0},
		{"removed during read", readAuth, []step{{selJPKI, "9000"}, {"00A4020C02000A", "9000"}, {"00B0000007", "!removed"}}, ReasonCardRemoved, 0, 0},
		{"no status word", readAuth, []step{{selJPKI, "90"}}, ReasonMalformed, 0, 0},
		{"auth cert needs PIN (phone)", readAuth, []step{{selJPKI, "9000"}, {"00A4020C02000A", "9000"}, {"00B0000007", "6982"}}, ReasonAccessDenied, 0, 0x6982},
		{"no auth certificate file", readAuth, []step{{selJPKI, "9000"}, {"00A4020C02000A", "6A82"}}, ReasonNoCertificate, 0, 0},
		{"erased certificate file", readAuth, []step{{selJPKI, "9000"}, {"00A4020C02000A", "9000"}, {"00B0000007", "FFFFFFFFFFFFFF9000"}}, ReasonNoCertificate, 0, 0},
		{"not DER", readAuth, []step{{selJPKI, "9000"}, {"00A4020C02000A", "9000"}, {"00B0000007", "31820100AABBCC9000"}}, ReasonMalformed, 0, 0},
		{"file shorter than header", readAuth, append([]step{{selJPKI, "9000"}, {"00A4020C02000A", "9000"}, readSteps(der)[0]},
			step{"00B0000700", "6B00"}), ReasonMalformed, 0, 0x6B00},
		{"card returns too much", readAuth, append([]step{{selJPKI, "9000"}, {"00A4020C02000A", "9000"}},
			step{"00B0000007", hex.EncodeToString(der[:8]) + "9000"}), ReasonMalformed, 0, 0},
		{"wrong signing password", readSign, []step{{selJPKI, "9000"}, {"00A4020C02001B", "9000"}, {"0020008006414243313233", "63C3"}}, ReasonWrongPIN, 3, 0x63C3},
		{"last signing try used", readSign, []step{{selJPKI, "9000"}, {"00A4020C02001B", "9000"}, {"0020008006414243313233", "63C0"}}, ReasonPINBlocked, 0, 0x63C0},
		{"signing password blocked", readSign, []step{{selJPKI, "9000"}, {"00A4020C02001B", "9000"}, {"0020008006414243313233", "6984"},
			{"00A4020C020008", "9000"}, {"00B0000003", "8F8F009000"}}, ReasonPINBlocked, 0, 0x6984},
		{"no signing certificate", readSign, []step{{selJPKI, "9000"}, {"00A4020C02001B", "6A82"}}, ReasonNoCertificate, 0, 0},
		{"signing password never set", readSign, []step{{selJPKI, "9000"}, {"00A4020C02001B", "9000"}, {"0020008006414243313233", "6984"},
			{"00A4020C020008", "9000"}, {"00B0000003", "008F009000"}}, ReasonNoCertificate, 0, 0},
		{"wrong support PIN", basic4, []step{{selSupport, "9000"}, {"00A4020C020011", "9000"}, {"002000800431323334", "63C1"}}, ReasonWrongPIN, 1, 0x63C1},
		{"tries of blocked PIN", tries(PINAuth), []step{{selJPKI, "9000"}, {"00A4020C020018", "9000"}, {"00200080", "6984"}}, ReasonUnknown, 0, 0},
		{"tries odd answer", tries(PINAuth), []step{{selJPKI, "9000"}, {"00A4020C020018", "9000"}, {"00200080", "6A86"}}, ReasonCardError, 0, 0x6A86},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{t: t, steps: tt.steps}
			err := tt.op(NewClient(s))
			s.done()
			if tt.wantReason == ReasonUnknown {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *reader.Error", err, err)
			}
			if e.Reason != tt.wantReason || e.TriesLeft != tt.wantTries || e.SW != tt.wantSW {
				t.Fatalf("got reason %v tries %d SW %04X, want %v %d %04X (%v)", e.Reason, e.TriesLeft, e.SW, tt.wantReason, tt.wantTries, tt.wantSW, err)
			}
			if !errors.Is(err, &Error{Reason: tt.wantReason}) {
				t.Fatalf("errors.Is does not match the sentinel of %v", tt.wantReason)
			}
			if !strings.HasPrefix(err.Error(), "reader: ") {
				t.Fatalf("message %q lacks the package prefix", err)
			}
		})
	}
}

func TestTriesLeft(t *testing.T) {
	tests := []struct {
		name string
		pin  PIN
		sel  string
		ef   string
		sw   string
		want int
	}{
		{"auth full", PINAuth, selJPKI, "0018", "63C3", 3},
		{"sign four", PINSign, selJPKI, "001B", "63C4", 4},
		{"support blocked", PINSupport, selSupport, "0011", "63C0", 0},
		{"verified in session", PINSign, selJPKI, "001B", "9000", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{t: t, steps: []step{{tt.sel, "9000"}, {"00A4020C02" + tt.ef, "9000"}, {"00200080", tt.sw}}}
			n, err := NewClient(s).TriesLeft(context.Background(), tt.pin)
			if err != nil {
				t.Fatal(err)
			}
			s.done()
			if n != tt.want {
				t.Fatalf("tries %d, want %d", n, tt.want)
			}
		})
	}
}

func TestCheckTries(t *testing.T) {
	ctx := context.Background()
	q := func(sw string) *script {
		return &script{t: t, steps: []step{{selJPKI, "9000"}, {"00A4020C020018", "9000"}, {"00200080", sw}}}
	}
	if _, err := NewClient(q("63C1")).CheckTries(ctx, PINAuth, false); !errors.Is(err, ErrLastTry) {
		t.Fatalf("one try left: got %v, want last-try refusal", err)
	}
	if n, err := NewClient(q("63C1")).CheckTries(ctx, PINAuth, true); err != nil || n != 1 {
		t.Fatalf("one try left, allowed: got %d %v", n, err)
	}
	if _, err := NewClient(q("63C0")).CheckTries(ctx, PINAuth, true); !errors.Is(err, ErrPINBlocked) {
		t.Fatalf("no tries left: got %v, want blocked", err)
	}
	if n, err := NewClient(q("63C2")).CheckTries(ctx, PINAuth, false); err != nil || n != 2 {
		t.Fatalf("two tries left: got %d %v", n, err)
	}
}

// A PIN of the wrong form never reaches the card, so it costs no try.
func TestInvalidPINNeverSent(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		pin PIN
		val string
	}{{PINAuth, "123"}, {PINAuth, "12a4"}, {PINSupport, "12345"}, {PINSign, "abc12"}, {PINSign, "abc-123"}, {PINSign, strings.Repeat("A1", 9)}} {
		s := &script{t: t}
		c := NewClient(s)
		var err error
		switch tc.pin {
		case PINAuth:
			_, err = c.AuthSigner(ctx, tc.val)
		case PINSign:
			_, err = c.ReadSignCert(ctx, tc.val)
		case PINSupport:
			_, err = c.ReadMyNumber(ctx, tc.val)
		}
		if !errors.Is(err, ErrInvalidPIN) {
			t.Fatalf("%v %q: got %v, want invalid PIN", tc.pin, tc.val, err)
		}
	}
}

func TestSignerAPDUs(t *testing.T) {
	der := selfSigned(t, 0)
	open := append([]step{{selJPKI, "9000"}, {"00A4020C020018", "9000"}, {"002000800431323334", "9000"}, {"00A4020C02000A", "9000"}}, readSteps(der)...)
	digest := sha256.Sum256([]byte("nonce"))
	di, _ := DigestInfo(crypto.SHA256, digest[:])
	sig, err := rsa.SignPKCS1v15(nil, key(t), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	signSteps := []step{
		{selJPKI, "9000"}, {"00A4020C020018", "9000"}, {"002000800431323334", "9000"}, {"00A4020C020017", "9000"},
		{"802A008033" + hex.EncodeToString(di) + "00", hex.EncodeToString(sig) + "9000"},
	}
	s := &script{t: t, steps: append(open, signSteps...)}
	signer, err := NewClient(s).AuthSigner(context.Background(), "1234")
	if err != nil {
		t.Fatal(err)
	}
	var _ crypto.Signer = signer
	got, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sig) {
		t.Fatal("signature differs")
	}
	s.done()

	// Options the card cannot do are refused before any APDU.
	sha1sum := sha1.Sum([]byte("x"))
	for name, tc := range map[string]struct {
		digest []byte
		opts   crypto.SignerOpts
	}{
		"pss":          {digest[:], &rsa.PSSOptions{Hash: crypto.SHA256}},
		"sha1":         {sha1sum[:], crypto.SHA1},
		"raw":          {digest[:], crypto.Hash(0)},
		"short digest": {digest[:20], crypto.SHA256},
		"nil opts":     {digest[:], nil},
	} {
		if _, err := signer.Sign(rand.Reader, tc.digest, tc.opts); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%s: got %v, want unsupported", name, err)
		}
	}

	// A signature that does not verify is reported, not returned.
	bad := append([]byte(nil), sig...)
	bad[10] ^= 1
	s.steps = append(s.steps, signSteps[:4]...)
	s.steps = append(s.steps, step{signSteps[4].cmd, hex.EncodeToString(bad) + "9000"})
	if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad signature: got %v", err)
	}
	// After the card rejects the PIN once, the signer refuses without asking the card again.
	s.steps = append(s.steps, step{selJPKI, "9000"}, step{"00A4020C020018", "9000"}, step{"002000800431323334", "63C2"})
	if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("wrong PIN: got %v", err)
	}
	if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("dead signer: got %v", err)
	}
	s.done()
}

func TestBERTotal(t *testing.T) {
	tests := []struct {
		head string
		tag  string
		want int
		ok   bool
	}{
		{"3082050A308204", "30", 0x050A + 4, true},
		{"30817F30", "30", 0x7F + 3, true},
		{"30053003020101", "30", 7, true},
		{"FF2065DF2108", "FF20", 0x65 + 3, true},
		{"FF20820100DF21", "FF20", 0x100 + 5, true},
		{"FF100C3132", "FF10", 15, true},
		{"3180", "30", 0, false},
		{"3080", "30", 0, false},
		{"3084FFFFFFFF00", "30", 0, false},
		{"3082", "30", 0, false},
		{"FF21", "FF20", 0, false},
	}
	for _, tt := range tests {
		n, err := berTotal(unhex(t, tt.head), unhex(t, tt.tag))
		if (err == nil) != tt.ok || n != tt.want {
			t.Errorf("berTotal(%s, %s) = %d, %v; want %d ok=%v", tt.head, tt.tag, n, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("berTotal error %v is not malformed", err)
		}
	}
}

func TestMediumOf(t *testing.T) {
	for label, want := range map[string]jpki.Medium{"JPKIAPICCTOKEN2": jpki.MediumCard, "JPKIAPGPSETOKEN": jpki.MediumAndroid, "JPKIAPIOSTOKEN": jpki.MediumIPhone} {
		if m, ok := MediumOf(label); !ok || m != want {
			t.Errorf("MediumOf(%s) = %v %v", label, m, ok)
		}
	}
	if _, ok := MediumOf("JPKIAPICCTOKEN"); ok {
		t.Error("the 住基カード label must not map to a medium")
	}
}

func TestStatusAPDUs(t *testing.T) {
	label := hex.EncodeToString([]byte("JPKIAPICCTOKEN2" + strings.Repeat(" ", 17)))
	s := &script{t: t, steps: []step{
		{selJPKI, "9000"}, {selSupport, "9000"},
		{"00A4040C0A D3921000310001010402", "9000"}, {"00A4040C0A D3921000310001010401", "6A82"}, {"00A4040C0A D3921000310001010100", "9000"},
		{selJPKI, "9000"}, {"00A4020C020006", "9000"}, {"00B0000020", label + "9000"}, {"00B0006004", "0000040C9000"},
		{selJPKI, "9000"}, {"00A4020C020018", "9000"}, {"00200080", "63C3"},
		{selJPKI, "9000"}, {"00A4020C02001B", "6A82"},
		{selSupport, "9000"}, {"00A4020C020011", "9000"}, {"00200080", "63C0"},
	}}
	st, err := NewClient(s).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.done()
	if st.TokenLabel != "JPKIAPICCTOKEN2" || st.Medium != jpki.MediumCard || st.AuthBiometric {
		t.Fatalf("label %q medium %q biometric %v", st.TokenLabel, st.Medium, st.AuthBiometric)
	}
	present := map[string]bool{}
	for _, a := range st.Applications {
		present[a.Name] = a.Present
	}
	if !present["jpki"] || !present["support"] || !present["surface"] || present["juki"] || !present["common"] {
		t.Fatalf("applications %+v", st.Applications)
	}
	want := []PINStatus{
		{PIN: "auth", TriesLeft: 3, MaxTries: 3},
		{PIN: "sign", MaxTries: 5, Absent: true},
		{PIN: "support", TriesLeft: 0, MaxTries: 3, Blocked: true},
	}
	for i, w := range want {
		if st.PINs[i] != w {
			t.Fatalf("PIN %d: %+v, want %+v", i, st.PINs[i], w)
		}
	}
}

func TestTrimReaderName(t *testing.T) {
	raw := "Virtual PCD 00 00" + strings.Repeat("\x00", 111)
	if got := trimReaderName(raw); got != "Virtual PCD 00 00" {
		t.Fatalf("%q", got)
	}
	if got := trimReaderName("ACS ACR122U   \x00junk"); got != "ACS ACR122U" {
		t.Fatalf("%q", got)
	}
}

func TestPCSCCode(t *testing.T) {
	err := errors.New("invalid return code: 8010000c (no smart card inserted)")
	if c := pcscCode(err); c != 0x8010000C {
		t.Fatalf("code %X", uint32(c))
	}
	if r := ReasonOf(classify(err, false)); r != ReasonNoCard {
		t.Fatalf("connect without card: %v", r)
	}
	if r := ReasonOf(classify(err, true)); r != ReasonCardRemoved {
		t.Fatalf("transmit without card: %v", r)
	}
	if r := ReasonOf(classify(errors.New("invalid return code: 80100069 (card removed)"), true)); r != ReasonCardRemoved {
		t.Fatalf("removed: %v", r)
	}
	if r := ReasonOf(classify(errors.New("invalid return code: 8010000b (sharing violation)"), false)); r != ReasonBusy {
		t.Fatalf("busy: %v", r)
	}
	if r := ReasonOf(classify(errors.New("dial unix /x: connect: no such file or directory"), false)); r != ReasonNoService {
		t.Fatalf("no service: %v", r)
	}
}

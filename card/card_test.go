package card_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"image/jpeg"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/apdu"
	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
)

// inProcess is the transport to a card in the same process.
type inProcess struct{ c *card.Card }

func (p inProcess) Transmit(b []byte) ([]byte, error) { return p.c.Transmit(b), nil }
func (p inProcess) Reset() error                      { p.c.Reset(); return nil }

func newCard(t *testing.T, medium jpki.Medium, opts ...card.Option) (*card.Card, *jpki.CardFile) {
	t.Helper()
	cf := cardtest.CardFile(t, medium)
	c, err := card.New(cf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, cf
}

func TestConformanceInProcess(t *testing.T) {
	c, cf := newCard(t, jpki.MediumCard)
	cardtest.Conformance(t, inProcess{c}, cf)
}

func tx(t *testing.T, c *card.Card, capdu []byte, want apdu.StatusWord) apdu.Response {
	t.Helper()
	r, err := apdu.ParseResponse(c.Transmit(capdu))
	if err != nil {
		t.Fatal(err)
	}
	if r.SW != want {
		t.Fatalf("%X → %v, want %v", capdu, r.SW, want)
	}
	return r
}

func TestATR(t *testing.T) {
	c, _ := newCard(t, jpki.MediumCard)
	p, _ := newCard(t, jpki.MediumAndroid)
	for _, atr := range [][]byte{c.ATR(), p.ATR()} {
		// TCK: XOR of T0 … TCK is zero when T=1 is indicated (ISO 7816-3 §8.2.5).
		var x byte
		for _, b := range atr[1:] {
			x ^= b
		}
		if atr[0] != 0x3B || x != 0 {
			t.Fatalf("ATR % X: TS or TCK wrong (xor %02X)", atr, x)
		}
	}
	if !bytes.Equal(c.ATR(), cardtest.H("3B E0 00 FF 81 31 FE 45 14")) {
		t.Fatalf("contact ATR % X", c.ATR())
	}
}

func TestPhone(t *testing.T) {
	for _, m := range []jpki.Medium{jpki.MediumAndroid, jpki.MediumIPhone} {
		t.Run(string(m), func(t *testing.T) {
			c, cf := newCard(t, m)
			tx(t, c, cardtest.SelectAID(jpki.AIDSupport), apdu.SWFileNotFound)
			tx(t, c, cardtest.SelectAID(jpki.AIDJPKI), apdu.SWOK)
			tx(t, c, cardtest.SelectEF(jpki.EFToken), apdu.SWOK)
			r := tx(t, c, cardtest.ReadBinary(0, 32), apdu.SWOK)
			if got := strings.TrimRight(string(r.Data), " "); got != m.TokenLabel() {
				t.Fatalf("label %q", got)
			}
			// the iPhone's auth key is unlocked by biometrics: CKF_PROTECTED_AUTHENTICATION_PATH
			r = tx(t, c, cardtest.ReadBinary(jpki.TokenFlagsOffset, 4), apdu.SWOK)
			if got := binary.BigEndian.Uint32(r.Data)&jpki.TokenFlagProtectedAuthPath != 0; got != (m == jpki.MediumIPhone) {
				t.Errorf("protected authentication path flag %v on %s", got, m)
			}
			// on a phone the auth certificate needs the auth PIN
			tx(t, c, cardtest.SelectEF(jpki.EFAuthCert), apdu.SWOK)
			tx(t, c, cardtest.ReadBinary(0, 4), apdu.SWSecurityNotSatisfied)
			tx(t, c, cardtest.SelectEF(jpki.EFAuthPIN), apdu.SWOK)
			tx(t, c, cardtest.Verify(cf.Auth.PIN.Value), apdu.SWOK)
			tx(t, c, cardtest.SelectEF(jpki.EFAuthCert), apdu.SWOK)
			tx(t, c, cardtest.ReadBinary(0, 4), apdu.SWOK)
			wantFC := apdu.SWWrongLength
			if m == jpki.MediumIPhone {
				wantFC = apdu.SWOK
			}
			tx(t, c, cardtest.H("80 FC 00 00"), wantFC)
		})
	}
}

func TestUnder15HasNoSigningCertificate(t *testing.T) {
	cf := cardtest.CardFile(t, jpki.MediumCard)
	cf.Sign = nil
	c, err := card.New(cf)
	if err != nil {
		t.Fatal(err)
	}
	tx(t, c, cardtest.SelectAID(jpki.AIDJPKI), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(jpki.EFSignCert), apdu.SWFileNotFound)
	tx(t, c, cardtest.SelectEF(jpki.EFSignKey), apdu.SWFileNotFound)
	// the password's IEF is there, never set: OpenSC can ask for its tries when it binds
	tx(t, c, cardtest.SelectEF(jpki.EFSignPIN), apdu.SWOK)
	tx(t, c, cardtest.Verify(""), apdu.VerifyFailed(0))
	tx(t, c, cardtest.Verify("ABC123"), apdu.SWReferenceDataBlocked)
	tx(t, c, cardtest.SelectEF(jpki.EFCertAvail), apdu.SWOK)
	if r := tx(t, c, cardtest.ReadBinary(0, 3), apdu.SWOK); !bytes.Equal(r.Data, []byte{0, 0x8F, 0}) {
		t.Fatalf("availability % X", r.Data)
	}
	// the auth key works as on any card
	tx(t, c, cardtest.SelectEF(jpki.EFAuthPIN), apdu.SWOK)
	tx(t, c, cardtest.Verify(cf.Auth.PIN.Value), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(jpki.EFAuthKey), apdu.SWOK)
	tx(t, c, cardtest.Sign(cardtest.DigestInfoSHA256([]byte("x"))), apdu.SWOK)
}

// Selecting an application drops its security state even when it is the current one: that is
// how OpenSC's jpki driver logs out.
func TestReselectingLogsOut(t *testing.T) {
	for _, aid := range [][]byte{jpki.AIDJPKI, jpki.AIDSupport} {
		c, cf := newCard(t, jpki.MediumCard)
		pinEF, pin, readEF := jpki.EFAuthPIN, cf.Auth.PIN.Value, jpki.EFAuthKey
		if bytes.Equal(aid, jpki.AIDSupport) {
			pinEF, pin, readEF = jpki.EFSupportPIN, cf.SupportPIN.Value, jpki.EFSupportMyNumber
		}
		use := func(want apdu.StatusWord) {
			t.Helper()
			tx(t, c, cardtest.SelectEF(readEF), apdu.SWOK)
			if readEF == jpki.EFAuthKey {
				tx(t, c, cardtest.Sign(cardtest.DigestInfoSHA256([]byte("x"))), want)
			} else {
				tx(t, c, cardtest.ReadBinary(0, 17), want)
			}
		}
		tx(t, c, cardtest.SelectAID(aid), apdu.SWOK)
		tx(t, c, cardtest.SelectEF(pinEF), apdu.SWOK)
		tx(t, c, cardtest.Verify(pin), apdu.SWOK)
		use(apdu.SWOK)
		tx(t, c, cardtest.SelectAID(aid), apdu.SWOK)
		use(apdu.SWSecurityNotSatisfied)
	}
}

// A PIN of a length the key cannot hold answers 6700 and costs no try.
func TestWrongLengthPINCostsNoTry(t *testing.T) {
	c, cf := newCard(t, jpki.MediumCard)
	type key struct {
		aid   []byte
		ef    uint16
		tries int
		bad   []string
	}
	for _, k := range []key{
		{jpki.AIDJPKI, jpki.EFAuthPIN, 3, []string{"1", "123", "12345", "123456789"}},
		{jpki.AIDJPKI, jpki.EFSignPIN, 5, []string{"A", "ABC12", strings.Repeat("A1", 8) + "A"}},
		{jpki.AIDSupport, jpki.EFSupportPIN, 3, []string{"123", "12345"}},
		{jpki.AIDSupport, 0x0014, jpki.CollationMaxTries, []string{"12345678901", "1234567890123"}},
		{jpki.AIDSupport, 0x0015, jpki.CollationMaxTries, []string{"1234567890123", "123456789012345"}},
		{jpki.AIDSurface, 0x0011, jpki.CollationMaxTries, []string{"12345", "1234567"}},
		{jpki.AIDSurface, 0x0013, jpki.CollationMaxTries, []string{"1234"}},
		{jpki.AIDJuki, 0x001C, 3, []string{"12"}},
	} {
		tx(t, c, cardtest.SelectAID(k.aid), apdu.SWOK)
		tx(t, c, cardtest.SelectEF(k.ef), apdu.SWOK)
		for _, b := range k.bad {
			tx(t, c, cardtest.Verify(b), apdu.SWWrongLength)
		}
		tx(t, c, cardtest.Verify(""), apdu.VerifyFailed(k.tries))
	}
	if cf.Auth.PIN.Tries != 3 || cf.Sign.PIN.Tries != 5 || len(cf.CollationTries) != 0 {
		t.Fatalf("counters moved: auth %d sign %d collation %v", cf.Auth.PIN.Tries, cf.Sign.PIN.Tries, cf.CollationTries)
	}
}

// The collation numbers' counters live in the card file: a wrong try survives pulling the card
// (reopening the file), a good one restores the counter and leaves nothing behind.
func TestCollationTriesPersist(t *testing.T) {
	path, cf := cardtest.WriteCardFile(t, jpki.MediumCard)
	c, err := card.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	wrongA := strings.Repeat("9", 12)
	tx(t, c, cardtest.SelectAID(jpki.AIDSupport), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(0x0014), apdu.SWOK)
	tx(t, c, cardtest.Verify(wrongA), apdu.VerifyFailed(jpki.CollationMaxTries-1))
	tx(t, c, cardtest.Verify(wrongA), apdu.VerifyFailed(jpki.CollationMaxTries-2))
	tx(t, c, cardtest.SelectAID(jpki.AIDSurface), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(0x0011), apdu.SWOK)
	tx(t, c, cardtest.Verify("000000"), apdu.VerifyFailed(jpki.CollationMaxTries-1))

	saved, err := jpki.LoadCardFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{jpki.CollationSupportA: jpki.CollationMaxTries - 2, jpki.CollationSurfaceBirth: jpki.CollationMaxTries - 1}
	if !maps.Equal(saved.CollationTries, want) {
		t.Fatalf("card file holds %v, want %v", saved.CollationTries, want)
	}
	c, err = card.Open(path) // the card is pulled and inserted again
	if err != nil {
		t.Fatal(err)
	}
	tx(t, c, cardtest.SelectAID(jpki.AIDSupport), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(0x0014), apdu.SWOK)
	tx(t, c, cardtest.Verify(""), apdu.VerifyFailed(jpki.CollationMaxTries-2))
	tx(t, c, cardtest.Verify(cf.MyNumber), apdu.SWOK)
	// the other AP's 照合番号A has its own counter
	tx(t, c, cardtest.SelectAID(jpki.AIDSurface), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(0x0013), apdu.SWOK)
	tx(t, c, cardtest.Verify(""), apdu.VerifyFailed(jpki.CollationMaxTries))
	saved, _ = jpki.LoadCardFile(path)
	if !maps.Equal(saved.CollationTries, map[string]int{jpki.CollationSurfaceBirth: jpki.CollationMaxTries - 1}) {
		t.Fatalf("after a good VERIFY the card file holds %v", saved.CollationTries)
	}
	// exhausting a collation number blocks it for good, across reinsertion
	tx(t, c, cardtest.SelectAID(jpki.AIDSupport), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(0x0014), apdu.SWOK)
	for i := jpki.CollationMaxTries - 1; i >= 0; i-- {
		tx(t, c, cardtest.Verify(wrongA), apdu.VerifyFailed(i))
	}
	c, _ = card.Open(path)
	tx(t, c, cardtest.SelectAID(jpki.AIDSupport), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(0x0014), apdu.SWOK)
	tx(t, c, cardtest.Verify(cf.MyNumber), apdu.SWReferenceDataBlocked)
}

func TestNewRejectsBadCardFiles(t *testing.T) {
	other := cardtest.CardFile(t, jpki.MediumCard)
	tests := []struct {
		name   string
		break_ func(cf *jpki.CardFile)
	}{
		{"nil auth", func(cf *jpki.CardFile) { cf.Auth = nil }},
		{"bad key", func(cf *jpki.CardFile) { cf.Auth.Key = []byte{1, 2, 3} }},
		{"key of another slot", func(cf *jpki.CardFile) { cf.Auth.Key = other.Sign.Key }},
		{"cert not 30 82", func(cf *jpki.CardFile) { cf.Sign.CACert = []byte{0x30, 0x03, 1, 2, 3} }},
		{"bad my number", func(cf *jpki.CardFile) { cf.MyNumber = "123456789012" }},
		{"bad serial", func(cf *jpki.CardFile) { cf.CardSerial = "12" }},
		{"bad expiry", func(cf *jpki.CardFile) { cf.CardExpiry = "2035-13-01" }},
		{"bad security code", func(cf *jpki.CardFile) { cf.SecurityCode = "12a4" }},
		{"bad basic 4", func(cf *jpki.CardFile) { cf.Basic4.Name = "" }},
		{"unknown medium", func(cf *jpki.CardFile) { cf.Medium = "watch" }},
		{"collation counter out of range", func(cf *jpki.CardFile) { cf.CollationTries = map[string]int{jpki.CollationSupportA: 11} }},
		{"unknown collation key", func(cf *jpki.CardFile) { cf.CollationTries = map[string]int{"pin_c": 1} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf := cardtest.CardFile(t, jpki.MediumCard)
			tt.break_(cf)
			if _, err := card.New(cf); !errors.Is(err, card.ErrCardFile) {
				t.Fatalf("err = %v, want ErrCardFile", err)
			}
		})
	}
	if _, err := card.Open(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, card.ErrCardFile) {
		t.Fatalf("Open missing: %v", err)
	}
}

// Counters survive pulling the card: a fresh Open sees what the last one left.
func TestCountersPersistAcrossOpen(t *testing.T) {
	path, _ := cardtest.WriteCardFile(t, jpki.MediumCard)
	open := func() *card.Card {
		c, err := card.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		tx(t, c, cardtest.SelectAID(jpki.AIDJPKI), apdu.SWOK)
		tx(t, c, cardtest.SelectEF(jpki.EFAuthPIN), apdu.SWOK)
		return c
	}
	c := open()
	tx(t, c, cardtest.Verify("9999"), apdu.VerifyFailed(2))
	c = open()
	tx(t, c, cardtest.Verify(""), apdu.VerifyFailed(2))
	tx(t, c, cardtest.Verify("9999"), apdu.VerifyFailed(1))
	tx(t, c, cardtest.Verify("9999"), apdu.VerifyFailed(0))
	c = open()
	tx(t, c, cardtest.Verify(""), apdu.VerifyFailed(0))
	tx(t, c, cardtest.Verify(cardtest.AuthPIN), apdu.SWReferenceDataBlocked)
	cf, err := jpki.LoadCardFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cf.Auth.PIN.Tries != 0 {
		t.Fatalf("file says %d tries", cf.Auth.PIN.Tries)
	}

	// the municipal office resets it
	if err := card.ResetPIN(cf, card.PINAuth, "7777"); err != nil {
		t.Fatal(err)
	}
	if err := cf.Save(path); err != nil {
		t.Fatal(err)
	}
	c = open()
	tx(t, c, cardtest.Verify(""), apdu.VerifyFailed(3))
	tx(t, c, cardtest.Verify(cardtest.AuthPIN), apdu.VerifyFailed(2))
	tx(t, c, cardtest.Verify("7777"), apdu.SWOK)
	if cf, _ = jpki.LoadCardFile(path); cf.Auth.PIN.Tries != 3 {
		t.Fatalf("good VERIFY did not persist the restored counter: %d", cf.Auth.PIN.Tries)
	}

	// a changed PIN persists too
	tx(t, c, cardtest.H("00 24 01 80 04 31 31 31 31"), apdu.SWOK)
	if cf, _ = jpki.LoadCardFile(path); cf.Auth.PIN.Value != "1111" {
		t.Fatalf("changed PIN not persisted: %q", cf.Auth.PIN.Value)
	}
}

func TestPersistFailureAnswers6581(t *testing.T) {
	dir := t.TempDir()
	path, _ := cardtest.WriteCardFile(t, jpki.MediumCard)
	target := filepath.Join(dir, "card.json")
	b, _ := os.ReadFile(path)
	os.WriteFile(target, b, 0o600)
	c, err := card.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir) // the directory is gone: Save cannot create its temporary file
	tx(t, c, cardtest.SelectAID(jpki.AIDJPKI), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(jpki.EFAuthPIN), apdu.SWOK)
	tx(t, c, cardtest.Verify("9999"), apdu.SWMemoryFailure)
	// the in-memory counter was still decremented: failing writes never give free tries
	tx(t, c, cardtest.Verify(""), apdu.VerifyFailed(2))
}

func TestResetPIN(t *testing.T) {
	tests := []struct {
		which, pin string
		want       error
	}{
		{card.PINAuth, "0000", nil},
		{card.PINAuth, "00000", card.ErrPINFormat},
		{card.PINAuth, "abcd", card.ErrPINFormat},
		{card.PINSign, "NEWPASS1", nil},
		{card.PINSign, "newpass1", card.ErrPINFormat},
		{card.PINSign, "ABCDEFG", card.ErrPINFormat},
		{card.PINSign, "1234567", card.ErrPINFormat},
		{card.PINSign, "A1234", card.ErrPINFormat},
		{card.PINSign, "A123456789012345X", card.ErrPINFormat},
		{card.PINSupport, "9876", nil},
		{card.PINJuki, "9876", nil},
		{"admin", "1234", card.ErrUnknownPIN},
	}
	for _, tt := range tests {
		t.Run(tt.which+"/"+tt.pin, func(t *testing.T) {
			cf := cardtest.CardFile(t, jpki.MediumCard)
			cf.Auth.PIN.Tries, cf.Sign.PIN.Tries, cf.SupportPIN.Tries = 0, 0, 0
			err := card.ResetPIN(cf, tt.which, tt.pin)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			p := map[string]jpki.PIN{card.PINAuth: cf.Auth.PIN, card.PINSign: cf.Sign.PIN, card.PINSupport: cf.SupportPIN, card.PINJuki: cf.JukiPIN}[tt.which]
			if p.Value != tt.pin || p.Tries != p.MaxTries || p.MaxTries == 0 {
				t.Fatalf("after reset: %+v", p)
			}
		})
	}
	cf := cardtest.CardFile(t, jpki.MediumCard)
	cf.Sign = nil
	if err := card.ResetPIN(cf, card.PINSign, "ABC123"); !errors.Is(err, card.ErrUnknownPIN) {
		t.Fatalf("no signing slot: %v", err)
	}
}

func TestLatencyUsesClock(t *testing.T) {
	fc := clockwork.NewFakeClock()
	c, _ := newCard(t, jpki.MediumCard, card.WithClock(fc), card.WithLatency(500*time.Millisecond))
	tx(t, c, cardtest.SelectAID(jpki.AIDJPKI), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(jpki.EFAuthPIN), apdu.SWOK)
	tx(t, c, cardtest.Verify(cardtest.AuthPIN), apdu.SWOK)
	tx(t, c, cardtest.SelectEF(jpki.EFAuthKey), apdu.SWOK)
	done := make(chan []byte)
	go func() { done <- c.Transmit(cardtest.Sign(cardtest.DigestInfoSHA256([]byte("x")))) }()
	if err := fc.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("signature returned before the latency elapsed")
	default:
	}
	fc.Advance(500 * time.Millisecond)
	if r, _ := apdu.ParseResponse(<-done); r.SW != apdu.SWOK || len(r.Data) != 256 {
		t.Fatalf("signature %v, %d bytes", r.SW, len(r.Data))
	}
}

func TestPSSUsesInjectedRandomness(t *testing.T) {
	authKey, _ := cardtest.Keys(t)
	sign := func() []byte {
		c, _ := newCard(t, jpki.MediumCard, card.WithRand(bytes.NewReader(bytes.Repeat([]byte{7}, 1024))))
		tx(t, c, cardtest.SelectAID(jpki.AIDJPKI), apdu.SWOK)
		tx(t, c, cardtest.SelectEF(jpki.EFAuthPIN), apdu.SWOK)
		tx(t, c, cardtest.Verify(cardtest.AuthPIN), apdu.SWOK)
		h := sha256.Sum256([]byte("pss"))
		r := tx(t, c, apdu.Command{CLA: 0x80, INS: 0x2A, P1: 0x04, P2: 0x97, Data: h[:], Ne: 256}.MustBytes(), apdu.SWOK)
		if err := rsa.VerifyPSS(&authKey.PublicKey, crypto.SHA256, h[:], r.Data, nil); err != nil {
			t.Fatal(err)
		}
		return r.Data
	}
	if !bytes.Equal(sign(), sign()) {
		t.Fatal("PSS signatures differ with the same injected randomness")
	}
}

func TestPortrait(t *testing.T) {
	a, err := card.Portrait("a")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := card.Portrait("a")
	b, _ := card.Portrait("b")
	if !bytes.Equal(a, a2) || bytes.Equal(a, b) {
		t.Fatal("portrait is not deterministic per seed")
	}
	img, err := jpeg.Decode(bytes.NewReader(a))
	if err != nil || img.Bounds().Dx() != 96 || img.Bounds().Dy() != 120 {
		t.Fatalf("portrait: %v %v", err, img.Bounds())
	}
}

// The card serialises APDUs: parallel sessions each get consistent answers.
func TestConcurrentTransmit(t *testing.T) {
	c, cf := newCard(t, jpki.MediumCard)
	tx(t, c, cardtest.SelectAID(jpki.AIDJPKI), apdu.SWOK)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				r, _ := apdu.ParseResponse(c.Transmit(cardtest.H("00 B0 8A 00 04")))
				if r.SW != apdu.SWOK || !bytes.Equal(r.Data, cf.Auth.Cert[:4]) {
					t.Errorf("concurrent read: %v % X", r.SW, r.Data)
					return
				}
				c.Transmit(cardtest.SelectEF(jpki.EFToken))
			}
		}()
	}
	wg.Wait()
}

// FuzzTransmit checks that any byte string, in any state, yields a response ending in a status
// word and never a panic (Transmit recovers, so a panic would show as 6F00).
func FuzzTransmit(f *testing.F) {
	for _, s := range []string{
		"00A4040C0AD392F000260100000001", "00A4020C02000A", "00B0000004", "00200080", "002000800431323334",
		"802A00800300000000", "00B2010C00", "00CA5F5100", "80FC0000", "00A40000", "00", "",
		"00A4040C0AD3921000310001010408", "0024018004313131", "00B08A0004", "802A04971F",
	} {
		f.Add(cardtest.H(s), cardtest.H(s))
	}
	cf := cardtest.CardFile(f, jpki.MediumCard)
	c, err := card.New(cf)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, in := range [][]byte{a, b} {
			out := c.Transmit(in)
			r, err := apdu.ParseResponse(out)
			if err != nil {
				t.Fatalf("%X → % X: no status word", in, out)
			}
			if r.SW == apdu.SWNoPreciseDiagnosis {
				t.Fatalf("%X → 6F00 (internal error)", in)
			}
		}
	})
}

// The suite passes on a card issued by the J-LIS simulator, not only on the test helper's.
func TestConformanceWithSimulatorCard(t *testing.T) {
	sim, _, _ := testkit.Simulator(t)
	cf := testkit.Issue(t, sim, testkit.Taro()).Card
	c, err := card.New(cf)
	if err != nil {
		t.Fatal(err)
	}
	cardtest.Conformance(t, inProcess{c}, cf)
}

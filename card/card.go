// Package card is the virtual My Number Card: the card's applications (APs) with their real
// AIDs, elementary files, PIN objects and keys, answering ISO 7816-4 command APDUs byte for byte
// as the physical card does, so that real PC/SC software (pcscd, OpenSC's jpki driver) cannot
// tell it apart. A smartphone JPKI credential (the Android or iPhone medium of the card file) is
// served the same way, with only the JPKI AP and the phone's token label.
//
// It owns the card side of the APDU exchange: file system, access rules, PIN retry counters
// (persisted in the card file, so pulling the card does not reset them), and signing. It does
// not issue certificates or keys (package jlis writes the card file), does not talk to pcscd
// (package card/vpcd bridges a Card to vsmartcard's virtual reader) and is not a host (package
// reader).
//
// Facts and their sources: docs/design/jpki-reference.md (REFERENCE §1–§4, §11). Where the
// reference marks a fact UNCONFIRMED the choice made here is commented at its place.
//
// The 券面事項入力補助AP and the 券面事項確認AP serve the issuer's signatures and AP
// certificates that the card file carries, in files of fixed physical size (jpki/cardap.go).
//
// What the virtual card does not have: secure messaging (the 券面事項入力補助AP's SET SESSION
// KEY), the APs' own signing keys (EF 0006, 0007; 80 2A 00 00), INTERNAL AUTHENTICATE of the
// 共通カードAP, and the 券面事項確認AP's My Number image.
package card

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/apdu"
	"github.com/mynagate/mynagate/jpki"
)

// ATRs of the virtual card.
var (
	// ATRContact is the contact ATR of the physical card, the one OpenSC's jpki driver matches:
	// TS 3B, T0 E0 (TB1 TC1 TD1, no historical bytes), TB1 00, TC1 FF, TD1 81 (T=1, TD2),
	// TD2 31 (TA3 TB3, T=1), TA3 FE (IFSC 254), TB3 45 (BWI 4, CWI 5), TCK 14 (XOR of T0…TB3).
	ATRContact = []byte{0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14}
	// ATRContactless is what a PC/SC reader synthesises for an ISO 14443-4 credential without
	// historical bytes (PC/SC Part 3 §3.1.3.2.3): 3B 80 80 01 + TCK 01. Phones are reached over
	// NFC, so a phone credential presents this ATR; OpenSC then recognises it by selecting the
	// JPKI AP, as it does on a real phone.
	ATRContactless = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}
)

// Errors returned by New, Open and ResetPIN.
var (
	// ErrCardFile is wrapped by every error about an unusable card file; the caller should
	// report it and ask for a card file written by the J-LIS simulator.
	ErrCardFile = errors.New("card: unusable card file")
	// ErrUnknownPIN is returned by ResetPIN for a PIN name other than auth, sign, support or
	// juki, or for sign on a card without a signing certificate.
	ErrUnknownPIN = errors.New("card: unknown PIN")
	// ErrPINFormat is returned (wrapped, with the rule) for a new PIN that breaks the card's
	// format rules; the caller should ask for another PIN.
	ErrPINFormat = errors.New("card: PIN format not accepted")
)

// Option configures a Card.
type Option func(*options)

type options struct {
	clock   clockwork.Clock
	rand    io.Reader
	latency time.Duration
}

// WithClock sets the clock used to wait the signing latency (default: the real clock).
func WithClock(c clockwork.Clock) Option { return func(o *options) { o.clock = c } }

// WithRand sets the randomness for RSASSA-PSS signatures (default crypto/rand.Reader).
func WithRand(r io.Reader) Option { return func(o *options) { o.rand = r } }

// WithLatency makes every COMPUTE DIGITAL SIGNATURE take at least d, to mimic a real card
// (about 0.3–1 s over NFC). Zero, the default, answers as fast as the CPU allows.
func WithLatency(d time.Duration) Option { return func(o *options) { o.latency = d } }

// Card is one virtual card. Its methods are safe for concurrent use; APDUs are processed one at
// a time, as on a real card.
type Card struct {
	mu   sync.Mutex
	cf   *jpki.CardFile
	path string // where counters are persisted; "" for a card made with New
	opts options
	atr  []byte
	dfs  []*df

	// Volatile state, cleared by Reset.
	cur      *df             // current DF (nil after reset: the MF is implicit)
	curEF    *ef             // current EF within cur
	verified map[uint16]bool // PIN IEFs verified in cur since it was selected
}

// New builds a card from a card file. The card keeps cf and changes its PIN counters in place;
// use Open to have them saved after every change.
func New(cf *jpki.CardFile, opts ...Option) (*Card, error) {
	if cf == nil {
		return nil, fmt.Errorf("%w: nil card file", ErrCardFile)
	}
	if err := cf.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
	}
	c := &Card{cf: cf, verified: map[uint16]bool{}}
	c.opts = options{clock: clockwork.NewRealClock(), rand: rand.Reader}
	for _, o := range opts {
		o(&c.opts)
	}
	c.atr = ATRContact
	if cf.Medium.IsPhone() {
		c.atr = ATRContactless
	}
	if err := c.build(); err != nil {
		return nil, err
	}
	return c, nil
}

// Open loads the card file at path and builds the card; every change of a PIN counter or value
// is written back to path (atomically, with jpki.CardFile.Save) before the card answers.
func Open(path string, opts ...Option) (*Card, error) {
	cf, err := jpki.LoadCardFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
	}
	c, err := New(cf, opts...)
	if err != nil {
		return nil, err
	}
	c.path = path
	return c, nil
}

// ATR returns the answer to reset (a copy).
func (c *Card) ATR() []byte { return append([]byte(nil), c.atr...) }

// Medium returns the medium of the card file.
func (c *Card) Medium() jpki.Medium { return c.cf.Medium }

// Reset is a warm reset: no application is selected and all security state is cleared. PIN
// counters are not touched.
func (c *Card) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset()
}

func (c *Card) reset() {
	c.cur, c.curEF = nil, nil
	clear(c.verified)
}

// Transmit processes one command APDU and returns the response APDU. It always returns at least
// a status word, whatever the input, and never panics.
func (c *Card) Transmit(capdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.transmit(capdu)
	return r.Bytes()
}

func (c *Card) transmit(capdu []byte) (resp apdu.Response) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("card: internal error processing APDU", "apdu", fmt.Sprintf("%X", capdu), "panic", p)
			resp = apdu.Response{SW: apdu.SWNoPreciseDiagnosis}
		}
	}()
	cmd, err := apdu.ParseCommand(capdu)
	if err != nil {
		return sw(apdu.StatusFor(err))
	}
	if s, ok := checkCLA(cmd.CLA); !ok {
		return sw(s)
	}
	proprietary := cmd.CLA == 0x80
	switch cmd.INS {
	case 0xA4:
		return c.iso(proprietary, cmd, c.selectFile)
	case 0xB0:
		return c.iso(proprietary, cmd, c.readBinary)
	case 0xB2:
		return c.iso(proprietary, cmd, c.readRecord)
	case 0x20:
		return c.iso(proprietary, cmd, c.verify)
	case 0x24:
		return c.iso(proprietary, cmd, c.changeReferenceData)
	case 0xCA:
		return c.iso(proprietary, cmd, c.getData)
	case 0x2A:
		if !proprietary {
			// ISO PERFORM SECURITY OPERATION is not offered; the card signs with CLA 80.
			return sw(apdu.SWIncorrectP1P2)
		}
		return c.computeSignature(cmd)
	case 0x32:
		if !proprietary {
			return sw(apdu.SWINSNotSupported)
		}
		return c.changeKey(cmd)
	case 0xFC:
		if !proprietary {
			return sw(apdu.SWINSNotSupported)
		}
		// The iPhone profile's "last command indicator"; the physical card answers 6700
		// (REFERENCE §7).
		if c.cf.Medium == jpki.MediumIPhone {
			return sw(apdu.SWOK)
		}
		return sw(apdu.SWWrongLength)
	}
	return sw(apdu.SWINSNotSupported)
}

// iso runs an interindustry command, which the card accepts only with CLA 00.
func (c *Card) iso(proprietary bool, cmd apdu.Command, h func(apdu.Command) apdu.Response) apdu.Response {
	if proprietary {
		return sw(apdu.SWCLANotSupported)
	}
	return h(cmd)
}

// checkCLA accepts CLA 00 (interindustry) and 80 (JICSAP proprietary) and names what is wrong
// with any other class byte.
func checkCLA(cla byte) (apdu.StatusWord, bool) {
	switch {
	case cla == 0x00 || cla == 0x80:
		return apdu.SWOK, true
	case cla&0xE0 != 0x00 && cla&0x80 == 0:
		return apdu.SWCLANotSupported, false // 20–7F: further interindustry classes
	case cla&0x10 != 0:
		return apdu.SWChainingNotSupported, false
	case cla&0x0C != 0:
		return apdu.SWSecureMessagingNotSupp, false
	case cla&0x03 != 0:
		return apdu.SWLogicalChannelNotSupp, false
	}
	return apdu.SWCLANotSupported, false
}

func sw(s apdu.StatusWord) apdu.Response { return apdu.Response{SW: s} }

func ok(data []byte) apdu.Response { return apdu.Response{Data: data, SW: apdu.SWOK} }

// save records a PIN object's counter in the card file and writes the file (persist).
func (c *Card) save(o *pinObj) bool {
	if o.collation != "" {
		if o.p.Tries == o.p.MaxTries {
			delete(c.cf.CollationTries, o.collation)
		} else {
			if c.cf.CollationTries == nil {
				c.cf.CollationTries = map[string]int{}
			}
			c.cf.CollationTries[o.collation] = o.p.Tries
		}
	}
	return c.persist()
}

// persist writes the card file after a counter or PIN change. It reports false (and the card
// answers 6581, as a real card whose EEPROM write failed) when the file cannot be written.
func (c *Card) persist() bool {
	if c.path == "" {
		return true
	}
	if err := c.cf.Save(c.path); err != nil {
		slog.Error("card: could not persist PIN counters", "path", c.path, "err", err)
		return false
	}
	return true
}

// keyOf parses the PKCS#8 RSA key of a slot.
func keyOf(name string, s *jpki.KeySlot) (*rsa.PrivateKey, error) {
	k, err := parseRSAKey(s.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s key: %v", ErrCardFile, name, err)
	}
	return k, nil
}

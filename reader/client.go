package reader

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/mynagate/mynagate/apdu"
	"github.com/mynagate/mynagate/jpki"
)

// Client speaks the My Number Card's JPKI and 券面事項入力補助 applications over a Transport.
// Each method runs one complete command sequence (SELECT … VERIFY … READ/SIGN) under a lock, so
// a Client is safe for concurrent use and sequences never interleave on the card.
//
// A Client never stores a context: every method takes one, and the transport gives up when it
// ends.
type Client struct {
	mu sync.Mutex
	t  Transport
}

// NewClient returns a client over t. Closing the client closes t.
func NewClient(t Transport) *Client { return &Client{t: t} }

// Reader names the reader the card is in.
func (c *Client) Reader() string { return c.t.Reader() }

// Close ends the session (resetting the card if a PIN was presented).
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.Close()
}

// Present reports whether the card is still in the reader.
func (c *Client) Present(ctx context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.Present(ctx)
}

// transmit sends cmd and returns the parsed response. It follows 61xx (GET RESPONSE) and 6Cxx
// (resend with the exact Le) as a T=0 reader may require; the card itself and vpcd use T=1 and
// never send them.
func (c *Client) transmit(ctx context.Context, cmd apdu.Command) (apdu.Response, error) {
	b, err := cmd.Bytes()
	if err != nil {
		return apdu.Response{}, &Error{Reason: ReasonUnsupported, Detail: "cannot encode APDU", Err: err}
	}
	var data []byte
	for range 16 {
		raw, err := c.t.Transmit(ctx, b)
		if err != nil {
			if ctx.Err() != nil && ReasonOf(err) == ReasonUnknown {
				return apdu.Response{}, &Error{Reason: ReasonTimeout, Err: err}
			}
			return apdu.Response{}, err
		}
		resp, err := apdu.ParseResponse(raw)
		if err != nil {
			return apdu.Response{}, &Error{Reason: ReasonMalformed, Detail: "response has no status word", Err: err}
		}
		switch resp.SW.SW1() {
		case 0x61:
			data = append(data, resp.Data...)
			ne := int(resp.SW.SW2())
			if ne == 0 {
				ne = 256
			}
			b = apdu.Command{CLA: cmd.CLA & 0x03, INS: 0xC0, Ne: ne}.MustBytes()
			continue
		case 0x6C:
			cmd.Ne = int(resp.SW.SW2())
			if cmd.Ne == 0 {
				cmd.Ne = 256
			}
			b = cmd.MustBytes()
			continue
		}
		resp.Data = append(data, resp.Data...)
		return resp, nil
	}
	return apdu.Response{}, &Error{Reason: ReasonMalformed, Detail: "card keeps asking for GET RESPONSE"}
}

// cardError wraps an unexpected status word.
func cardError(sw apdu.StatusWord) error {
	return &Error{Reason: ReasonCardError, SW: uint16(sw), Detail: sw.String()}
}

// appName names the applications for messages and Status.
func appName(aid []byte) string {
	switch hex.EncodeToString(aid) {
	case hex.EncodeToString(jpki.AIDJPKI):
		return "jpki"
	case hex.EncodeToString(jpki.AIDSupport):
		return "support"
	case hex.EncodeToString(jpki.AIDSurface):
		return "surface"
	case hex.EncodeToString(jpki.AIDJuki):
		return "juki"
	case hex.EncodeToString(jpki.AIDCommon):
		return "common"
	}
	return strings.ToUpper(hex.EncodeToString(aid))
}

// selectAID selects an application (00 A4 04 0C Lc AID). Any answer but 9000 to the JPKI or
// 券面事項入力補助 AID means the card is not a My Number Card (a real one answers 9000, other
// cards 6A82 or 6D00/6E00/6A86).
func (c *Client) selectAID(ctx context.Context, aid []byte) error {
	resp, err := c.transmit(ctx, apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x0C, Data: aid})
	if err != nil {
		return err
	}
	if resp.SW != apdu.SWOK {
		return &Error{Reason: ReasonNotJPKI, SW: uint16(resp.SW),
			Detail: fmt.Sprintf("SELECT of the %s application answered %s", appName(aid), resp.SW)}
	}
	return nil
}

// selectEF selects an elementary file of the current application (00 A4 02 0C 02 FID).
func (c *Client) selectEF(ctx context.Context, ef uint16) (apdu.StatusWord, error) {
	resp, err := c.transmit(ctx, apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{byte(ef >> 8), byte(ef)}})
	if err != nil {
		return 0, err
	}
	return resp.SW, nil
}

// mustSelectEF selects ef and turns any failure into an error; missing means the error to
// return for 6A82.
func (c *Client) mustSelectEF(ctx context.Context, ef uint16, missing error) error {
	sw, err := c.selectEF(ctx, ef)
	if err != nil {
		return err
	}
	switch sw {
	case apdu.SWOK:
		return nil
	case apdu.SWFileNotFound:
		if missing != nil {
			return missing
		}
	}
	return cardError(sw)
}

// readBinary reads up to n (1..256) bytes at off (00 B0 off Le).
func (c *Client) readBinary(ctx context.Context, off, n int) ([]byte, error) {
	if off < 0 || off > 0x7FFF {
		return nil, &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf("offset %d is beyond what READ BINARY can address", off)}
	}
	resp, err := c.transmit(ctx, apdu.Command{CLA: 0x00, INS: 0xB0, P1: byte(off >> 8), P2: byte(off), Ne: n})
	if err != nil {
		return nil, err
	}
	switch resp.SW {
	case apdu.SWOK:
	case apdu.SWSecurityNotSatisfied:
		return nil, &Error{Reason: ReasonAccessDenied, SW: uint16(resp.SW), Detail: "the file needs a verified PIN"}
	case apdu.SWWrongP1P2:
		return nil, &Error{Reason: ReasonMalformed, SW: uint16(resp.SW), Detail: fmt.Sprintf("file ends before offset %d", off)}
	default:
		return nil, cardError(resp.SW)
	}
	if len(resp.Data) > n {
		return nil, &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf("READ BINARY of %d bytes returned %d", n, len(resp.Data))}
	}
	return resp.Data, nil
}

// headerLen is how many bytes are read first to learn a record's length (REFERENCE §3.2).
const headerLen = 7

// readRecord reads a BER-encoded object at the start of the current EF: the first 7 bytes, the
// length from the header, then the rest in chunks of at most 256 bytes. tag is 30 for a DER
// certificate and FF 10 / FF 20 for the card's private records. When the file holds no object
// (an erased EF starting 00 or FF) it returns empty, if not nil.
func (c *Client) readRecord(ctx context.Context, tag []byte, empty error) ([]byte, error) {
	head, err := c.readBinary(ctx, 0, headerLen)
	if err != nil {
		return nil, err
	}
	if empty != nil && len(head) > 0 && (head[0] == 0x00 || head[0] == 0xFF) && !bytes.HasPrefix(head, tag) {
		return nil, empty
	}
	total, err := berTotal(head, tag)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, total)
	out = append(out, head[:min(len(head), total)]...)
	return c.readOn(ctx, out, total, "file ends at %d bytes, header says %d")
}

// readOn reads the current EF on from len(out) until out holds n bytes, in chunks of at most
// 256 (as jpki/myna's ReadBinary does); a file that ends first is malformed, described by short
// (a format of the length read and n).
func (c *Client) readOn(ctx context.Context, out []byte, n int, short string) ([]byte, error) {
	for len(out) < n {
		chunk, err := c.readBinary(ctx, len(out), min(256, n-len(out)))
		if err != nil {
			return nil, err
		}
		if len(chunk) == 0 {
			return nil, &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf(short, len(out), n)}
		}
		out = append(out, chunk...)
	}
	return out, nil
}

// berTotal returns the full length (header + value) of the BER object whose first bytes are
// head, after checking the tag.
func berTotal(head, tag []byte) (int, error) {
	bad := func(why string) error {
		return &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf("record header % X: %s", head, why)}
	}
	if len(head) < len(tag)+1 {
		return 0, bad("too short")
	}
	for i, t := range tag {
		if head[i] != t {
			return 0, bad(fmt.Sprintf("tag is not % X", tag))
		}
	}
	l := head[len(tag)]
	hl := len(tag) + 1
	switch {
	case l < 0x80:
		return hl + int(l), nil
	case l == 0x80 || l > 0x83:
		return 0, bad("unsupported length form")
	}
	n := int(l & 0x7F)
	if len(head) < hl+n {
		return 0, bad("too short for its length")
	}
	v := 0
	for _, b := range head[hl : hl+n] {
		v = v<<8 | int(b)
	}
	total := hl + n + v
	if total > 0x7FFF+256 {
		return 0, bad("longer than a card file can be")
	}
	return total, nil
}

// verifyPIN selects the PIN's IEF in the current application and presents value (00 20 00 80
// Lc PIN). The application must already be selected.
func (c *Client) verifyPIN(ctx context.Context, p PIN, value string) error {
	v, err := p.Normalize(value)
	if err != nil {
		return err
	}
	_, ef := p.location()
	if err := c.mustSelectEF(ctx, ef, c.noPINFile(p)); err != nil {
		return err
	}
	resp, err := c.transmit(ctx, apdu.Command{CLA: 0x00, INS: 0x20, P1: 0x00, P2: 0x80, Data: []byte(v)})
	if err == nil {
		err = verifyResult(p, resp.SW)
		if resp.SW == apdu.SWReferenceDataBlocked {
			if absent := c.checkSignPresent(ctx, p); absent != nil {
				err = absent
			}
		}
	}
	auditVerify(ctx, c.t.Reader(), p, err)
	return err
}

// checkSignPresent, for the signing password that the card reports blocked, reads the JPKI
// AP's certificate availability (EF 0008, byte 0 for the signing certificate, 00 when none was
// issued) and returns the no-certificate error on a card without one: such a card keeps the
// password's IEF, never set, which answers as a blocked one. A card without EF 0008 is taken
// to have the certificate. The JPKI AP must be selected.
func (c *Client) checkSignPresent(ctx context.Context, p PIN) error {
	if p != PINSign {
		return nil
	}
	sw, err := c.selectEF(ctx, jpki.EFCertAvail)
	if err != nil || sw != apdu.SWOK {
		return err
	}
	b, err := c.readBinary(ctx, 0, 3)
	if err != nil {
		return err
	}
	if len(b) > 0 && b[0] == 0x00 {
		return c.noPINFile(p)
	}
	return nil
}

// noPINFile is the error for a PIN IEF that does not exist or was never set: no signing
// password on a card without a signing certificate.
func (c *Client) noPINFile(p PIN) error {
	if p == PINSign {
		return &Error{Reason: ReasonNoCertificate, PIN: p, Detail: "the card has no signing certificate (holder under 15?)"}
	}
	return nil
}

// verifyResult maps the status word of a VERIFY with a PIN (REFERENCE §3.4).
func verifyResult(p PIN, sw apdu.StatusWord) error {
	if sw == apdu.SWOK {
		return nil
	}
	if n, ok := sw.TriesLeft(); ok {
		if n == 0 {
			return &Error{Reason: ReasonPINBlocked, PIN: p, SW: uint16(sw), Detail: "that was the last try"}
		}
		return &Error{Reason: ReasonWrongPIN, PIN: p, TriesLeft: n, SW: uint16(sw)}
	}
	switch sw {
	case apdu.SWReferenceDataBlocked, apdu.SWAuthMethodBlocked:
		return &Error{Reason: ReasonPINBlocked, PIN: p, SW: uint16(sw)}
	case apdu.SWWrongLength, apdu.SWIncorrectData:
		return &Error{Reason: ReasonInvalidPIN, PIN: p, SW: uint16(sw), Detail: "the card rejected its form"}
	}
	return cardError(sw)
}

func auditVerify(ctx context.Context, rdr string, p PIN, err error) {
	result := "ok"
	if err != nil {
		result = ReasonOf(err).String()
	}
	slog.InfoContext(ctx, "reader: PIN presented", "event", "reader.verify", "reader", rdr, "pin", p.Name(), "result", result)
}

// TriesLeft returns how many tries the PIN has left, by an empty VERIFY (00 20 00 80), which
// the card answers 63Cx without using a try. 0 means blocked.
func (c *Client) TriesLeft(ctx context.Context, p PIN) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.triesLeft(ctx, p)
	return n, withOp("query "+p.String(), err)
}

func (c *Client) triesLeft(ctx context.Context, p PIN) (int, error) {
	aid, ef := p.location()
	if aid == nil {
		return 0, &Error{Reason: ReasonUnsupported, Detail: fmt.Sprintf("unknown PIN %d", int(p))}
	}
	if err := c.selectAID(ctx, aid); err != nil {
		return 0, err
	}
	if err := c.mustSelectEF(ctx, ef, c.noPINFile(p)); err != nil {
		return 0, err
	}
	resp, err := c.transmit(ctx, apdu.Command{CLA: 0x00, INS: 0x20, P1: 0x00, P2: 0x80})
	if err != nil {
		return 0, err
	}
	if n, ok := resp.SW.TriesLeft(); ok {
		if n == 0 {
			if err := c.checkSignPresent(ctx, p); err != nil {
				return 0, err
			}
		}
		return n, nil
	}
	switch resp.SW {
	case apdu.SWOK:
		// Some cards answer 9000 while the PIN is verified in this session; a successful
		// VERIFY resets the counter, so it is full.
		return p.MaxTries(), nil
	case apdu.SWReferenceDataBlocked, apdu.SWAuthMethodBlocked:
		return 0, nil
	}
	return 0, cardError(resp.SW)
}

// CheckTries returns the tries left of p, and refuses with ReasonPINBlocked when there are none
// and, unless allowLast, with ReasonLastTry when only one is left (a wrong entry would block the
// PIN). Callers that take a PIN from a person call it before asking for the PIN.
func (c *Client) CheckTries(ctx context.Context, p PIN, allowLast bool) (int, error) {
	n, err := c.TriesLeft(ctx, p)
	if err != nil {
		return 0, err
	}
	switch {
	case n == 0:
		return 0, &Error{Reason: ReasonPINBlocked, Op: "check " + p.String(), PIN: p, Detail: "reset it at the municipal office"}
	case n == 1 && !allowLast:
		return n, &Error{Reason: ReasonLastTry, Op: "check " + p.String(), PIN: p, TriesLeft: 1}
	}
	return n, nil
}

// VerifyPIN presents a PIN once, to check it. A correct PIN resets its counter.
func (c *Client) VerifyPIN(ctx context.Context, p PIN, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	aid, _ := p.location()
	if aid == nil {
		return &Error{Reason: ReasonUnsupported, Op: "verify", Detail: fmt.Sprintf("unknown PIN %d", int(p))}
	}
	err := c.selectAID(ctx, aid)
	if err == nil {
		err = c.verifyPIN(ctx, p, value)
	}
	return withOp("verify "+p.String(), err)
}

// certEF returns the EFs of a certificate kind.
func certEF(kind jpki.Kind, ca bool) (uint16, error) {
	switch {
	case kind == jpki.KindAuth && !ca:
		return jpki.EFAuthCert, nil
	case kind == jpki.KindAuth:
		return jpki.EFAuthCACert, nil
	case kind == jpki.KindSign && !ca:
		return jpki.EFSignCert, nil
	case kind == jpki.KindSign:
		return jpki.EFSignCACert, nil
	}
	return 0, &Error{Reason: ReasonUnsupported, Detail: fmt.Sprintf("certificate kind %q", kind)}
}

// readCert reads and parses a certificate EF of the (selected) JPKI AP.
func (c *Client) readCert(ctx context.Context, ef uint16) (*x509.Certificate, error) {
	none := &Error{Reason: ReasonNoCertificate, Detail: fmt.Sprintf("EF %04X is absent or empty", ef)}
	if err := c.mustSelectEF(ctx, ef, none); err != nil {
		return nil, err
	}
	der, err := c.readRecord(ctx, []byte{0x30}, none)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf("EF %04X does not hold a valid certificate", ef), Err: err}
	}
	return cert, nil
}

// ReadAuthCert reads the 利用者証明用電子証明書 (EF 000A), which a card gives without a PIN. A
// smartphone credential asks for the auth PIN first (ReasonAccessDenied); use AuthSigner, which
// verifies the PIN and then reads the certificate.
func (c *Client) ReadAuthCert(ctx context.Context) (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cert, err := c.readCertIn(ctx, jpki.EFAuthCert)
	return cert, withOp("read auth certificate", err)
}

// ReadCACert reads the CA certificate of the auth or signing key (EF 000B or 0002), which the
// card gives without a PIN.
func (c *Client) ReadCACert(ctx context.Context, kind jpki.Kind) (*x509.Certificate, error) {
	ef, err := certEF(kind, true)
	if err != nil {
		return nil, withOp("read CA certificate", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cert, err := c.readCertIn(ctx, ef)
	return cert, withOp(fmt.Sprintf("read %s CA certificate", kind), err)
}

func (c *Client) readCertIn(ctx context.Context, ef uint16) (*x509.Certificate, error) {
	if err := c.selectAID(ctx, jpki.AIDJPKI); err != nil {
		return nil, err
	}
	return c.readCert(ctx, ef)
}

// ReadSignCert reads the 署名用電子証明書 (EF 0001), which the card gives only after the signing
// password. Its subjectAltName carries the basic 4 facts (jpki.ParseSubjectAltName).
func (c *Client) ReadSignCert(ctx context.Context, password string) (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cert, err := c.readVerified(ctx, PINSign, password, jpki.EFSignCert)
	return cert, withOp("read signing certificate", err)
}

// readVerified selects the JPKI AP, presents the PIN and reads a certificate.
func (c *Client) readVerified(ctx context.Context, p PIN, value string, ef uint16) (*x509.Certificate, error) {
	if _, err := p.Normalize(value); err != nil {
		return nil, err
	}
	if err := c.selectAID(ctx, jpki.AIDJPKI); err != nil {
		return nil, err
	}
	if err := c.verifyPIN(ctx, p, value); err != nil {
		return nil, err
	}
	return c.readCert(ctx, ef)
}

// TokenLabel reads the label of the JPKI token (EF 0006, first 32 bytes, space padded):
// JPKIAPICCTOKEN2 on a card, JPKIAPGPSETOKEN / JPKIAPIOSTOKEN on a phone.
func (c *Client) TokenLabel(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, err := c.tokenLabel(ctx)
	return l, withOp("read token label", err)
}

func (c *Client) tokenLabel(ctx context.Context) (string, error) {
	if err := c.selectAID(ctx, jpki.AIDJPKI); err != nil {
		return "", err
	}
	if err := c.mustSelectEF(ctx, jpki.EFToken, nil); err != nil {
		return "", err
	}
	b, err := c.readBinary(ctx, 0, 32)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), " \x00"), nil
}

// MediumOf maps a token label to the medium that carries the credential; ok is false for an
// unknown label (JPKIAPICCTOKEN is the old 住基カード).
func MediumOf(label string) (jpki.Medium, bool) {
	for _, m := range []jpki.Medium{jpki.MediumCard, jpki.MediumAndroid, jpki.MediumIPhone} {
		if m.TokenLabel() == label {
			return m, true
		}
	}
	return "", false
}

// supportRead selects the 券面事項入力補助AP, presents its PIN and reads one record.
func (c *Client) supportRead(ctx context.Context, pin string, ef uint16, tag []byte) ([]byte, error) {
	if _, err := PINSupport.Normalize(pin); err != nil {
		return nil, err
	}
	if err := c.selectAID(ctx, jpki.AIDSupport); err != nil {
		return nil, err
	}
	if err := c.verifyPIN(ctx, PINSupport, pin); err != nil {
		return nil, err
	}
	if err := c.mustSelectEF(ctx, ef, nil); err != nil {
		return nil, err
	}
	return c.readRecord(ctx, tag, nil)
}

// ReadBasic4 reads the basic 4 facts (name, address, date of birth, sex) from the
// 券面事項入力補助AP (EF 0002), after its PIN.
func (c *Client) ReadBasic4(ctx context.Context, supportPIN string) (jpki.Basic4, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := c.supportRead(ctx, supportPIN, jpki.EFSupportBasic4, []byte{0xFF, 0x20})
	if err != nil {
		return jpki.Basic4{}, withOp("read basic 4 facts", err)
	}
	b4, err := jpki.ParseSupportBasic4(b)
	if err != nil {
		return jpki.Basic4{}, &Error{Reason: ReasonMalformed, Op: "read basic 4 facts", Err: err}
	}
	return b4, nil
}

// ReadMyNumber reads the 12-digit individual number from the 券面事項入力補助AP (EF 0001),
// after its PIN.
func (c *Client) ReadMyNumber(ctx context.Context, supportPIN string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := c.supportRead(ctx, supportPIN, jpki.EFSupportMyNumber, []byte{0xFF, 0x10})
	if err != nil {
		return "", withOp("read My Number", err)
	}
	n, err := jpki.ParseSupportMyNumber(b)
	if err != nil {
		return "", &Error{Reason: ReasonMalformed, Op: "read My Number", Err: err}
	}
	return n, nil
}

// Application is one card application and whether it answers SELECT.
type Application struct {
	Name    string `json:"name"`
	AID     string `json:"aid"`
	Present bool   `json:"present"`
}

// PINStatus is the retry counter of one PIN.
type PINStatus struct {
	PIN       string `json:"pin"`
	TriesLeft int    `json:"tries_left"`
	MaxTries  int    `json:"max_tries"`
	Blocked   bool   `json:"blocked"`
	// Absent is set when the card has no such PIN (no signing password without a signing
	// certificate).
	Absent bool `json:"absent,omitempty"`
}

// Status is what a card says about itself without any PIN.
type Status struct {
	Reader string `json:"reader"`
	// ATR is the card's answer to reset in hex, when the transport knows it.
	ATR        string      `json:"atr,omitempty"`
	TokenLabel string      `json:"token_label,omitempty"`
	Medium     jpki.Medium `json:"medium,omitempty"`
	// AuthBiometric is true when the token says its holder logs in without passing a PIN
	// (CKF_PROTECTED_AUTHENTICATION_PATH in EF 0006): the iPhone credential, whose
	// authentication key the phone unlocks with biometrics.
	AuthBiometric bool          `json:"auth_biometric,omitempty"`
	Applications  []Application `json:"applications"`
	PINs          []PINStatus   `json:"pins,omitempty"`
}

// Status probes the card: which of the five applications answer SELECT, the JPKI token label
// and medium, and the tries left of each PIN. It uses no PIN and no try. On a card without the
// JPKI application it returns the applications it found and an error with ReasonNotJPKI.
func (c *Client) Status(ctx context.Context) (Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{Reader: c.t.Reader()}
	if a, ok := c.t.(interface{ ATR() []byte }); ok {
		st.ATR = strings.ToUpper(hex.EncodeToString(a.ATR()))
	}
	for _, aid := range [][]byte{jpki.AIDJPKI, jpki.AIDSupport, jpki.AIDSurface, jpki.AIDJuki, jpki.AIDCommon} {
		err := c.selectAID(ctx, aid)
		if err != nil && !errors.Is(err, ErrNotJPKI) {
			return st, withOp("card status", err)
		}
		st.Applications = append(st.Applications, Application{Name: appName(aid), AID: strings.ToUpper(hex.EncodeToString(aid)), Present: err == nil})
	}
	if !st.Applications[0].Present {
		return st, &Error{Reason: ReasonNotJPKI, Op: "card status", Detail: "the card has no JPKI application"}
	}
	label, err := c.tokenLabel(ctx)
	if err != nil {
		return st, withOp("card status", err)
	}
	st.TokenLabel = label
	st.Medium, _ = MediumOf(label)
	flags, err := c.readBinary(ctx, jpki.TokenFlagsOffset, 4)
	if err != nil {
		return st, withOp("card status: token flags", err)
	}
	st.AuthBiometric = len(flags) == 4 && binary.BigEndian.Uint32(flags)&jpki.TokenFlagProtectedAuthPath != 0
	for _, p := range PINs {
		if p == PINSupport && !st.Applications[1].Present {
			continue
		}
		n, err := c.triesLeft(ctx, p)
		ps := PINStatus{PIN: p.Name(), TriesLeft: n, MaxTries: p.MaxTries(), Blocked: err == nil && n == 0}
		if err != nil {
			if !errors.Is(err, ErrNoCertificate) {
				return st, withOp("card status", err)
			}
			ps.Absent = true
		}
		st.PINs = append(st.PINs, ps)
	}
	return st, nil
}

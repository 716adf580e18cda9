package reader

import (
	"fmt"
	"strings"

	"github.com/mynagate/mynagate/jpki"
)

// PIN names one of the card's PINs that this client presents.
type PIN int

// The PINs of the JPKI AP and the 券面事項入力補助AP (REFERENCE §4).
const (
	// PINAuth is the 利用者証明用電子証明書暗証番号: 4 digits, 3 tries. It unlocks the auth key.
	PINAuth PIN = iota + 1
	// PINSign is the 署名用電子証明書パスワード: 6–16 upper-case letters and digits, 5 tries. It
	// unlocks the signing certificate and key.
	PINSign
	// PINSupport is the 券面事項入力補助用暗証番号: 4 digits, 3 tries. It unlocks the My Number
	// and the basic 4 facts of the 券面事項入力補助AP.
	PINSupport
)

// PINs lists the PINs in display order.
var PINs = []PIN{PINAuth, PINSign, PINSupport}

// String returns "auth PIN", "signing password" or "support PIN".
func (p PIN) String() string {
	switch p {
	case PINAuth:
		return "auth PIN"
	case PINSign:
		return "signing password"
	case PINSupport:
		return "support PIN"
	}
	return fmt.Sprintf("PIN(%d)", int(p))
}

// Name returns the short name used in flags and JSON: auth, sign or support.
func (p PIN) Name() string {
	switch p {
	case PINAuth:
		return "auth"
	case PINSign:
		return "sign"
	case PINSupport:
		return "support"
	}
	return fmt.Sprintf("pin%d", int(p))
}

// MaxTries returns the retry limit the card sets for the PIN.
func (p PIN) MaxTries() int {
	switch p {
	case PINAuth:
		return jpki.AuthPINTries
	case PINSign:
		return jpki.SignPINTries
	case PINSupport:
		return jpki.SupportPINTries
	}
	return 0
}

// location returns the application and the IEF of the PIN.
func (p PIN) location() (aid []byte, ef uint16) {
	switch p {
	case PINAuth:
		return jpki.AIDJPKI, jpki.EFAuthPIN
	case PINSign:
		return jpki.AIDJPKI, jpki.EFSignPIN
	case PINSupport:
		return jpki.AIDSupport, jpki.EFSupportPIN
	}
	return nil, 0
}

// Normalize checks value against the form the card accepts and returns the bytes to send: the
// 4-digit PINs as they are; the signing password upper-cased (the card's alphabet is A–Z and
// 0–9 only, so a holder typing lower case means upper case). A malformed value fails with
// ReasonInvalidPIN before the card is asked, so it never costs a try.
func (p PIN) Normalize(value string) (string, error) {
	bad := func(why string) error {
		return &Error{Reason: ReasonInvalidPIN, PIN: p, Detail: why}
	}
	switch p {
	case PINAuth, PINSupport:
		if len(value) != 4 || strings.Trim(value, "0123456789") != "" {
			return "", bad("must be 4 digits")
		}
		return value, nil
	case PINSign:
		v := strings.ToUpper(value)
		if len(v) < 6 || len(v) > 16 || strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return "", bad("must be 6 to 16 letters A-Z and digits")
		}
		return v, nil
	}
	return "", bad("unknown PIN")
}

// ParsePIN parses auth, sign or support.
func ParsePIN(s string) (PIN, bool) {
	for _, p := range PINs {
		if p.Name() == s {
			return p, true
		}
	}
	return 0, false
}

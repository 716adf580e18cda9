package card

import (
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/mynagate/mynagate/jpki"
)

// pinObj is a PIN IEF: the value and counter live in the card file (or, for the collation
// numbers that the card file does not hold, in memory).
type pinObj struct {
	p          *jpki.PIN
	rule       string // CheckPIN name for CHANGE REFERENCE DATA; "" = not changeable
	persistent bool   // counter lives in the card file and is saved after each change
	// blocked marks a key reference that was blocked at issuance (入力補助AP 0012, the JPKI
	// AP's 001B on a card without a signing certificate): query answers 63C0, VERIFY 6984,
	// whatever the counter.
	blocked bool
	// minLen and maxLen are the lengths the key accepts; VERIFY with another length answers
	// 6700 without spending a try.
	minLen, maxLen int
	// collation names the counter in CardFile.CollationTries that mirrors p.Tries; "" for
	// the PINs that have their own place in the card file.
	collation string
}

// fits reports whether a PIN of n bytes has a length the key accepts.
func (o *pinObj) fits(n int) bool { return n >= o.minLen && n <= o.maxLen }

// Names of the card's PINs, as ResetPIN and CheckPIN take them.
const (
	PINAuth    = "auth"    // 利用者証明用電子証明書暗証番号: 4 digits, 3 tries
	PINSign    = "sign"    // 署名用電子証明書パスワード: 6–16 of A–Z 0–9, a letter and a digit, 5 tries
	PINSupport = "support" // 券面事項入力補助用暗証番号: 4 digits, 3 tries
	PINJuki    = "juki"    // 住民基本台帳用暗証番号: 4 digits, 3 tries
)

// CheckPIN reports whether pin satisfies the card's format rule for the named PIN (REFERENCE
// §4): the signing password is 6 to 16 characters of A–Z and 0–9 with at least one letter and
// one digit; the other PINs are 4 digits. Errors wrap ErrPINFormat or ErrUnknownPIN.
func CheckPIN(which, pin string) error {
	switch which {
	case PINAuth, PINSupport, PINJuki:
		if len(pin) != 4 || strings.Trim(pin, "0123456789") != "" {
			return fmt.Errorf("%w: the %s PIN must be 4 digits", ErrPINFormat, which)
		}
		return nil
	case PINSign:
		if len(pin) < 6 || len(pin) > 16 || strings.Trim(pin, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return fmt.Errorf("%w: the signing password must be 6 to 16 characters of A-Z and 0-9", ErrPINFormat)
		}
		if !strings.ContainsAny(pin, "0123456789") || strings.Trim(pin, "0123456789") == "" {
			return fmt.Errorf("%w: the signing password must mix letters and digits", ErrPINFormat)
		}
		return nil
	}
	return fmt.Errorf("%w %q (want auth, sign, support or juki)", ErrUnknownPIN, which)
}

// ResetPIN sets a new PIN and restores its retry counter, as the municipal office does for a
// holder who forgot or blocked it. The caller saves the card file.
func ResetPIN(cf *jpki.CardFile, which string, newPIN string) error {
	if err := CheckPIN(which, newPIN); err != nil {
		return err
	}
	p, def, err := pinOf(cf, which)
	if err != nil {
		return err
	}
	p.Value = newPIN
	if p.MaxTries <= 0 {
		p.MaxTries = def
	}
	p.Tries = p.MaxTries
	return nil
}

// pinOf returns the named PIN of the card file and its default number of tries.
func pinOf(cf *jpki.CardFile, which string) (*jpki.PIN, int, error) {
	switch which {
	case PINAuth:
		if cf.Auth == nil {
			return nil, 0, fmt.Errorf("%w: the card has no authentication key", ErrUnknownPIN)
		}
		return &cf.Auth.PIN, jpki.AuthPINTries, nil
	case PINSign:
		if cf.Sign == nil {
			return nil, 0, fmt.Errorf("%w: the card has no signing certificate", ErrUnknownPIN)
		}
		return &cf.Sign.PIN, jpki.SignPINTries, nil
	case PINSupport:
		return &cf.SupportPIN, jpki.SupportPINTries, nil
	case PINJuki:
		return &cf.JukiPIN, jpki.JukiPINTries, nil
	}
	return nil, 0, fmt.Errorf("%w %q (want auth, sign, support or juki)", ErrUnknownPIN, which)
}

// normalise gives a PIN that was written without a counter (MaxTries 0) the card's default,
// and keeps Tries within 0..MaxTries.
func normalise(p *jpki.PIN, def int) {
	if p.MaxTries <= 0 {
		p.MaxTries, p.Tries = def, def
	}
	p.Tries = max(0, min(p.Tries, p.MaxTries))
}

// matches compares in constant time (for equal lengths).
func (o *pinObj) matches(given []byte) bool {
	return subtle.ConstantTimeCompare([]byte(o.p.Value), given) == 1
}

// usable reports whether the PIN can be verified at all.
func (o *pinObj) usable() bool { return !o.blocked && o.p.Value != "" && o.p.Tries > 0 }

func (o *pinObj) triesLeft() int {
	if o.blocked || o.p.Value == "" {
		return 0
	}
	return o.p.Tries
}

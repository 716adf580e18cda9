package platform

import (
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/mynagate/mynagate/jpki"
)

// The "IC chip reading" verification (PurposeChipReading, docs/design/chip-reading.md): the
// holder's app reads the 券面事項入力補助AP's basic 4 facts (EF 0002), its signature record
// (EF 0003: digests of the individual number and of the facts, signed by the AP key) and the AP
// certificate (EF 0004), and sends them with the session's challenge echoed. The platform checks
// the facts against their digest, the digests' signature with the AP key, and the AP
// certificate with a card-AP CA key the operator configured (WithCardAPCAs). The individual
// number itself is never sent: the signature covers its digest, which the record carries.

// WithCardAPCAs trusts the card-AP certification authorities whose keys certify the cards' AP
// keys (`mynagate jlis ca --ca card-ap` for the simulator). They are pinned by the operator, not
// fetched: without one, sessions of PurposeChipReading are refused. It replaces the keys of an
// earlier WithCardAPCAs.
func WithCardAPCAs(keys ...*rsa.PublicKey) Option {
	return func(p *Platform) { p.cardAPCAs = keys }
}

// ChipReadingEnabled reports whether the platform accepts chip-reading sessions.
func (p *Platform) ChipReadingEnabled() bool { return len(p.cardAPCAs) > 0 }

// CardData is what the holder's app read from the 券面事項入力補助AP, each file as read (its
// filler may follow the record; no file may exceed its physical size).
type CardData struct {
	Basic4    []byte // EF 0002: the basic 4 facts
	Signature []byte // EF 0003: DF 31 and DF 32 digests, DF 33 the AP key's signature
	Cert      []byte // EF 0004: the AP certificate, signed by the card-AP CA
}

// checkAnswerShape refuses an answer whose shape does not fit the session's purpose, before
// anything is verified or recorded (a holder's app that sent the wrong kind may try again).
func checkAnswerShape(s *Session, a Answer) error {
	if s.Purpose == PurposeChipReading {
		if a.CardData == nil || len(a.Certificate) > 0 || len(a.Signature) > 0 {
			return newError(KindInvalid, "invalid-request", "session %s is a chip reading: answer with card_data and the challenge, not a certificate and signature", s.ID)
		}
		for _, f := range []struct {
			name string
			b    []byte
			max  int
		}{{"card_data.basic4", a.CardData.Basic4, jpki.SupportBasic4Size}, {"card_data.signature", a.CardData.Signature, jpki.SupportSignatureSize}, {"card_data.certificate", a.CardData.Cert, jpki.SupportCertSize}} {
			if len(f.b) == 0 || len(f.b) > f.max {
				return newError(KindInvalid, "invalid-request", "%s is %d bytes; the card's file holds 1 to %d", f.name, len(f.b), f.max)
			}
		}
		if len(a.Challenge) == 0 {
			return newError(KindInvalid, "invalid-request", "a chip reading echoes the session's challenge (challenge, base64)")
		}
		return nil
	}
	if a.CardData != nil || len(a.Challenge) > 0 {
		return newError(KindInvalid, "invalid-request", "session %s is for %s: answer with a certificate and a signature, not card data", s.ID, s.Purpose)
	}
	if len(a.Certificate) == 0 || len(a.Signature) == 0 {
		return newError(KindInvalid, "invalid-request", "certificate and signature are required (base64)")
	}
	return nil
}

// checkChip verifies a chip reading's card data; it fills v's facts. The answer must echo this
// session's challenge: that refuses an answer recorded for another session and replayed here,
// though it proves nothing about the card (the card signs nothing; whoever holds a copy of the
// data can build a fresh answer — the reason this method is weaker).
func (p *Platform) checkChip(s *Session, a Answer, v *Verification) *Error {
	if subtle.ConstantTimeCompare(a.Challenge, s.Challenge()) != 1 {
		return newError(KindRejected, "challenge-mismatch", "the answer echoes another challenge than session %s's: an answer made for another session", s.ID)
	}
	var last error
	for _, ca := range p.cardAPCAs {
		b4, err := jpki.VerifySupportBasic4(a.CardData.Basic4, a.CardData.Signature, a.CardData.Cert, ca)
		if err == nil {
			v.Basic4 = &b4
			return nil
		}
		last = err
		if !errors.Is(err, jpki.ErrCardAPUntrusted) {
			break // the same answer with another CA key fails the same way
		}
	}
	typ := "card-data-malformed"
	switch {
	case errors.Is(last, jpki.ErrCardDataDigest):
		typ = "card-data-tampered"
	case errors.Is(last, jpki.ErrCardDataSignature):
		typ = "card-signature-invalid"
	case errors.Is(last, jpki.ErrCardAPUntrusted):
		typ = "card-ap-untrusted"
	case !errors.Is(last, jpki.ErrCardDataMalformed):
		return internal(fmt.Errorf("chip reading of session %s: %w", s.ID, last))
	}
	return &Error{Kind: KindRejected, Type: typ, Detail: last.Error()}
}

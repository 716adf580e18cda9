// Package manifest is the signed document a gate takes offline: the tickets of an event with a
// commitment to each holder, the rotating-code key, the J-LIS authentication CA certificates and
// a CRL snapshot, signed with the ticket service's Ed25519 key. It is shared by the ticket
// service, which builds and signs manifests, and package gate, which opens them; it imports
// nothing of the project so that the ticket service may use it without the verifier.
//
// The format is JSON inside a signed envelope:
//
//	{"format":"mynagate-gate-manifest-v1","payload":"<base64 of the manifest JSON>","key_id":"…","signature":"<base64>"}
//
// The signature is Ed25519 over "mynagate-gate-manifest-v1" 0x00 payload, so the bytes that were
// signed are the bytes that are parsed (no canonicalisation). Ed25519 from the standard library
// is used because manifests are signed rarely and verified on small devices; nothing here is
// written by hand but the envelope.
package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Format names the envelope and the signing context.
const Format = "mynagate-gate-manifest-v1"

// MaxSize bounds an envelope (tickets of a stadium, CA certificates, CRL snapshots).
const MaxSize = 256 << 20

// Ticket is one ticket as the gate needs it.
type Ticket struct {
	ID string `json:"id"`
	// Event is the ticket's event; a manifest may carry the tickets of sibling events at the same
	// venue so that the gate can say "wrong event" rather than "unknown ticket".
	Event string `json:"event"`
	// Day is the event day, YYYY-MM-DD in JST; entry on another day is refused.
	Day        string `json:"day"`
	Generation int64  `json:"generation"`
	Seat       string `json:"seat"`
	// Status is valid, cancelled, listed (on official resale) or reverify (the holder's card was
	// revoked and they have not verified again).
	Status string `json:"status"`
	// Holder is the holder commitment (see Commit); empty when the ticket service has none, in
	// which case the ticket can be admitted by code only where the event allows it.
	Holder string `json:"holder,omitempty"`
	// Former are the commitments of earlier holders (before official resales).
	Former []string `json:"former,omitempty"`
	// Name is the holder's name, only when the staff view shows it.
	Name string `json:"name,omitempty"`
	// Admitted is set when the ticket was admitted before the manifest was made.
	Admitted bool `json:"admitted,omitempty"`
}

// Manifest is the signed content.
type Manifest struct {
	Event     string    `json:"event"`
	EventName string    `json:"event_name,omitempty"`
	IssuedAt  time.Time `json:"issued_at"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// RequireCard refuses a code shown without a card tap (identity-checked events).
	RequireCard bool `json:"require_card"`
	// CommitKey keys the holder commitments of this manifest (fresh per manifest).
	CommitKey []byte `json:"commit_key"`
	// CardKey is the ticket service's card key from the platform (see CardID); absent when the
	// manifest has no holder commitments.
	CardKey []byte `json:"card_key,omitempty"`
	// CodeKey is the ticket service's rotating-code key.
	CodeKey []byte   `json:"code_key"`
	Tickets []Ticket `json:"tickets"`
	// CACerts are the DER J-LIS authentication CA certificates taps chain to.
	CACerts [][]byte `json:"ca_certs"`
	// CRLs are DER CRLs of those CAs, the revocation snapshot.
	CRLs [][]byte `json:"crls"`
}

type envelope struct {
	Format    string `json:"format"`
	Payload   []byte `json:"payload"`
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"`
}

// KeyID names an Ed25519 public key: the first 8 bytes of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return fmt.Sprintf("%x", s[:8])
}

func signed(payload []byte) []byte {
	return append([]byte(Format+"\x00"), payload...)
}

// Sign marshals and signs m.
func Sign(m *Manifest, key ed25519.PrivateKey) ([]byte, error) {
	p, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("manifest: marshal: %w", err)
	}
	return json.Marshal(envelope{Format: Format, Payload: p, KeyID: KeyID(key.Public().(ed25519.PublicKey)), Signature: ed25519.Sign(key, signed(p))})
}

// Problem says why a manifest was refused.
type Problem string

// Problems.
const (
	Malformed    Problem = "manifest-malformed"
	Unsigned     Problem = "manifest-unsigned"
	BadSignature Problem = "manifest-bad-signature"
	WrongEvent   Problem = "manifest-wrong-event"
	Stale        Problem = "manifest-stale"
	NotYetValid  Problem = "manifest-not-yet-valid"
)

// Error is a refused manifest.
type Error struct {
	Problem Problem
	Detail  string
}

func (e *Error) Error() string { return "manifest refused (" + string(e.Problem) + "): " + e.Detail }

func refuse(p Problem, format string, a ...any) error {
	return &Error{Problem: p, Detail: fmt.Sprintf(format, a...)}
}

// ProblemOf returns the Problem of a refusal.
func ProblemOf(err error) (Problem, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Problem, true
	}
	return "", false
}

// Open checks an envelope against the ticket service's public key, the event the gate serves and
// the time, and returns the manifest. A manifest is refused unless it is signed by pub, is for
// event, and now lies within [NotBefore, NotAfter].
func Open(data []byte, pub ed25519.PublicKey, event string, now time.Time) (*Manifest, error) {
	if len(data) > MaxSize {
		return nil, refuse(Malformed, "%d bytes, more than %d", len(data), MaxSize)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("manifest: the ticket service's public key is not an Ed25519 key")
	}
	var env envelope
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&env); err != nil {
		return nil, refuse(Malformed, "not a manifest envelope: %v", err)
	}
	if env.Format != Format {
		return nil, refuse(Malformed, "format %q, want %q", env.Format, Format)
	}
	if len(env.Signature) == 0 {
		return nil, refuse(Unsigned, "the manifest carries no signature")
	}
	if !ed25519.Verify(pub, signed(env.Payload), env.Signature) {
		return nil, refuse(BadSignature, "the signature does not verify with the ticket service's key %s (signed by %q)", KeyID(pub), env.KeyID)
	}
	var m Manifest
	d = json.NewDecoder(bytes.NewReader(env.Payload))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return nil, refuse(Malformed, "payload: %v", err)
	}
	if m.Event != event {
		return nil, refuse(WrongEvent, "the manifest is for event %q, this gate serves %q", m.Event, event)
	}
	if now.Before(m.NotBefore) {
		return nil, refuse(NotYetValid, "valid from %s", m.NotBefore.Format(time.RFC3339))
	}
	if now.After(m.NotAfter) {
		return nil, refuse(Stale, "expired at %s", m.NotAfter.Format(time.RFC3339))
	}
	if len(m.CommitKey) < 16 {
		return nil, refuse(Malformed, "commit key shorter than 16 bytes")
	}
	if len(m.CardKey) < 16 {
		for _, t := range m.Tickets {
			if t.Holder != "" || len(t.Former) > 0 {
				return nil, refuse(Malformed, "holder commitments without a card key of at least 16 bytes")
			}
		}
	}
	return &m, nil
}

// Who holds a ticket (docs/design/gate.md, "Who is the holder"): the platform gives the ticket
// service, for a login verification, the tenant's card id of the holder's authentication
// certificate, and the tenant its card key (GET /v1/tenant/card-key), which the manifest
// carries (CardKey); the gate computes the same card id from the certificate a card presents.
// The manifest does not carry card ids but commitments to them under a key of its own
// (CommitKey, fresh per manifest), so that one person's entries in two manifests cannot be
// linked without a card.

// CardID is the platform's card id of an authentication certificate (DER) under a tenant's card
// key: base64url(HMAC-SHA256(cardKey, "mynagate-card-id-v1" 0x00 SHA-256(certificate DER))),
// no padding. The platform computes the same (platform/cardid.go; a test of internal/e2e holds
// the two together).
func CardID(cardKey, certDER []byte) string {
	fp := sha256.Sum256(certDER)
	m := hmac.New(sha256.New, cardKey)
	m.Write([]byte("mynagate-card-id-v1\x00"))
	m.Write(fp[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CommitCard is the holder commitment of a card id for a manifest: base64url of the first 16
// bytes of HMAC-SHA256(commitKey, "mynagate-gate-holder-v2" 0x00 card id).
func CommitCard(commitKey []byte, cardID string) string {
	m := hmac.New(sha256.New, commitKey)
	m.Write([]byte("mynagate-gate-holder-v2\x00"))
	m.Write([]byte(cardID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Commit is the holder commitment of a certificate fingerprint, for a manifest without a card
// key: base64url of the first 16 bytes of HMAC-SHA256(commitKey, "mynagate-gate-holder-v1" 0x00
// SHA-256(certificate DER)). A kiosk's roster (package gate/kiosk), which enrolls cards itself
// rather than through the platform, commits to its people so.
func Commit(commitKey []byte, certFingerprint [32]byte) string {
	m := hmac.New(sha256.New, commitKey)
	m.Write([]byte("mynagate-gate-holder-v1\x00"))
	m.Write(certFingerprint[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// HolderOf is the commitment of the card that presents certificate certDER in m:
// CommitCard(m.CommitKey, CardID(m.CardKey, certDER)), or without a card key
// Commit(m.CommitKey, SHA-256(certDER)).
func (m *Manifest) HolderOf(certDER []byte) string {
	if len(m.CardKey) == 0 {
		return Commit(m.CommitKey, sha256.Sum256(certDER))
	}
	return CommitCard(m.CommitKey, CardID(m.CardKey, certDER))
}

// CodeMAC is the MAC of the ticket service's rotating codes (docs/design/ticket.md): the first
// 16 bytes of HMAC-SHA256(key, "mynagate-ticket-code-v1" 0x00 ticket 0x00 generation step),
// base64url.
func CodeMAC(key []byte, ticketID string, generation, step int64) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("mynagate-ticket-code-v1\x00"))
	m.Write([]byte(ticketID))
	m.Write([]byte{0})
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(generation))
	binary.BigEndian.PutUint64(b[8:], uint64(step))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

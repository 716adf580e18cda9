// Package webhook signs and verifies webhook messages under the Standard Webhooks scheme: the
// headers webhook-id, webhook-timestamp and webhook-signature, where a signature is "v1," +
// base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)) and a secret is "whsec_" + base64 of
// the key.
//
// It owns the wire format of a signed message and nothing else: which events exist and when they
// are sent (package platform), how they are queued (package store) and how a relying party
// reacts to them are not its concern. It does no I/O, reads no clock (the time is a parameter)
// and takes randomness as an io.Reader. Relying parties can use Verifier as it is; the platform
// uses Sign.
//
// Why not a library: the scheme is an HMAC over three strings, and the one Go implementation
// (github.com/standard-webhooks/standard-webhooks/libraries/go) verifies against the real clock
// and takes one secret at a time, where rotation needs two.
//
// [Standard Webhooks]: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers.
const (
	// HeaderID carries the message id: the same on every retry of one event, so receivers
	// deduplicate on it.
	HeaderID = "webhook-id"
	// HeaderTimestamp carries the time of the attempt, in integer seconds since 1970.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature carries one or more space-separated "v1,<base64>" signatures: during a
	// secret rotation the message is signed with both secrets.
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret, so that a leaked one is recognisable by secret scanners.
const SecretPrefix = "whsec_"

// KeySize is the size in bytes of the keys NewSecret makes (the scheme allows 24 to 64).
const KeySize = 32

// DefaultTolerance is how far a message's timestamp may be from the receiver's clock (the
// scheme's recommendation), which bounds replays.
const DefaultTolerance = 5 * time.Minute

// NewSecret returns a new secret: "whsec_" + base64 of KeySize bytes from r.
func NewSecret(r io.Reader) (string, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(r, key); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return FormatSecret(key), nil
}

// FormatSecret returns the secret text of a key.
func FormatSecret(key []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// ParseSecret returns the key of a secret. The "whsec_" prefix is optional (some senders omit
// it); the key must be 24 to 64 bytes.
func ParseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix))
	if err != nil {
		return nil, &Error{Reason: ReasonBadSecret, Detail: "the secret is not whsec_ + base64"}
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, &Error{Reason: ReasonBadSecret, Detail: fmt.Sprintf("the key is %d bytes, want 24 to 64", len(key))}
	}
	return key, nil
}

// Sign returns the v1 signature of a message: "v1," + base64(HMAC-SHA256(key, id.ts.body)).
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body))
}

func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, id)
	io.WriteString(m, ".")
	io.WriteString(m, strconv.FormatInt(ts, 10))
	io.WriteString(m, ".")
	m.Write(body)
	return m.Sum(nil)
}

// SetHeaders sets the three headers of a message signed with every key (in order; during a
// rotation the new key and the old one).
func SetHeaders(h http.Header, keys [][]byte, id string, ts time.Time, body []byte) {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = Sign(k, id, ts, body)
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
}

// Reason says why a message was refused.
type Reason int

// Reasons a message is refused.
const (
	// ReasonMissingHeader: webhook-id, webhook-timestamp or webhook-signature is absent.
	ReasonMissingHeader Reason = iota + 1
	// ReasonBadTimestamp: webhook-timestamp is not an integer.
	ReasonBadTimestamp
	// ReasonStale: the timestamp is further from now than the tolerance (a replay, or a clock
	// that is off).
	ReasonStale
	// ReasonNoMatch: no v1 signature matches any of the secrets (a forgery, a changed body, or
	// the wrong secret).
	ReasonNoMatch
	// ReasonBadSecret: a secret given to NewVerifier or ParseSecret is not a valid secret.
	ReasonBadSecret
)

var reasonNames = map[Reason]string{
	ReasonMissingHeader: "missing-header",
	ReasonBadTimestamp:  "bad-timestamp",
	ReasonStale:         "stale",
	ReasonNoMatch:       "no-matching-signature",
	ReasonBadSecret:     "bad-secret",
}

// String returns the stable name of r.
func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Error is a refused message or secret. Compare with errors.Is against the sentinels, or
// errors.As and Reason.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "webhook: " + e.Reason.String()
	}
	return "webhook: " + e.Reason.String() + ": " + e.Detail
}

// Is reports whether target is an *Error of the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// LogValue logs the reason and detail as attributes.
func (e *Error) LogValue() slog.Value {
	return slog.GroupValue(slog.String("reason", e.Reason.String()), slog.String("detail", e.Detail))
}

// Sentinels for errors.Is. A receiver answers every one of them with 400 (or 401) and does not
// process the message; the sender retries, which helps only against ReasonStale caused by a
// clock that was off.
var (
	ErrMissingHeader = &Error{Reason: ReasonMissingHeader}
	ErrBadTimestamp  = &Error{Reason: ReasonBadTimestamp}
	ErrStale         = &Error{Reason: ReasonStale}
	ErrNoMatch       = &Error{Reason: ReasonNoMatch}
	ErrBadSecret     = &Error{Reason: ReasonBadSecret}
)

// Verifier checks signed messages against one or more secrets (several while the sender
// rotates). It is safe for concurrent use.
type Verifier struct {
	keys      [][]byte
	tolerance time.Duration
}

// NewVerifier returns a verifier for messages signed with any of the secrets, with the default
// tolerance.
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, &Error{Reason: ReasonBadSecret, Detail: "no secret given"}
	}
	v := &Verifier{tolerance: DefaultTolerance}
	for _, s := range secrets {
		k, err := ParseSecret(s)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, k)
	}
	return v, nil
}

// WithTolerance returns a copy of v that accepts timestamps up to d away from now.
func (v *Verifier) WithTolerance(d time.Duration) *Verifier {
	c := *v
	c.tolerance = d
	return &c
}

// Message is a verified message.
type Message struct {
	ID        string    // webhook-id
	Timestamp time.Time // webhook-timestamp
}

// Verify checks the headers of a message with body against the secrets at time now: all three
// headers present, the timestamp within the tolerance of now, and at least one v1 signature
// made with one of the secrets (compared in constant time). Signatures of other versions are
// ignored, as the scheme asks.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) (*Message, error) {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return nil, &Error{Reason: ReasonMissingHeader, Detail: "want webhook-id, webhook-timestamp and webhook-signature"}
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return nil, &Error{Reason: ReasonBadTimestamp, Detail: fmt.Sprintf("%q is not integer seconds", tsText)}
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > v.tolerance || d < -v.tolerance {
		return nil, &Error{Reason: ReasonStale, Detail: fmt.Sprintf("timestamp %s is %s from now", at.UTC().Format(time.RFC3339), d.Round(time.Second))}
	}
	for _, k := range v.keys {
		want := mac(k, id, ts, body)
		for _, s := range strings.Fields(sigs) {
			b64, ok := strings.CutPrefix(s, "v1,")
			if !ok {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && subtle.ConstantTimeCompare(got, want) == 1 {
				return &Message{ID: id, Timestamp: at.UTC()}, nil
			}
		}
	}
	return nil, &Error{Reason: ReasonNoMatch, Detail: "no v1 signature matches the secret"}
}

// IsWebhookError reports whether err is a refusal of this package (and not, say, an I/O error
// reading the body).
func IsWebhookError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

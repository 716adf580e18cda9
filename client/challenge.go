package client

// The holder's check of a challenge before the card signs it (docs/design/challenge.md).
//
// A holder's app is pointed at a URL (a QR code, a link) and signs what that URL serves with the
// card's signing key — the key of legally binding e-signatures — or its authentication key. So
// the app must not sign whatever it is given: a fake platform would get a signature over a text
// of its choosing, and another site could relay a login challenge of the real platform. The
// challenge therefore says, in a canonical text form, which platform (origin) and session it
// belongs to, for which purpose (and so which key), until when, and for which tenant; CheckChallenge
// compares all of it with the URL the holder was given before the card is touched.
//
// The format itself (eight LF-terminated "key=value" lines with one encoding) is package
// challenge's, shared with the platform that writes it.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mynagate/mynagate/cades"
	"github.com/mynagate/mynagate/challenge"
)

// ChallengeDomain is the first line of every challenge.
const ChallengeDomain = challenge.Domain

// MaxTenantName bounds the tenant display name a challenge carries, in bytes of UTF-8.
const MaxTenantName = challenge.MaxTenantName

// ChallengeFields is a parsed challenge.
type ChallengeFields = challenge.Fields

// EncodeChallenge writes a challenge in its canonical form, as the platform does (both use
// package challenge); it is for tests and for other implementations to compare against.
func EncodeChallenge(f ChallengeFields) []byte { return challenge.Encode(f) }

// ParseChallenge parses a challenge, refusing anything but the one canonical encoding.
func ParseChallenge(b []byte) (*ChallengeFields, error) {
	f, err := challenge.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return f, nil
}

// Origin returns the origin of an http(s) URL as a challenge states it: scheme "://" host
// [":" port], in lower case, without the scheme's default port.
func Origin(raw string) (string, error) {
	o, err := challenge.Origin(raw)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	return o, nil
}

// ChallengeCheck is what a challenge must match before the card signs it.
type ChallengeCheck struct {
	// HolderURL is the URL the holder was given (the QR payload): the challenge must name its
	// origin and session.
	HolderURL string
	// Purpose is the purpose of the key about to sign: identity (the signing key) or login (the
	// authentication key). Empty takes the challenge's purpose, and the caller then MUST choose
	// the key from ChallengeFields.Purpose.
	Purpose string
	// Now is the holder's clock reading; the challenge must not have expired.
	Now time.Time
	// PlatformKey, when set, pins the platform: the challenge must carry its Ed25519 signature.
	PlatformKey ed25519.PublicKey
}

// Errors of CheckChallenge, wrapped with the details.
var (
	ErrChallengeForeign  = errors.New("not a challenge of the platform the holder URL names")
	ErrChallengeExpired  = errors.New("the challenge has expired")
	ErrChallengePurpose  = errors.New("the challenge is for another purpose than the key to sign with")
	ErrChallengeUnsigned = errors.New("the challenge is not signed by the pinned platform key")
)

// CheckChallenge checks a challenge the platform served for the session of HolderURL, before
// anything is signed: the canonical form and domain, the platform's origin and the session id
// against the URL, the purpose against the key to be used (and against the purpose the
// platform's JSON names), the expiry against the holder's clock, and with a pinned key the
// platform's signature. It returns the parsed challenge; show its tenant with DisplayName.
func CheckChallenge(ch *Challenge, c ChallengeCheck) (*ChallengeFields, error) {
	base, id, _, err := ParseHolderURL(c.HolderURL)
	if err != nil {
		return nil, err
	}
	origin, err := Origin(base)
	if err != nil {
		return nil, err
	}
	f, err := ParseChallenge(ch.Challenge)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChallengeForeign, err)
	}
	if f.Origin != origin {
		return nil, fmt.Errorf("client: %w: it is for %s, the holder URL is of %s (a relayed or forged challenge)", ErrChallengeForeign, f.Origin, origin)
	}
	if f.SessionID != id || ch.ID != id {
		return nil, fmt.Errorf("client: %w: it is for session %q, the holder URL is for %q", ErrChallengeForeign, f.SessionID, id)
	}
	if ch.Purpose != f.Purpose {
		return nil, fmt.Errorf("client: %w: the platform says %q, the challenge says %q", ErrChallengePurpose, ch.Purpose, f.Purpose)
	}
	if c.Purpose != "" && c.Purpose != f.Purpose {
		return nil, fmt.Errorf("client: %w: the key to sign with is for %s, the challenge is for %s", ErrChallengePurpose, c.Purpose, f.Purpose)
	}
	if c.Now.IsZero() {
		return nil, errors.New("client: CheckChallenge needs the holder's clock reading (ChallengeCheck.Now)")
	}
	if !c.Now.Before(f.ExpiresAt) {
		return nil, fmt.Errorf("client: %w: it expired at %s", ErrChallengeExpired, f.ExpiresAt.Format(time.RFC3339))
	}
	if c.PlatformKey != nil {
		if len(c.PlatformKey) != ed25519.PublicKeySize || !ed25519.Verify(c.PlatformKey, ch.Challenge, ch.PlatformSignature) {
			return nil, fmt.Errorf("client: %w", ErrChallengeUnsigned)
		}
	}
	return f, nil
}

// DisplayName is a tenant name made safe to show on a terminal or screen: control characters
// (C0, DEL, C1, so no escape sequences), bidirectional overrides, zero-width and other format
// characters, and line or paragraph separators become U+FFFD; the result is at most 64
// characters, ending with "…" when cut.
func DisplayName(s string) string {
	const maxRunes = 64
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxRunes {
			b.WriteRune('…')
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) ||
			unicode.Is(unicode.Zp, r) || unicode.Is(unicode.Co, r) || unicode.Is(unicode.Cs, r) {
			r = '\uFFFD'
		}
		b.WriteRune(r)
		n++
	}
	if b.Len() == 0 {
		return "(unnamed service)"
	}
	return b.String()
}

// ParsePlatformKey reads a pinned platform key: the 32-byte Ed25519 public key in base64, as
// `mynagate serve` prints it, optionally prefixed "ed25519:".
func ParsePlatformKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "ed25519:"))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("client: platform key %q is not a 32-byte Ed25519 public key in base64", s)
	}
	return ed25519.PublicKey(b), nil
}

// ErrSessionNotPending is returned by HolderChallenge for a session that is no longer waiting
// for the holder (verified, rejected or expired).
var ErrSessionNotPending = errors.New("the session is not waiting for the holder")

// CheckedChallenge is a challenge that passed CheckChallenge. Its bytes are kept unexported:
// the card signs them only through its Sign method, so a challenge the client has not checked
// cannot reach the card through this package.
type CheckedChallenge struct {
	Fields ChallengeFields // the checked challenge; show Fields.TenantName with DisplayName
	// Facts are the basic 4 facts the tenant may receive, as the platform's JSON says
	// (identity sessions), to tell the holder.
	Facts     []string
	SessionID string
	Token     string
	msg       []byte
}

// Bytes returns a copy of the exact challenge bytes that Sign signs.
func (c *CheckedChallenge) Bytes() []byte { return bytes.Clone(c.msg) }

// Sign signs the checked challenge with a card's key: SHA-256 of the exact bytes,
// RSASSA-PKCS1-v1_5 (the card adds the padding to the DigestInfo). Choose the key from
// Fields.Purpose: the signing key for identity, the authentication key for login.
//
// A document-signing challenge (Fields.Signing) is answered with a signature over the CAdES
// signed attributes of the document's SHA-256 (cades.ChallengeAttributes: the signing time the
// challenge states, the signer's certificate, the challenge itself), which the platform builds
// again and assembles into the relying party's CMS. The signer must then also tell its
// certificate (a Certificate() *x509.Certificate method, as reader.Signer has).
func (c *CheckedChallenge) Sign(signer crypto.Signer) ([]byte, error) {
	if c == nil || len(c.msg) == 0 {
		return nil, errors.New("client: no checked challenge to sign")
	}
	if c.Fields.Purpose == "chip_reading" {
		return nil, fmt.Errorf("client: %w: a chip_reading challenge is answered with the card's data (AnswerCardData), never signed", ErrChallengePurpose)
	}
	if !c.Fields.Signing() {
		return signBytes(signer, c.msg)
	}
	cs, ok := signer.(interface{ Certificate() *x509.Certificate })
	if !ok || cs.Certificate() == nil {
		return nil, errors.New("client: a document signature needs the signer's certificate")
	}
	attrs, err := cades.ChallengeAttributes(c.Fields.DocumentSHA256, cs.Certificate(), c.Fields.SigningTime, c.msg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return signBytes(signer, attrs)
}

// HolderChallenge is the holder's fetch of a session's challenge: it reads the session named
// by check.HolderURL from this client's platform and checks the challenge with CheckChallenge
// (origin, session, purpose, expiry on check.Now, pinned key) before returning anything that
// can be signed. The client's base URL must be the holder URL's platform.
func (c *Client) HolderChallenge(ctx context.Context, check ChallengeCheck) (*CheckedChallenge, error) {
	base, id, token, err := ParseHolderURL(check.HolderURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimRight(base, "/") != c.base {
		return nil, fmt.Errorf("client: %w: the holder URL is of %s, this client is for %s", ErrChallengeForeign, base, c.base)
	}
	ch, err := c.FetchUncheckedChallenge(ctx, id, token)
	if err != nil {
		return nil, err
	}
	if ch.Status != "pending" {
		return nil, fmt.Errorf("client: %w: session %s is %s; ask the service for a new one", ErrSessionNotPending, id, ch.Status)
	}
	f, err := CheckChallenge(ch, check)
	if err != nil {
		return nil, err
	}
	return &CheckedChallenge{Fields: *f, Facts: ch.Facts, SessionID: id, Token: token, msg: bytes.Clone(ch.Challenge)}, nil
}

// ConsentChallengeDomain is the first line of the platform's challenge for the holder's consent
// requests (POST /v1/holder/consents/challenge).
const ConsentChallengeDomain = "mynagate-holder-challenge/v1"

// ConsentChallenge is a consent challenge that passed CheckConsentChallenge; its bytes are
// unexported, and the client signs them only inside the holder's consent requests.
type ConsentChallenge struct {
	Origin    string
	ExpiresAt time.Time
	msg       []byte
}

// CheckConsentChallenge checks a consent challenge served by the platform at platformURL
// before the card signs a request over it: the canonical form ("mynagate-holder-challenge/v1",
// origin, purpose, expires, nonce, mac lines), the origin equal to platformURL's, the purpose
// "consents" (the authentication key; never a session challenge), the expiry equal to the JSON's
// and after now.
func CheckConsentChallenge(platformURL string, b []byte, jsonExpires, now time.Time) (*ConsentChallenge, error) {
	origin, err := Origin(platformURL)
	if err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("client: %w: not a mynagate consent challenge: "+fmt.Sprintf(format, a...), ErrChallengeForeign)
	}
	if len(b) > 512 {
		return nil, bad("%d bytes is too long", len(b))
	}
	lines := strings.Split(string(b), "\n")
	keys := []string{"origin", "purpose", "expires", "nonce", "mac"}
	if len(lines) != len(keys)+2 || lines[0] != ConsentChallengeDomain || lines[len(lines)-1] != "" {
		return nil, bad("it does not start with %s or has not %d lines", ConsentChallengeDomain, len(keys)+1)
	}
	v := map[string]string{}
	for i, k := range keys {
		val, ok := strings.CutPrefix(lines[i+1], k+"=")
		if !ok {
			return nil, bad("line %d is not %s=", i+2, k)
		}
		v[k] = val
	}
	if v["origin"] != origin {
		return nil, fmt.Errorf("client: %w: the consent challenge is for %s, the platform asked is %s (a relayed challenge)", ErrChallengeForeign, v["origin"], origin)
	}
	if v["purpose"] != "consents" {
		return nil, fmt.Errorf("client: %w: the consent challenge is for %q, not consents", ErrChallengePurpose, v["purpose"])
	}
	exp, err := time.Parse(time.RFC3339, v["expires"])
	if err != nil || exp.UTC().Format(time.RFC3339) != v["expires"] {
		return nil, bad("expires %q is not an RFC 3339 UTC time to the second", v["expires"])
	}
	for _, k := range []string{"nonce", "mac"} {
		if x, err := base64.RawURLEncoding.Strict().DecodeString(v[k]); err != nil || len(x) != 16 {
			return nil, bad("%s is not 16 bytes in unpadded base64url", k)
		}
	}
	if !jsonExpires.IsZero() && !jsonExpires.Equal(exp) {
		return nil, bad("the platform says it expires at %s, the challenge at %s", jsonExpires.UTC().Format(time.RFC3339), v["expires"])
	}
	if now.IsZero() {
		return nil, errors.New("client: CheckConsentChallenge needs the holder's clock reading")
	}
	if !now.Before(exp) {
		return nil, fmt.Errorf("client: %w: it expired at %s", ErrChallengeExpired, v["expires"])
	}
	return &ConsentChallenge{Origin: origin, ExpiresAt: exp, msg: bytes.Clone(b)}, nil
}

// ConsentChallenge fetches a challenge for the holder's consent requests and checks it with
// CheckConsentChallenge against this client's platform and the holder's clock reading now,
// before anything is signed: open the card only after it returned.
func (c *Client) ConsentChallenge(ctx context.Context, now time.Time) (*ConsentChallenge, error) {
	var ch struct {
		Challenge []byte    `json:"challenge"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if _, err := c.do(ctx, "POST", "/v1/holder/consents/challenge", nil, nil, &ch); err != nil {
		return nil, err
	}
	return CheckConsentChallenge(c.base, ch.Challenge, ch.ExpiresAt, now)
}

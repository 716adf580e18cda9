// Package client is the public Go client of mynagate's HTTP API, for relying parties (create a
// verification session, follow it, read verifications and usage) and for the holder's app (fetch
// a challenge, answer it with a card's signature).
//
// It speaks JSON over HTTP only; it imports nothing of the platform's internals, so it is what an
// outside relying party would write itself. Errors from the API come back as *Problem.
package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls the API as one tenant (with an API key) or as a holder (without).
type Client struct {
	base   string
	apiKey string
	hc     *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey authenticates as a tenant.
func WithAPIKey(k string) Option { return func(c *Client) { c.apiKey = k } }

// WithHTTPClient replaces the HTTP client (default: 30 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client of the platform at base (e.g. http://127.0.0.1:8080).
func New(base string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Problem is an RFC 9457 problem document returned by the API.
type Problem struct {
	Type           string `json:"type"`
	Title          string `json:"title"`
	Status         int    `json:"status"`
	Detail         string `json:"detail"`
	RequestID      string `json:"request_id"`
	VerificationID string `json:"verification_id"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("client: %s (HTTP %d): %s", p.Slug(), p.Status, p.Detail)
}

// Slug is the last path segment of the problem type ("cert-revoked", ...).
func (p *Problem) Slug() string { return p.Type[strings.LastIndex(p.Type, "/")+1:] }

// IsProblem reports whether err is a problem of the given slug.
func IsProblem(err error, slug string) bool {
	p, ok := err.(*Problem)
	return ok && p.Slug() == slug
}

func (c *Client) do(ctx context.Context, method, path string, hdr http.Header, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("client: encode: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("client: read %s: %w", path, err)
	}
	if resp.StatusCode >= 400 {
		p := &Problem{Status: resp.StatusCode}
		if err := json.Unmarshal(data, p); err != nil || p.Type == "" {
			return resp.StatusCode, fmt.Errorf("client: %s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
		}
		return resp.StatusCode, p
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("client: decode %s: %w", path, err)
		}
	}
	return resp.StatusCode, nil
}

// Session is a verification session.
type Session struct {
	ID           string        `json:"id"`
	Purpose      string        `json:"purpose"`
	Status       string        `json:"status"` // pending, verified, failed, expired
	HolderURL    string        `json:"holder_url"`
	QRPayload    string        `json:"qr_payload"`
	ExpiresAt    time.Time     `json:"expires_at"`
	CreatedAt    time.Time     `json:"created_at"`
	ClientRef    string        `json:"client_ref"`
	Verification *Verification `json:"verification"`
}

// Verification is a completed verification.
type Verification struct {
	ID        string `json:"id"`
	SessionID string `json:"session_id"`
	Purpose   string `json:"purpose"`
	Decision  string `json:"decision"` // accepted or rejected
	// Limitations are set on a chip_reading verification: what that weaker method does not
	// establish ("no-key-possession", "no-revocation-check", "copyable-data", "no-pairwise-id").
	Limitations []string          `json:"limitations"`
	Reason      string            `json:"reason"`
	Detail      string            `json:"detail"`
	Sub         string            `json:"sub"` // the pairwise id of the person, for this tenant
	Facts       map[string]string `json:"facts"`
	// CardID is this tenant's id of the card's authentication certificate, login only: what
	// the tenant's gates compute with CardKey from the certificate a tapped card presents.
	CardID string `json:"card_id"`
	Cert   *struct {
		Issuer string `json:"issuer_key_id"`
		Serial string `json:"serial"`
	} `json:"certificate"`
	Revocation struct {
		Method string `json:"method"`
		Ref    string `json:"ref"`
	} `json:"revocation"`
	CreatedAt time.Time `json:"created_at"`
	// PersonalData is "shredded" once the facts and certificate were deleted at RetainUntil,
	// the end of the tenant's retention.
	PersonalData string     `json:"personal_data"`
	RetainUntil  *time.Time `json:"retain_until"`
}

// SessionRequest asks for a session.
type SessionRequest struct {
	Purpose   string `json:"purpose"` // identity, login or chip_reading (the weaker method, if the platform enables it)
	ClientRef string `json:"client_ref,omitempty"`
	// IdempotencyKey, when set, makes retries return the same session.
	IdempotencyKey string `json:"-"`
}

// CreateSession starts a verification session (tenant).
func (c *Client) CreateSession(ctx context.Context, req SessionRequest) (*Session, error) {
	var hdr http.Header
	if req.IdempotencyKey != "" {
		hdr = http.Header{"Idempotency-Key": {req.IdempotencyKey}}
	}
	var s Session
	if _, err := c.do(ctx, "POST", "/v1/sessions", hdr, req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Session reads a session (tenant).
func (c *Client) Session(ctx context.Context, id string) (*Session, error) {
	var s Session
	if _, err := c.do(ctx, "GET", "/v1/sessions/"+url.PathEscape(id), nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// WaitSession polls a session until it is no longer pending or ctx ends.
func (c *Client) WaitSession(ctx context.Context, id string, every time.Duration) (*Session, error) {
	for {
		s, err := c.Session(ctx, id)
		if err != nil || s.Status != "pending" {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(every):
		}
	}
}

// Verification reads a verification (tenant).
func (c *Client) Verification(ctx context.Context, id string) (*Verification, error) {
	var v Verification
	if _, err := c.do(ctx, "GET", "/v1/verifications/"+url.PathEscape(id), nil, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// CardKey is the answer of GET /v1/tenant/card-key.
type CardKey struct {
	Format string `json:"format"` // mynagate-card-id-v1
	Key    []byte `json:"key"`
}

// CardKey reads the tenant's card key (tenant), the key of the card ids of its login
// verifications (docs/design/gate.md).
func (c *Client) CardKey(ctx context.Context) (*CardKey, error) {
	var k CardKey
	if _, err := c.do(ctx, "GET", "/v1/tenant/card-key", nil, nil, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// Usage is the answer of GET /v1/usage.
type Usage struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Counts []struct {
		Month   string `json:"month"`
		Purpose string `json:"purpose"`
		Method  string `json:"method"`
		Count   int64  `json:"count"`
	} `json:"counts"`
}

// Usage reads the tenant's usage counters for months from..to (YYYY-MM; empty = this month).
func (c *Client) Usage(ctx context.Context, from, to string) (*Usage, error) {
	q := url.Values{}
	if from != "" {
		q.Set("from", from)
	}
	if to != "" {
		q.Set("to", to)
	}
	var u Usage
	if _, err := c.do(ctx, "GET", "/v1/usage?"+q.Encode(), nil, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Challenge is a holder session as the platform serves it; a holder's app signs its challenge
// only as a CheckedChallenge (HolderChallenge).
type Challenge struct {
	ID         string    `json:"id"`
	Purpose    string    `json:"purpose"`
	TenantName string    `json:"tenant_name"`
	Challenge  []byte    `json:"challenge"` // unchecked: sign only through HolderChallenge
	Facts      []string  `json:"facts"`
	ExpiresAt  time.Time `json:"expires_at"`
	Status     string    `json:"status"`
	// PlatformSignature is the platform's Ed25519 signature over Challenge, checked against a
	// pinned key (ChallengeCheck.PlatformKey); PlatformKey is the key the platform says it used,
	// to be pinned out of band, never trusted as served.
	PlatformSignature []byte `json:"platform_signature"`
	PlatformKey       []byte `json:"platform_key"`
}

// HolderResult is the platform's answer to the holder.
type HolderResult struct {
	SessionID      string `json:"session_id"`
	VerificationID string `json:"verification_id"`
	Decision       string `json:"decision"`
	TenantName     string `json:"tenant_name"`
}

// ParseHolderURL splits a holder URL (or QR payload) into the platform base, session id and
// token.
func ParseHolderURL(raw string) (base, id, token string, err error) {
	// The same-device hand-off of the login pages, mynagate://verify?url=HOLDER_URL, carries
	// the holder URL: the holder's app registers the scheme.
	if l, err := url.Parse(raw); err == nil && l.Scheme == "mynagate" && l.Host == "verify" {
		raw = l.Query().Get("url")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", "", fmt.Errorf("client: %q is not an http(s) session URL", raw)
	}
	prefix, sid, ok := strings.Cut(u.Path, "/v1/holder/sessions/")
	token = u.Query().Get("token")
	if !ok || sid == "" || strings.Contains(sid, "/") || token == "" {
		return "", "", "", fmt.Errorf("client: %q is not a session URL (…/v1/holder/sessions/ID?token=T)", raw)
	}
	return u.Scheme + "://" + u.Host + prefix, sid, token, nil
}

// FetchUncheckedChallenge reads a holder session as the platform serves it, for its status
// and for platform tests. Its challenge bytes are NOT checked: a holder's app uses
// HolderChallenge, whose result is the only challenge this package signs.
func (c *Client) FetchUncheckedChallenge(ctx context.Context, id, token string) (*Challenge, error) {
	var ch Challenge
	if _, err := c.do(ctx, "GET", "/v1/holder/sessions/"+url.PathEscape(id)+"?token="+url.QueryEscape(token), nil, nil, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// Answer sends the certificate and the signature over the challenge (holder).
func (c *Client) Answer(ctx context.Context, id, token string, cert, sig []byte) (*HolderResult, error) {
	return c.AnswerWithConsent(ctx, id, token, cert, sig, nil)
}

// signBytes signs SHA-256 of msg with a card's key, RSASSA-PKCS1-v1_5 (the card adds the
// padding to the DigestInfo). It is unexported so that only checked challenges
// (CheckedChallenge.Sign) and the holder's consent messages reach the card through this package.
func signBytes(signer crypto.Signer, challenge []byte) ([]byte, error) {
	sum := sha256.Sum256(challenge)
	sig, err := signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("client: sign challenge: %w", err)
	}
	return sig, nil
}

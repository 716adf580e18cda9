// Package jlisapi is the platform's HTTP client of J-LIS: CA certificates, the current status of
// a certificate, renewal links (新旧紐付け) and the latest basic 4 facts. It speaks the interface
// documented in docs/design/jlis.md, which the simulator serves.
//
// It holds no keys and imports nothing of the simulator: the platform reaches J-LIS only over the
// network. CRLs and OCSP are package revocation's concern.
package jlisapi

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

// Client talks to one J-LIS endpoint.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken sets the platform's bearer token for the platform-only endpoints.
func WithToken(t string) Option { return func(c *Client) { c.token = t } }

// WithHTTPClient replaces the HTTP client (default: 10 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client of the J-LIS service at base (e.g. http://127.0.0.1:8470).
func New(base string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 10 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// ErrNotFound is returned when J-LIS does not know the certificate or CA asked about.
var ErrNotFound = errors.New("jlisapi: not found")

// ErrUnavailable wraps transport failures and server errors: J-LIS could not be asked. Callers
// should retry later (the API answers 503).
var ErrUnavailable = errors.New("jlisapi: J-LIS unavailable")

// CertRef names a certificate by J-LIS CA name and serial.
type CertRef struct {
	CA     string `json:"ca"`
	Serial int64  `json:"serial"`
}

// Link is one renewal link.
type Link struct {
	Old   CertRef   `json:"old"`
	New   CertRef   `json:"new"`
	Cause string    `json:"cause"`
	At    time.Time `json:"at"`
}

// LinkInfo is the answer of the renewal-link service.
type LinkInfo struct {
	Cert        CertRef    `json:"certificate"`
	Kind        jpki.Kind  `json:"kind"`
	Revoked     bool       `json:"revoked"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	Reason      *int       `json:"reason,omitempty"`
	Next        []Link     `json:"next"`
	Previous    []Link     `json:"previous"`
	Latest      *CertRef   `json:"latest,omitempty"`
	Counterpart *CertRef   `json:"counterpart,omitempty"`
}

// Basic4 is the answer of the latest-basic-4 service.
type Basic4 struct {
	Cert       CertRef     `json:"certificate"`
	Basic4     jpki.Basic4 `json:"basic4"`
	Deceased   bool        `json:"deceased"`
	UpdatedAt  time.Time   `json:"updated_at"`
	LatestSign *CertRef    `json:"latest_sign,omitempty"`
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("jlisapi: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("jlisapi: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrUnavailable, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%w: read %s: %v", ErrUnavailable, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, path)
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w: %s %s: HTTP %d", ErrUnavailable, method, path, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		var p struct{ Detail string }
		json.Unmarshal(data, &p)
		return fmt.Errorf("jlisapi: %s %s: HTTP %d: %s", method, path, resp.StatusCode, p.Detail)
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("jlisapi: decode %s: %w", path, err)
	}
	return nil
}

// CACertificate fetches a CA certificate ("sign", "auth", ...).
func (c *Client) CACertificate(ctx context.Context, name string) (*x509.Certificate, error) {
	var der []byte
	if err := c.do(ctx, "GET", "/ca/"+name+".cer", nil, &der); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("jlisapi: CA %s: %w", name, err)
	}
	return cert, nil
}

// CA is one CA generation J-LIS publishes.
type CA struct {
	Name       string            // "sign", "sign-g2", "auth-phone", ...
	Base       string            // the family: "sign", "auth", "sign-phone", "auth-phone"
	Generation int               // 1, 2, ...
	Issuing    bool              // the generation that issues new certificates
	Cert       *x509.Certificate // the self-signed root
	Link       *x509.Certificate // NewWithOld link certificate from the generation before; nil for the first
}

// CAs lists every CA generation J-LIS publishes (GET /ca). ErrNotFound means J-LIS has no such
// list (one generation per CA, fetched by name with CACertificate).
func (c *Client) CAs(ctx context.Context) ([]CA, error) {
	var list struct {
		CAs []struct {
			Name       string `json:"name"`
			Base       string `json:"base"`
			Generation int    `json:"generation"`
			Issuing    bool   `json:"issuing"`
			Cert       []byte `json:"cert"`
			LinkCert   []byte `json:"link_cert"`
		} `json:"cas"`
	}
	if err := c.do(ctx, "GET", "/ca", nil, &list); err != nil {
		return nil, err
	}
	out := make([]CA, 0, len(list.CAs))
	for _, e := range list.CAs {
		if e.Name == "" || e.Generation < 1 {
			return nil, fmt.Errorf("jlisapi: CA list: entry %q without a name or generation", e.Name)
		}
		ca := CA{Name: e.Name, Base: e.Base, Generation: e.Generation, Issuing: e.Issuing}
		var err error
		if ca.Cert, err = x509.ParseCertificate(e.Cert); err != nil {
			return nil, fmt.Errorf("jlisapi: CA %s: %w", e.Name, err)
		}
		if e.LinkCert != nil {
			if ca.Link, err = x509.ParseCertificate(e.LinkCert); err != nil {
				return nil, fmt.Errorf("jlisapi: link certificate of CA %s: %w", e.Name, err)
			}
		}
		out = append(out, ca)
	}
	return out, nil
}

// Links asks the renewal-link service about a certificate.
func (c *Client) Links(ctx context.Context, ref CertRef) (*LinkInfo, error) {
	var out LinkInfo
	if err := c.do(ctx, "GET", fmt.Sprintf("/links/%s/%X", ref.CA, ref.Serial), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LatestBasic4 asks for the latest basic 4 facts of a certificate's holder, on the holder's
// behalf: consentRef names the consent the platform holds.
func (c *Client) LatestBasic4(ctx context.Context, ref CertRef, requester, consentRef string) (*Basic4, error) {
	var out Basic4
	body := map[string]string{"ca": ref.CA, "serial": fmt.Sprintf("%X", ref.Serial), "requester": requester, "consent_ref": consentRef}
	if err := c.do(ctx, "POST", "/basic4", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

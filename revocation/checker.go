package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/ocsp"
)

// Method says how a status was established.
type Method string

// Methods.
const (
	MethodCRL  Method = "crl"
	MethodOCSP Method = "ocsp"
)

// Status is the revocation status of one certificate with the evidence it rests on.
type Status struct {
	Revoked   bool
	RevokedAt time.Time
	Reason    int // RFC 5280 CRLReason (0 when not revoked or unspecified)
	Method    Method
	// CRL evidence: the number and thisUpdate of the CRL consulted.
	CRLNumber     *big.Int
	CRLThisUpdate time.Time
	// OCSP evidence: the raw signed response, and its validity.
	OCSPResponse                   []byte
	OCSPThisUpdate, OCSPNextUpdate time.Time
}

// ErrUnavailable is returned when no fresh CRL and no valid OCSP answer can be had. Callers MUST
// NOT treat the certificate as good; the API answers 503.
var ErrUnavailable = errors.New("revocation: status unavailable")

// Checker answers revocation queries from the fetcher's fresh CRL index, and from OCSP when the
// CRL is stale or OCSP is asked for. OCSP answers are cached until their nextUpdate.
type Checker struct {
	f   *Fetcher
	hc  *http.Client
	clk clockwork.Clock

	mu    sync.Mutex
	cache map[ocspKey]*Status
}

type ocspKey struct {
	issuer string
	serial string
}

// CheckerOption configures a Checker.
type CheckerOption func(*Checker)

// WithCheckerClock sets the clock (default: the fetcher's).
func WithCheckerClock(c clockwork.Clock) CheckerOption { return func(k *Checker) { k.clk = c } }

// WithOCSPClient sets the HTTP client for OCSP (default 10 s timeout).
func WithOCSPClient(hc *http.Client) CheckerOption { return func(k *Checker) { k.hc = hc } }

// NewChecker returns a checker over a fetcher's sources.
func NewChecker(f *Fetcher, opts ...CheckerOption) *Checker {
	c := &Checker{f: f, hc: &http.Client{Timeout: 10 * time.Second}, clk: f.clk, cache: map[ocspKey]*Status{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

func (c *Checker) source(issuer *x509.Certificate) (Source, bool) {
	for _, s := range c.f.sources {
		if s.Issuer.Equal(issuer) {
			return s, true
		}
	}
	return Source{}, false
}

// Status returns the revocation status of cert, issued by issuer (one of the fetcher's sources).
func (c *Checker) Status(ctx context.Context, cert, issuer *x509.Certificate, preferOCSP bool) (*Status, error) {
	src, ok := c.source(issuer)
	if !ok {
		return nil, fmt.Errorf("%w: no revocation source for issuer %s", ErrUnavailable, issuer.Subject)
	}
	now := c.clk.Now()
	st, _ := c.f.State(src.Name)
	if !preferOCSP && st.Fresh(now) {
		revoked, at, reason := st.Index.Lookup(cert.SerialNumber)
		md := st.Index.Metadata()
		out := &Status{Revoked: revoked, Method: MethodCRL, CRLNumber: md.Number, CRLThisUpdate: md.ThisUpdate}
		if revoked {
			out.RevokedAt, out.Reason = at, int(reason)
			if reason < 0 {
				out.Reason = 0
			}
		}
		return out, nil
	}
	s, err := c.ocsp(ctx, src, cert, issuer, now)
	if err != nil {
		if !preferOCSP && st.Fresh(now) {
			return c.Status(ctx, cert, issuer, false)
		}
		return nil, err
	}
	return s, nil
}

func (c *Checker) ocsp(ctx context.Context, src Source, cert, issuer *x509.Certificate, now time.Time) (*Status, error) {
	if src.OCSPURL == "" {
		return nil, fmt.Errorf("%w: CRL of %s is not fresh and no OCSP responder is configured", ErrUnavailable, src.Name)
	}
	key := ocspKey{string(issuer.SubjectKeyId), cert.SerialNumber.String()}
	c.mu.Lock()
	if s, ok := c.cache[key]; ok && now.Before(s.OCSPNextUpdate) {
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	req, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return nil, fmt.Errorf("revocation: OCSP request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, "POST", src.OCSPURL, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("%w: OCSP: %v", ErrUnavailable, err)
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%w: OCSP %s: %v", ErrUnavailable, src.OCSPURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: OCSP %s: HTTP %d %v", ErrUnavailable, src.OCSPURL, resp.StatusCode, err)
	}
	r, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: OCSP response from %s refused: %v", ErrUnavailable, src.OCSPURL, err)
	}
	if r.ThisUpdate.After(now.Add(c.f.skew)) || (!r.NextUpdate.IsZero() && !now.Before(r.NextUpdate)) {
		return nil, fmt.Errorf("%w: OCSP response from %s is not current (thisUpdate %s, nextUpdate %s)", ErrUnavailable, src.OCSPURL, r.ThisUpdate, r.NextUpdate)
	}
	s := &Status{Method: MethodOCSP, OCSPResponse: body, OCSPThisUpdate: r.ThisUpdate, OCSPNextUpdate: r.NextUpdate}
	switch r.Status {
	case ocsp.Good:
	case ocsp.Revoked:
		s.Revoked, s.RevokedAt, s.Reason = true, r.RevokedAt, r.RevocationReason
	default:
		return nil, fmt.Errorf("%w: OCSP responder of %s does not know serial %X", ErrUnavailable, src.Name, cert.SerialNumber)
	}
	if s.OCSPNextUpdate.IsZero() {
		s.OCSPNextUpdate = now // no caching without a nextUpdate
	}
	c.mu.Lock()
	c.cache[key] = s
	c.mu.Unlock()
	return s, nil
}

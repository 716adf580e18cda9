package revocation

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/ocsp"

	"github.com/mynagate/mynagate/jpki"
)

// Method says how a status was established (jpki's one type for it, which the platform records
// and the evidence log encodes).
type Method = jpki.RevocationMethod

// Methods.
const (
	MethodCRL  = jpki.RevocationCRL
	MethodOCSP = jpki.RevocationOCSP
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

// ErrUnavailable is returned when the status cannot be established as the policy asks: no fresh
// CRL, no valid OCSP answer. Callers MUST NOT treat the certificate as good; the API answers 503.
var ErrUnavailable = errors.New("revocation: status unavailable")

// Policy says which sources establish that a certificate is not revoked. It belongs to the
// relying party (a tenant setting), never to the holder. Whatever the policy, a certificate listed
// by any CRL the checker holds for its issuer — fresh or not — is revoked, whatever OCSP says.
type Policy string

// Policies.
const (
	// PolicyCRL (the default): the CRL in force decides while it is fresh; while it is not (J-LIS
	// late), a verified OCSP answer does.
	PolicyCRL Policy = "crl"
	// PolicyOCSP: a verified OCSP answer decides (at most OCSPCacheMaxAge old).
	PolicyOCSP Policy = "ocsp"
	// PolicyBoth: a fresh CRL and a verified OCSP answer must both say "not revoked".
	PolicyBoth Policy = "both"
)

// Valid reports whether p is one of the three policies.
func (p Policy) Valid() bool { return p == PolicyCRL || p == PolicyOCSP || p == PolicyBoth }

// Cache bounds. An OCSP answer is reused for any tenant while it is within its nextUpdate, at
// most DefaultOCSPCacheMaxAge after it was fetched, and only while the CRL it was fetched under
// is still the one in force: a "good" never outlives a newer CRL, and warming the cache buys
// no-one more than those five minutes.
const (
	DefaultOCSPCacheSize   = 1 << 16
	DefaultOCSPCacheMaxAge = 5 * time.Minute
)

// Checker answers revocation queries from the fetcher's CRL indexes and from OCSP, as a policy
// asks. OCSP answers are verified as RFC 6960 demands (ocsp.go) and cached in a bounded LRU.
type Checker struct {
	f      *Fetcher
	hc     *http.Client
	clk    clockwork.Clock
	rand   io.Reader
	maxAge time.Duration
	size   int
	cache  *lru.Cache[ocspKey, cachedOCSP]
}

type ocspKey struct {
	issuer string
	serial string
}

// cachedOCSP is an OCSP answer with what it was made under.
type cachedOCSP struct {
	st      *Status
	fetched time.Time
	crl     *big.Int // number of the CRL in force when it was fetched; nil when none was held
}

// CheckerOption configures a Checker.
type CheckerOption func(*Checker)

// WithCheckerClock sets the clock (default: the fetcher's).
func WithCheckerClock(c clockwork.Clock) CheckerOption { return func(k *Checker) { k.clk = c } }

// WithOCSPClient sets the HTTP client for OCSP (default 10 s timeout).
func WithOCSPClient(hc *http.Client) CheckerOption { return func(k *Checker) { k.hc = hc } }

// WithCheckerRand sets the source of OCSP nonces (default crypto/rand).
func WithCheckerRand(r io.Reader) CheckerOption { return func(k *Checker) { k.rand = r } }

// WithOCSPCache bounds the OCSP cache: at most size answers (default DefaultOCSPCacheSize), each
// reused at most maxAge after it was fetched (default DefaultOCSPCacheMaxAge). A maxAge of zero
// or less turns the cache off.
func WithOCSPCache(size int, maxAge time.Duration) CheckerOption {
	return func(k *Checker) { k.size, k.maxAge = size, maxAge }
}

// NewChecker returns a checker over a fetcher's sources.
func NewChecker(f *Fetcher, opts ...CheckerOption) *Checker {
	c := &Checker{f: f, hc: &http.Client{Timeout: 10 * time.Second}, clk: f.clk, rand: rand.Reader,
		size: DefaultOCSPCacheSize, maxAge: DefaultOCSPCacheMaxAge}
	for _, o := range opts {
		o(c)
	}
	if c.size <= 0 {
		c.size = DefaultOCSPCacheSize
	}
	cache, err := lru.New[ocspKey, cachedOCSP](c.size)
	if err != nil {
		panic(err) // only for a non-positive size
	}
	c.cache = cache
	return c
}

func (c *Checker) source(issuer *x509.Certificate) (Source, bool) {
	for _, s := range c.f.Sources() {
		if s.Issuer.Equal(issuer) {
			return s, true
		}
	}
	return Source{}, false
}

// crlStatus is the status of serial in idx.
func crlStatus(idx *Index, serial *big.Int) *Status {
	revoked, at, reason := idx.Lookup(serial)
	md := idx.Metadata()
	out := &Status{Revoked: revoked, Method: MethodCRL, CRLNumber: md.Number, CRLThisUpdate: md.ThisUpdate}
	if revoked {
		out.RevokedAt, out.Reason = at, int(reason)
		if reason < 0 {
			out.Reason = 0
		}
	}
	return out
}

// Status returns the revocation status of cert, issued by issuer (one of the fetcher's sources),
// established as policy asks. A certificate listed by the CRL held for the issuer is revoked
// whatever the policy. It returns an error wrapping ErrUnavailable when the policy's sources
// cannot establish a status, never a "good" status then.
func (c *Checker) Status(ctx context.Context, cert, issuer *x509.Certificate, policy Policy) (*Status, error) {
	if !policy.Valid() {
		return nil, fmt.Errorf("%w: unknown revocation policy %q", ErrUnavailable, policy)
	}
	src, ok := c.source(issuer)
	if !ok {
		return nil, fmt.Errorf("%w: no revocation source for issuer %s", ErrUnavailable, issuer.Subject)
	}
	now := c.clk.Now()
	st, _ := c.f.State(src.Name)
	var fresh *Status
	if st.Index != nil {
		s := crlStatus(st.Index, cert.SerialNumber)
		if s.Revoked {
			return s, nil // any CRL held wins
		}
		if st.Fresh(now) {
			fresh = s
		}
	}
	switch {
	case policy == PolicyCRL && fresh != nil:
		return fresh, nil
	case policy == PolicyBoth && fresh == nil:
		return nil, fmt.Errorf("%w: the CRL of %s is not fresh and the policy asks for both CRL and OCSP", ErrUnavailable, src.Name)
	}
	s, err := c.ocsp(ctx, src, cert, issuer, now, st.Index)
	if err != nil {
		return nil, err
	}
	if s.Revoked {
		return s, nil
	}
	// A CRL loaded while OCSP was asked still wins.
	if now2, _ := c.f.State(src.Name); now2.Index != nil && now2.Index != st.Index {
		if cs := crlStatus(now2.Index, cert.SerialNumber); cs.Revoked {
			return cs, nil
		}
	}
	return s, nil
}

func crlNumber(idx *Index) *big.Int {
	if idx == nil {
		return nil
	}
	return idx.Metadata().Number
}

func sameNumber(a, b *big.Int) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Cmp(b) == 0
}

func (c *Checker) ocsp(ctx context.Context, src Source, cert, issuer *x509.Certificate, now time.Time, held *Index) (*Status, error) {
	if src.OCSPURL == "" {
		return nil, fmt.Errorf("%w: no OCSP responder is configured for %s", ErrUnavailable, src.Name)
	}
	key := ocspKey{string(issuer.SubjectKeyId), cert.SerialNumber.String()}
	number := crlNumber(held)
	if e, ok := c.cache.Get(key); ok {
		if now.Before(e.st.OCSPNextUpdate) && now.Before(e.fetched.Add(c.maxAge)) && sameNumber(e.crl, number) {
			return e.st, nil
		}
		c.cache.Remove(key) // expired, or made under an older CRL
	}
	req, nonce, err := ocspRequest(cert, issuer, c.rand)
	if err != nil {
		return nil, err
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
	responder := func(rc *x509.Certificate) error {
		st, _ := c.f.State(src.Name)
		if !st.Fresh(now) {
			return errors.New("no fresh CRL of its issuer is at hand to check it")
		}
		if cs := crlStatus(st.Index, rc.SerialNumber); cs.Revoked {
			return fmt.Errorf("CRL %s lists it as revoked", cs.CRLNumber)
		}
		return nil
	}
	if err := verifyResponse(r, issuer, nonce, now, c.f.skew, responder); err != nil {
		return nil, fmt.Errorf("%w: OCSP response from %s refused: %v", ErrUnavailable, src.OCSPURL, err)
	}
	s := &Status{Method: MethodOCSP, OCSPResponse: body, OCSPThisUpdate: r.ThisUpdate, OCSPNextUpdate: r.NextUpdate}
	switch r.Status {
	case ocsp.Good:
	case ocsp.Revoked:
		s.Revoked, s.RevokedAt, s.Reason = true, r.RevokedAt, r.RevocationReason
	default:
		return nil, fmt.Errorf("%w: OCSP responder of %s does not know serial %X", ErrUnavailable, src.Name, cert.SerialNumber)
	}
	if !s.OCSPNextUpdate.IsZero() && c.maxAge > 0 {
		c.cache.Add(key, cachedOCSP{st: s, fetched: now, crl: number})
	}
	return s, nil
}

// OCSPCacheLen returns the number of OCSP answers cached (for tests and metrics).
func (c *Checker) OCSPCacheLen() int { return c.cache.Len() }

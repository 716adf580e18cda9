package web

import (
	"net"
	"net/http"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/mynagate/mynagate/platform"
)

// Rate limits (golang.org/x/time/rate token buckets) on what anyone can make the platform do
// without much effort of their own: creating sessions (per tenant, and per client address before
// the API key is even looked up) and the holder's endpoints (per client address: fetching and
// answering challenges, consent requests). A refused request is answered 429 `rate-limited`
// with Retry-After, before any work.
//
// The client address is the connection's peer: behind a reverse proxy every client shares the
// proxy's address, so an operator there sets the per-address limits to 0 (off) and limits at
// the proxy; forwarded-for headers are not trusted, since any client can send them.
//
// The buckets of each kind live in a bounded LRU (limiterKeys entries), so a flood of new
// addresses cannot grow memory; an address pushed out starts again with a full bucket, which
// lets at most one burst more through.

// Limit is one token bucket: Rate tokens a second, at most Burst at once. A zero Rate turns the
// limit off.
type Limit struct {
	Rate  float64
	Burst int
}

// RateLimits are the limits of a server.
type RateLimits struct {
	TenantSessions Limit // POST /v1/sessions, per tenant
	IPSessions     Limit // POST /v1/sessions, per client address
	IPHolder       Limit // the holder's endpoints, per client address
	// Now is the clock the buckets run on (tests inject one); nil is time.Now.
	Now func() time.Time
}

// DefaultRateLimits are serve's defaults: generous for a relying party's back end and a
// holder's app, a wall for a flood.
var DefaultRateLimits = RateLimits{
	TenantSessions: Limit{Rate: 50, Burst: 200},
	IPSessions:     Limit{Rate: 50, Burst: 200},
	IPHolder:       Limit{Rate: 20, Burst: 100},
}

// WithRateLimits sets the server's rate limits (by default there are none).
func WithRateLimits(l RateLimits) Option {
	return func(s *Server) {
		now := l.Now
		if now == nil {
			now = time.Now
		}
		s.limits = &limiters{now: now, tenantSessions: newKeyed(l.TenantSessions), ipSessions: newKeyed(l.IPSessions), ipHolder: newKeyed(l.IPHolder)}
	}
}

const limiterKeys = 1 << 16

type limiters struct {
	now                                  func() time.Time
	tenantSessions, ipSessions, ipHolder *keyed
}

// keyed is one kind of bucket, per key.
type keyed struct {
	limit Limit
	mu    sync.Mutex
	cache *lru.Cache[string, *rate.Limiter]
}

func newKeyed(l Limit) *keyed {
	if l.Rate <= 0 {
		return nil
	}
	c, err := lru.New[string, *rate.Limiter](limiterKeys)
	if err != nil {
		panic(err)
	}
	return &keyed{limit: l, cache: c}
}

// wait takes a token of key's bucket at now; it returns 0 when one was there, else how long
// until one will be (and takes nothing).
func (k *keyed) wait(key string, now time.Time) time.Duration {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	l, ok := k.cache.Get(key)
	if !ok {
		l = rate.NewLimiter(rate.Limit(k.limit.Rate), max(1, k.limit.Burst))
		k.cache.Add(key, l)
	}
	k.mu.Unlock()
	r := l.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// clientAddr is the connection's peer address, without the port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func rateLimited(d time.Duration, what string) error {
	return &platform.Error{Kind: platform.KindTooManyRequests, Type: "rate-limited", RetryAfter: d,
		Detail: "too many " + what + "; retry after the time Retry-After gives"}
}

// limitIP wraps a handler with a per-address bucket of k.
func (s *Server) limitIP(k func(*limiters) *keyed, what string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.limits != nil {
			if d := k(s.limits).wait(clientAddr(r), s.limits.now()); d > 0 {
				writeProblem(w, r, rateLimited(d, what+" from this address"), "")
				return
			}
		}
		next(w, r)
	}
}

// limitTenantSessions takes a token of the tenant's session bucket.
func (s *Server) limitTenantSessions(t *platform.Tenant) error {
	if s.limits == nil {
		return nil
	}
	if d := s.limits.tenantSessions.wait(t.ID, s.limits.now()); d > 0 {
		return rateLimited(d, "sessions for this tenant")
	}
	return nil
}

func ipSessions(l *limiters) *keyed { return l.ipSessions }
func ipHolder(l *limiters) *keyed   { return l.ipHolder }

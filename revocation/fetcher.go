package revocation

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is one CA whose CRL the fetcher keeps fresh.
type Source struct {
	Name    string            // the CA's J-LIS name ("sign", "auth", ...)
	CRLURL  string            // where its full CRL is published
	OCSPURL string            // its OCSP responder (used by Checker)
	Issuer  *x509.Certificate // the pinned CA certificate; CRLs are checked against its key
}

// FetchState is what the fetcher knows about one source.
type FetchState struct {
	Index     *Index    // the last good CRL, or nil before the first success
	FetchedAt time.Time // when Index was read
	CheckedAt time.Time // last successful contact (200 or 304)
	LastError error     // the last failure, cleared by the next success
	etag      string
	modified  string
}

// Fresh reports whether the last good CRL is still within its nextUpdate at t.
func (s FetchState) Fresh(t time.Time) bool {
	return s.Index != nil && t.Before(s.Index.Metadata().NextUpdate)
}

// HighWater keeps, per CA, the highest cRLNumber accepted, across restarts and nodes; store
// implements it. ca is CAKey(issuer).
type HighWater interface {
	// CRLHighWater returns the highest number recorded and the SHA-256 of that CRL's
	// TBSCertList; a nil number when none.
	CRLHighWater(ctx context.Context, ca string) (*big.Int, []byte, error)
	// RaiseCRLHighWater records number if it is higher than the one recorded, never lowers it.
	RaiseCRLHighWater(ctx context.Context, ca string, number *big.Int, tbsDigest []byte, thisUpdate, at time.Time) error
}

// CAKey names a CA for HighWater: hex SHA-256 of its SubjectPublicKeyInfo, so that a CA
// replaced by one with another key starts a mark of its own.
func CAKey(issuer *x509.Certificate) string {
	sum := sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// UpdateFunc is called after a new CRL replaced the previous one (prev is nil on the first).
type UpdateFunc func(ctx context.Context, src Source, prev, next *Index)

// Fetcher pulls each source's CRL on a schedule and on demand, with conditional GET, and keeps
// the last good index of each. A CRL that fails any check — signature, issuer, a number going
// backwards, a thisUpdate in the future, malformed or truncated bytes — is refused and the
// previous index stays in force. It is safe for concurrent use.
type Fetcher struct {
	sources  []Source
	hc       *http.Client
	clk      clockwork.Clock
	skew     time.Duration
	onUpdate UpdateFunc
	tmpDir   string
	maxSize  int64
	hw       HighWater

	refreshMu sync.Mutex // one refresh at a time
	mu        sync.RWMutex
	state     map[string]*FetchState

	age, entries, number *prometheus.GaugeVec
	failures             *prometheus.CounterVec
}

// FetcherOption configures a Fetcher.
type FetcherOption func(*Fetcher)

// WithClock sets the clock (default real).
func WithClock(c clockwork.Clock) FetcherOption { return func(f *Fetcher) { f.clk = c } }

// WithHTTPClient replaces the HTTP client (default: 5 minute timeout, for national-size CRLs).
func WithHTTPClient(hc *http.Client) FetcherOption { return func(f *Fetcher) { f.hc = hc } }

// WithOnUpdate sets the function told of every new CRL (revocation notification diffs them).
func WithOnUpdate(u UpdateFunc) FetcherOption { return func(f *Fetcher) { f.onUpdate = u } }

// WithTempDir sets where downloads are spooled before they are read (default os.TempDir()).
func WithTempDir(d string) FetcherOption { return func(f *Fetcher) { f.tmpDir = d } }

// WithHighWater persists the CRL-number high-water mark of each CA in hw: the first CRL read
// after a start must not be older than the highest one accepted before (by this node or
// another), and a CRL is put in force only once its number is recorded.
func WithHighWater(hw HighWater) FetcherOption { return func(f *Fetcher) { f.hw = hw } }

// WithMaxSize bounds a CRL download (default 4 GiB).
func WithMaxSize(n int64) FetcherOption { return func(f *Fetcher) { f.maxSize = n } }

// NewFetcher returns a fetcher of the sources' CRLs. Nothing is fetched until Refresh or Run.
func NewFetcher(sources []Source, opts ...FetcherOption) *Fetcher {
	f := &Fetcher{sources: sources, hc: &http.Client{Timeout: 5 * time.Minute}, clk: clockwork.NewRealClock(),
		skew: 5 * time.Minute, tmpDir: os.TempDir(), maxSize: 4 << 30, state: map[string]*FetchState{}}
	for _, o := range opts {
		o(f)
	}
	for _, s := range sources {
		f.state[s.Name] = &FetchState{}
	}
	f.age = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mynagate_crl_age_seconds", Help: "Seconds since the thisUpdate of the CRL in force."}, []string{"ca"})
	f.entries = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mynagate_crl_entries", Help: "Revoked serials in the CRL in force."}, []string{"ca"})
	f.number = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mynagate_crl_number", Help: "cRLNumber of the CRL in force."}, []string{"ca"})
	f.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mynagate_crl_fetch_failures_total", Help: "CRL fetches that failed or were refused."}, []string{"ca", "reason"})
	return f
}

// Collectors returns the fetcher's Prometheus metrics (CRL age, size, number, failures).
func (f *Fetcher) Collectors() []prometheus.Collector {
	return []prometheus.Collector{f.age, f.entries, f.number, f.failures}
}

// Sources returns the configured sources.
func (f *Fetcher) Sources() []Source {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.sources
}

// AddSources adds sources while the fetcher runs (the CAs of a J-LIS rollover the platform
// learnt of); a source whose name is already fetched is skipped. They are fetched from the next
// Refresh on.
func (f *Fetcher) AddSources(sources ...Source) {
	f.refreshMu.Lock() // not in the middle of a refresh
	defer f.refreshMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	next := append([]Source(nil), f.sources...)
	for _, s := range sources {
		if _, ok := f.state[s.Name]; ok {
			continue
		}
		next = append(next, s)
		f.state[s.Name] = &FetchState{}
	}
	f.sources = next
}

// State returns a copy of what the fetcher knows about a source.
func (f *Fetcher) State(name string) (FetchState, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s, ok := f.state[name]
	if !ok {
		return FetchState{}, false
	}
	if s.Index != nil {
		f.age.WithLabelValues(name).Set(f.clk.Since(s.Index.Metadata().ThisUpdate).Seconds())
	}
	return *s, true
}

// Ready returns an error naming every source without a fresh CRL.
func (f *Fetcher) Ready() error {
	var errs []error
	now := f.clk.Now()
	for _, s := range f.Sources() {
		st, _ := f.State(s.Name)
		if !st.Fresh(now) {
			why := "never fetched"
			if st.Index != nil {
				why = "past its nextUpdate " + st.Index.Metadata().NextUpdate.Format(time.RFC3339)
			}
			if st.LastError != nil {
				why += "; last error: " + st.LastError.Error()
			}
			errs = append(errs, fmt.Errorf("revocation: CRL of %s is not fresh (%s)", s.Name, why))
		}
	}
	return errors.Join(errs...)
}

// Refresh fetches every source once. It returns the failures joined; sources that failed keep
// their previous index.
func (f *Fetcher) Refresh(ctx context.Context) error {
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	var errs []error
	for _, s := range f.sources {
		if err := f.fetch(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run refreshes every interval until ctx is done. Shutdown: cancel ctx; Run returns after the
// refresh in progress, if any, ends.
func (f *Fetcher) Run(ctx context.Context, every time.Duration) {
	t := f.clk.NewTicker(every)
	defer t.Stop()
	for {
		if err := f.Refresh(ctx); err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "revocation: CRL refresh failed; keeping the previous CRL", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

func (f *Fetcher) fail(s Source, reason string, err error) error {
	f.failures.WithLabelValues(s.Name, reason).Inc()
	f.mu.Lock()
	f.state[s.Name].LastError = err
	f.mu.Unlock()
	return err
}

func (f *Fetcher) fetch(ctx context.Context, s Source) error {
	f.mu.RLock()
	prev := *f.state[s.Name]
	f.mu.RUnlock()
	req, err := http.NewRequestWithContext(ctx, "GET", s.CRLURL, nil)
	if err != nil {
		return f.fail(s, "request", fmt.Errorf("revocation: CRL of %s: %w", s.Name, err))
	}
	if prev.Index != nil {
		if prev.etag != "" {
			req.Header.Set("If-None-Match", prev.etag)
		}
		if prev.modified != "" {
			req.Header.Set("If-Modified-Since", prev.modified)
		}
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return f.fail(s, "transport", fmt.Errorf("revocation: fetch CRL of %s: %w", s.Name, err))
	}
	defer resp.Body.Close()
	now := f.clk.Now()
	switch resp.StatusCode {
	case http.StatusNotModified:
		f.mu.Lock()
		f.state[s.Name].CheckedAt, f.state[s.Name].LastError = now, nil
		f.mu.Unlock()
		return nil
	case http.StatusOK:
	default:
		return f.fail(s, "http", fmt.Errorf("revocation: fetch CRL of %s: HTTP %d", s.Name, resp.StatusCode))
	}
	tmp, err := os.CreateTemp(f.tmpDir, "crl-*")
	if err != nil {
		return f.fail(s, "spool", fmt.Errorf("revocation: spool CRL of %s: %w", s.Name, err))
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, f.maxSize+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return f.fail(s, "transport", fmt.Errorf("revocation: download CRL of %s: %w", s.Name, err))
	}
	if n > f.maxSize {
		return f.fail(s, "too-large", fmt.Errorf("revocation: CRL of %s is larger than %d bytes", s.Name, f.maxSize))
	}
	opts := Options{At: now, ClockSkew: f.skew}
	if prev.Index != nil {
		md := prev.Index.Metadata()
		opts.Previous = &md
	} else if f.hw != nil {
		n, digest, err := f.hw.CRLHighWater(ctx, CAKey(s.Issuer))
		if err != nil {
			return f.fail(s, "high-water", fmt.Errorf("revocation: CRL of %s: read the recorded CRL number: %w", s.Name, err))
		}
		if n != nil {
			md := Metadata{Number: n}
			copy(md.TBSDigest[:], digest)
			opts.Previous = &md
		}
	}
	idx, err := ReadFile(tmp.Name(), s.Issuer, opts)
	if err != nil {
		reason := "refused"
		var re *Error
		if errors.As(err, &re) {
			reason = re.Reason.String()
		}
		return f.fail(s, reason, fmt.Errorf("revocation: CRL of %s refused: %w", s.Name, err))
	}
	md := idx.Metadata()
	if f.hw != nil {
		if err := f.hw.RaiseCRLHighWater(ctx, CAKey(s.Issuer), md.Number, md.TBSDigest[:], md.ThisUpdate, now); err != nil {
			return f.fail(s, "high-water", fmt.Errorf("revocation: CRL of %s: record its number: %w", s.Name, err))
		}
	}
	f.mu.Lock()
	st := f.state[s.Name]
	same := st.Index != nil && st.Index.Metadata().TBSDigest == md.TBSDigest
	if !same {
		st.Index, st.FetchedAt = idx, now
	}
	st.CheckedAt, st.LastError = now, nil
	st.etag, st.modified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	f.mu.Unlock()
	f.entries.WithLabelValues(s.Name).Set(float64(idx.Len()))
	f.number.WithLabelValues(s.Name).Set(float64(md.Number.Int64()))
	f.age.WithLabelValues(s.Name).Set(now.Sub(md.ThisUpdate).Seconds())
	if !same && f.onUpdate != nil {
		f.onUpdate(ctx, s, prev.Index, idx)
	}
	return nil
}

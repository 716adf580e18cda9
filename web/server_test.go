package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
)

// testServer is a Server on a platform over a fresh SQLite store (no verifications), with one
// tenant and its API key.
type testServer struct {
	*Server
	p      *platform.Platform
	tenant *platform.Tenant
	key    string
}

func newTestServer(t *testing.T, opts ...Option) *testServer {
	t.Helper()
	return newTestServerOn(t, nil, opts...)
}

// newTestServerOn is newTestServer with more platform options, made from the store.
func newTestServerOn(t *testing.T, with func(*store.Store) []platform.Option, opts ...Option) *testServer {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	popts := []platform.Option{platform.WithClock(clockwork.NewFakeClockAt(time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)))}
	if with != nil {
		popts = append(popts, with(st)...)
	}
	p, err := platform.New(st, popts...)
	if err != nil {
		t.Fatal(err)
	}
	ten, err := p.CreateTenant(ctx, "Example Bank", []platform.Fact{platform.FactName, platform.FactBirth})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := p.CreateAPIKey(ctx, ten.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: New(p, opts...), p: p, tenant: ten, key: key}
}

// do serves one request; key "" sends no Authorization.
func (s *testServer) do(method, path, key, ct, body string, hdr ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// wantProblem checks w is a problem document of status and type slug.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int, slug string) Problem {
	t.Helper()
	var p Problem
	if w.Code != status || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s %s, want %d problem %s", w.Code, w.Header().Get("Content-Type"), w.Body, status, slug)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != ProblemBase+slug || p.Status != status {
		t.Fatalf("problem %+v, want %d %s", p, status, slug)
	}
	if p.RequestID == "" || p.RequestID != w.Header().Get("X-Request-Id") {
		t.Errorf("problem request_id %q, header %q", p.RequestID, w.Header().Get("X-Request-Id"))
	}
	return p
}

func TestHealthzAndReadyz(t *testing.T) {
	var notReady error
	s := newTestServer(t, WithReadiness(func(context.Context) error { return notReady }))
	if w := s.do("GET", "/healthz", "", "", ""); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Errorf("healthz: %d %q", w.Code, w.Body)
	}
	if w := s.do("GET", "/readyz", "", "", ""); w.Code != 200 || w.Body.String() != "ready\n" {
		t.Errorf("readyz: %d %q", w.Code, w.Body)
	}
	notReady = errors.New("the sign CRL is stale")
	w := s.do("GET", "/readyz", "", "", "")
	p := wantProblem(t, w, 503, "not-ready")
	if p.Detail != "the sign CRL is stale" || w.Header().Get("Retry-After") != "5" {
		t.Errorf("readyz while failing: %+v, Retry-After %q", p, w.Header().Get("Retry-After"))
	}
	// Liveness does not depend on readiness.
	if w := s.do("GET", "/healthz", "", "", ""); w.Code != 200 {
		t.Errorf("healthz while not ready: %d", w.Code)
	}
}

func TestRequestIDAndCacheControl(t *testing.T) {
	s := newTestServer(t)
	w := s.do("GET", "/healthz", "", "", "", "X-Request-Id", "trace-123_A.b")
	if got := w.Header().Get("X-Request-Id"); got != "trace-123_A.b" {
		t.Errorf("a well-formed X-Request-Id is kept: got %q", got)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	for _, bad := range []string{"", "has space", "new\nline", "<script>", strings.Repeat("a", 65)} {
		w := s.do("GET", "/healthz", "", "", "", "X-Request-Id", bad)
		got := w.Header().Get("X-Request-Id")
		if got == bad || len(got) != 16 || strings.Trim(got, "0123456789abcdef") != "" {
			t.Errorf("X-Request-Id %q: answered %q, want a fresh 16-hex id", bad, got)
		}
	}
	a, b := s.do("GET", "/healthz", "", "", ""), s.do("GET", "/healthz", "", "", "")
	if a.Header().Get("X-Request-Id") == b.Header().Get("X-Request-Id") {
		t.Error("two requests got the same id")
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	s := newTestServer(t)
	p := wantProblem(t, s.do("GET", "/v1/nothing-here", "", "", ""), 404, "not-found")
	if !strings.Contains(p.Detail, "GET /v1/nothing-here") {
		t.Errorf("detail %q", p.Detail)
	}
	w := s.do("DELETE", "/v1/tenant", s.key, "", "")
	wantProblem(t, w, 405, "method-not-allowed")
	if got := w.Header().Get("Allow"); got != "GET, HEAD, PATCH" {
		t.Errorf("Allow = %q", got)
	}
	w = s.do("PUT", "/healthz", "", "", "")
	wantProblem(t, w, 405, "method-not-allowed")
	if got := w.Header().Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow = %q", got)
	}
}

func TestTenantAuthentication(t *testing.T) {
	s := newTestServer(t)
	for name, key := range map[string]string{
		"none":    "",
		"unknown": "mgk_0000000000000000_notakey",
		"garbled": "not-a-key",
	} {
		w := s.do("GET", "/v1/tenant", key, "", "")
		wantProblem(t, w, 401, "unauthorized")
		if w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", name)
		}
	}
	w := s.do("GET", "/v1/tenant", s.key, "", "")
	var v TenantView
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &v) != nil || v.ID != s.tenant.ID || v.Name != "Example Bank" || len(v.Facts) != 2 {
		t.Fatalf("GET /v1/tenant: %d %s", w.Code, w.Body)
	}
	mw := httptest.NewRecorder()
	s.Metrics().ServeHTTP(mw, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range []string{
		`mynagate_http_requests_total{route="GET /v1/tenant",status="200"} 1`,
		`mynagate_http_requests_total{route="GET /v1/tenant",status="401"} 3`,
	} {
		if !strings.Contains(mw.Body.String(), line+"\n") {
			t.Errorf("metrics lack %s", line)
		}
	}
}

func TestBodyLimits(t *testing.T) {
	s := newTestServer(t)
	big := `{"facts":["` + strings.Repeat("a", MaxBody) + `"]}`
	// A declared length over the limit is refused before any handler (and any authentication).
	wantProblem(t, s.do("PATCH", "/v1/tenant", "", "application/json", big), 413, "body-too-large")
	// A body without a declared length is cut off while it is read.
	for _, hdr := range [][]string{nil, {"Idempotency-Key", "k-big"}} {
		r := httptest.NewRequest("PATCH", "/v1/tenant", strings.NewReader(big))
		r.ContentLength = -1
		r.Header.Set("Authorization", "Bearer "+s.key)
		r.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		wantProblem(t, w, 413, "body-too-large")
	}
	// Exactly at the limit is not too large (it is still a wrong body).
	atLimit := `{"facts":["` + strings.Repeat("a", MaxBody-14) + `"]}`
	if len(atLimit) != MaxBody {
		t.Fatalf("len %d", len(atLimit))
	}
	w := s.do("PATCH", "/v1/tenant", s.key, "application/json", atLimit)
	if w.Code == 413 {
		t.Errorf("a body of exactly MaxBody bytes was refused as too large")
	}
}

func TestPatchTenantValidation(t *testing.T) {
	s := newTestServer(t)
	wantProblem(t, s.do("PATCH", "/v1/tenant", s.key, "text/plain", `{"facts":["name"]}`), 415, "unsupported-media-type")
	wantProblem(t, s.do("PATCH", "/v1/tenant", s.key, "application/json", `{"facts":["name"],"name":"Evil Corp"}`), 400, "invalid-request")
	wantProblem(t, s.do("PATCH", "/v1/tenant", s.key, "application/json", `{}`), 400, "invalid-request")
	w := s.do("PATCH", "/v1/tenant", s.key, "application/json", `{"facts":["name"]}`)
	var v TenantView
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &v) != nil || len(v.Facts) != 1 || v.Facts[0] != platform.FactName {
		t.Fatalf("narrowing: %d %s", w.Code, w.Body)
	}
}

func TestRateLimits(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
	s := newTestServer(t, WithRateLimits(RateLimits{IPHolder: Limit{Rate: 0.5, Burst: 2}, IPSessions: Limit{Rate: 1, Burst: 1}, Now: clk.Now}))
	holder := func(addr string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/v1/holder/sessions/s_0000000000000000?token=x", nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	for i := range 2 {
		if w := holder("192.0.2.1:1000"); w.Code == 429 {
			t.Fatalf("request %d within the burst was limited", i)
		}
	}
	w := holder("192.0.2.1:1001") // another port, the same address
	wantProblem(t, w, 429, "rate-limited")
	if got := w.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (one token at 0.5/s)", got)
	}
	if w := holder("192.0.2.2:1000"); w.Code == 429 {
		t.Error("another address shares the bucket")
	}
	clk.Advance(2 * time.Second)
	if w := holder("192.0.2.1:1000"); w.Code == 429 {
		t.Error("still limited after the bucket refilled")
	}
	// The session bucket is limited before the API key is looked up.
	r := httptest.NewRequest("POST", "/v1/sessions", strings.NewReader(`{}`))
	r.RemoteAddr = "198.51.100.7:5"
	s.ServeHTTP(httptest.NewRecorder(), r)
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r.Clone(context.Background()))
	wantProblem(t, w, 429, "rate-limited")
}

func TestKeyedLimiterOff(t *testing.T) {
	if k := newKeyed(Limit{Rate: 0, Burst: 10}); k != nil {
		t.Fatal("a zero rate makes a limiter")
	}
	var k *keyed
	if d := k.wait("x", time.Now()); d != 0 {
		t.Fatalf("an absent limiter waits %v", d)
	}
}

func TestClientAddr(t *testing.T) {
	for addr, want := range map[string]string{"192.0.2.1:443": "192.0.2.1", "[2001:db8::1]:80": "2001:db8::1", "pipe": "pipe"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		if got := clientAddr(r); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", addr, got, want)
		}
	}
}

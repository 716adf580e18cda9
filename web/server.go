// Package web is mynagate's HTTP interface: the /v1 API for relying parties and for the holder's
// app, RFC 9457 problem documents, health and readiness, Prometheus metrics, and one structured
// log line per request.
//
// It decodes, authenticates and encodes; every decision is package platform's. It holds no keys
// and no SQL, and is the only package that maps platform error kinds to HTTP statuses.
package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/mynagate/mynagate/platform"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/skip2/go-qrcode"
)

// MaxBody bounds every request body (a certificate and a signature fit in a few kilobytes).
const MaxBody = 64 << 10

// Server serves the HTTP interface.
type Server struct {
	p           *platform.Platform
	mux         *http.ServeMux
	ready       func(context.Context) error
	reg         *prometheus.Registry
	reqs        *prometheus.CounterVec
	dur         *prometheus.HistogramVec
	verifs      *prometheus.CounterVec
	extraRoutes []func(*http.ServeMux)
	limits      *limiters // nil: no rate limits (ratelimit.go)
}

// Option configures a Server.
type Option func(*Server)

// WithReadiness sets the check behind /readyz (serve: database, J-LIS CRLs, evidence log); the
// server answers 503 with its error while it fails.
func WithReadiness(f func(context.Context) error) Option { return func(s *Server) { s.ready = f } }

// WithCollectors registers more Prometheus collectors on /metrics (e.g. CRL freshness).
func WithCollectors(cs ...prometheus.Collector) Option {
	return func(s *Server) { s.reg.MustRegister(cs...) }
}

// Metrics is the Prometheus handler of the server's registry. It is never on the API handler:
// the counters (routes, statuses, verification reasons, process data) would tell anyone on the
// network the relying parties and holders reach how the platform is used; the operator serves
// it on a listener of its own (mynagate serve --metrics-addr).
func (s *Server) Metrics() http.Handler { return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}) }

// WithRoutes lets other packages (the OIDC provider, the console) add routes.
func WithRoutes(f func(*http.ServeMux)) Option {
	return func(s *Server) { s.extraRoutes = append(s.extraRoutes, f) }
}

// WithTenantRoutes lets another package (the OpenID provider's client registration) add routes
// behind the tenant's API key: add gets the mux and auth, which wraps a handler with the
// server's API-key authentication and turns the error it returns into a problem document. A
// POST must be application/json (415) and honours an Idempotency-Key (idempotent).
func WithTenantRoutes(add func(m *http.ServeMux, auth func(func(http.ResponseWriter, *http.Request, *platform.Tenant) error) http.HandlerFunc)) Option {
	return func(s *Server) {
		s.extraRoutes = append(s.extraRoutes, func(m *http.ServeMux) {
			add(m, func(h func(http.ResponseWriter, *http.Request, *platform.Tenant) error) http.HandlerFunc {
				run := func(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
					if err := h(w, r, t); err != nil {
						writeProblem(w, r, err, "")
					}
				}
				return s.tenant(func(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
					if r.Method != http.MethodPost {
						run(w, r, t)
						return
					}
					// A POST is JSON, and honours an Idempotency-Key, as the API's own POSTs.
					if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
						writeProblem(w, r, &platform.Error{Kind: platform.KindUnsupportedMedia, Type: "unsupported-media-type",
							Detail: fmt.Sprintf("request bodies are JSON: send Content-Type: application/json, not %q", r.Header.Get("Content-Type"))}, "")
						return
					}
					s.idempotent(run)(w, r, t)
				})
			})
		})
	}
}

// New returns the server for a platform.
func New(p *platform.Platform, opts ...Option) *Server {
	s := &Server{p: p, mux: http.NewServeMux(), reg: prometheus.NewRegistry(), ready: func(context.Context) error { return nil }}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mynagate_http_requests_total", Help: "HTTP requests by route and status."}, []string{"route", "status"})
	s.dur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mynagate_http_request_duration_seconds", Help: "HTTP request duration by route.", Buckets: prometheus.DefBuckets}, []string{"route"})
	s.verifs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mynagate_verifications_total", Help: "Completed verifications by purpose, decision and reason."}, []string{"purpose", "decision", "reason"})
	s.reg.MustRegister(s.reqs, s.dur, s.verifs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range opts {
		o(s)
	}
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	m.HandleFunc("GET /readyz", s.readyz)
	m.HandleFunc("POST /v1/sessions", s.limitIP(ipSessions, "sessions", s.tenant(s.createSession)))
	m.HandleFunc("GET /v1/sessions/{id}", s.tenant(s.getSession))
	m.HandleFunc("GET /v1/sessions/{id}/qr.png", s.tenant(s.sessionQR))
	m.HandleFunc("GET /v1/verifications/{id}", s.tenant(s.getVerification))
	m.HandleFunc("GET /v1/usage", s.tenant(s.usage))
	m.HandleFunc("GET /v1/tenant/card-key", s.tenant(s.cardKey))
	m.HandleFunc("GET /v1/holder/sessions/{id}", s.limitIP(ipHolder, "holder requests", s.holderGet))
	m.HandleFunc("POST /v1/holder/sessions/{id}", s.limitIP(ipHolder, "holder requests", s.holderPost))
	s.evidenceRoutes(m)
	s.tenantRoutes(m) // tenant.go
	s.notifyRoutes(m) // webhooks.go
	for _, f := range s.extraRoutes {
		f(m)
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, r, &platform.Error{Kind: platform.KindMethodNotAllowed, Type: "method-not-allowed",
				Detail: fmt.Sprintf("%s does not take %s; it takes %s", r.URL.Path, r.Method, strings.Join(allow, ", "))}, "")
			return
		}
		writeProblem(w, r, &platform.Error{Kind: platform.KindNotFound, Type: "not-found", Detail: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)}, "")
	})
	return s
}

// allowed lists the methods the request's path takes, for a 405's Allow header; none when no
// route has the path. (The catch-all "/" matches every method, so ServeMux's own 405 never
// comes.)
func (s *Server) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := *r
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); m != r.Method && pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyTenant
)

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

// recorder captures what the request log line and metrics need.
type recorder struct {
	http.ResponseWriter
	status  int
	problem string
	tenant  string
}

func (w *recorder) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the connection (flushes of server-sent events).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush through (wrappers that look for http.Flusher, such as web/ui's).
func (w *recorder) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// ServeHTTP adds a request id, bounds the body, and writes one log line per request (boulder's
// RequestEvent): method, route, status, problem type, tenant, duration.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 64 || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.") != "" {
		b := make([]byte, 8)
		rand.Read(b)
		id = hex.EncodeToString(b)
	}
	w.Header().Set("X-Request-Id", id)
	// Responses carry holder URLs, facts, pairwise ids and evidence: no cache on the way may
	// keep any of them. A handler serving something public and immutable may say otherwise.
	w.Header().Set("Cache-Control", "no-store")
	r = r.WithContext(context.WithValue(r.Context(), keyRequestID, id))
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	if r.ContentLength > MaxBody {
		writeProblem(rec, r, &platform.Error{Kind: platform.KindTooLarge, Type: "body-too-large", Detail: fmt.Sprintf("request bodies are at most %d bytes", MaxBody)}, "")
	} else {
		s.mux.ServeHTTP(rec, r)
	}
	_, route := s.mux.Handler(r)
	if route == "" || route == "/" {
		route = "unmatched"
	}
	d := time.Since(start)
	s.reqs.WithLabelValues(route, fmt.Sprint(rec.status)).Inc()
	s.dur.WithLabelValues(route).Observe(d.Seconds())
	slog.InfoContext(r.Context(), "request", "request_id", id, "method", r.Method, "route", route, "status", rec.status,
		"problem", rec.problem, "tenant", rec.tenant, "duration_ms", float64(d.Microseconds())/1000)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.ready(r.Context()); err != nil {
		writeProblem(w, r, &platform.Error{Kind: platform.KindUnavailable, Type: "not-ready", Detail: err.Error()}, "")
		return
	}
	io.WriteString(w, "ready\n")
}

// tenant authenticates the API key of the request ("Authorization: Bearer mgk_…").
func (s *Server) tenant(next func(http.ResponseWriter, *http.Request, *platform.Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := bearer(r)
		if err != nil {
			writeProblem(w, r, err, "")
			return
		}
		t, err := s.p.Authenticate(r.Context(), key)
		if err != nil {
			writeProblem(w, r, err, "")
			return
		}
		if rec, ok := w.(*recorder); ok {
			rec.tenant = t.ID
		}
		next(w, r, t)
	}
}

// bearer returns the API key of "Authorization: Bearer <key>" — that form only (RFC 6750
// §2.1; the scheme's case is free, RFC 9110 §11.1): a bare key, another scheme, or spaces or
// anything else around the key are refused, so that one spelling reaches Authenticate.
func bearer(r *http.Request) (string, error) {
	unauthorized := func(detail string) error {
		return &platform.Error{Kind: platform.KindUnauthorized, Type: "unauthorized", Detail: detail}
	}
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", unauthorized("an API key is required: Authorization: Bearer <key>")
	}
	if len(vals) > 1 {
		return "", unauthorized("one Authorization header, please: Authorization: Bearer <key>")
	}
	scheme, key, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || strings.ContainsAny(key, " \t") {
		return "", unauthorized("the Authorization header must be Bearer <key>")
	}
	return key, nil
}

// decode reads a JSON body strictly, within MaxBody: Content-Type application/json (415
// otherwise), one object whose member names are exactly the struct's (case-sensitive), none
// unknown and none twice, valid UTF-8, nothing after it. encoding/json matches names without
// regard to case and keeps the last of duplicate names, so two parsers (a proxy's, a WAF's,
// ours) could read different requests from one body; the JSON v2 decoder refuses both.
func decode(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &platform.Error{Kind: platform.KindUnsupportedMedia, Type: "unsupported-media-type",
			Detail: fmt.Sprintf("request bodies are JSON: send Content-Type: application/json, not %q", r.Header.Get("Content-Type"))}
	}
	if err := jsonv2.UnmarshalRead(r.Body, v, jsonv2.RejectUnknownMembers(true)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &platform.Error{Kind: platform.KindTooLarge, Type: "body-too-large", Detail: fmt.Sprintf("request bodies are at most %d bytes", MaxBody)}
		}
		return invalid("body is not the expected JSON object: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// SessionView is a session as the tenant sees it.
type SessionView struct {
	ID           string            `json:"id"`
	Purpose      platform.Purpose  `json:"purpose"`
	Status       string            `json:"status"`
	HolderURL    string            `json:"holder_url"`
	QRPayload    string            `json:"qr_payload"`
	ExpiresAt    time.Time         `json:"expires_at"`
	CreatedAt    time.Time         `json:"created_at"`
	ClientRef    string            `json:"client_ref,omitempty"`
	Verification *VerificationView `json:"verification,omitempty"`
}

// VerificationView is a verification as the tenant sees it: the pairwise id, never the person.
type VerificationView struct {
	ID        string            `json:"id"`
	SessionID string            `json:"session_id"`
	Purpose   platform.Purpose  `json:"purpose"`
	Decision  platform.Decision `json:"decision"`
	// Limitations mark the weaker chip-reading method: what it does not establish
	// (platform.ChipReadingLimitations); absent on JPKI verifications.
	Limitations []string                 `json:"limitations,omitempty"`
	Reason      string                   `json:"reason,omitempty"`
	Detail      string                   `json:"detail,omitempty"`
	Sub         string                   `json:"sub,omitempty"`
	Facts       map[platform.Fact]string `json:"facts,omitempty"`
	CardID      string                   `json:"card_id,omitempty"` // login only: the tenant's id of the card (platform/cardid.go)
	Cert        *CertView                `json:"certificate,omitempty"`
	Revocation  RevocationView           `json:"revocation"`
	CreatedAt   time.Time                `json:"created_at"`
	// PersonalData is "shredded" once the facts and the certificate were deleted at the end of
	// the tenant's retention (RetainUntil); absent before.
	PersonalData string     `json:"personal_data,omitempty"`
	RetainUntil  *time.Time `json:"retain_until,omitempty"`
}

// CertView identifies the certificate a verification used.
type CertView struct {
	Issuer string `json:"issuer_key_id"`
	Serial string `json:"serial"`
}

// RevocationView says how revocation was checked.
type RevocationView struct {
	Method platform.RevocationMethod `json:"method"`
	Ref    string                    `json:"ref,omitempty"`
}

func (s *Server) sessionView(ctx context.Context, t *platform.Tenant, sess *platform.Session) (*SessionView, error) {
	v := &SessionView{ID: sess.ID, Purpose: sess.Purpose, Status: string(sess.Status), HolderURL: s.p.HolderURL(sess),
		ExpiresAt: sess.ExpiresAt, CreatedAt: sess.CreatedAt, ClientRef: sess.ClientRef}
	v.QRPayload = v.HolderURL
	if sess.Status == platform.SessionPending && !sess.ExpiresAt.After(s.p.Now()) {
		v.Status = "expired"
	}
	if sess.VerificationID != "" {
		ver, err := s.p.Verification(ctx, t, sess.VerificationID)
		if err != nil {
			return nil, err
		}
		v.Verification = s.verificationView(t, ver)
	}
	return v, nil
}

func (s *Server) verificationView(t *platform.Tenant, v *platform.Verification) *VerificationView {
	out := &VerificationView{ID: v.ID, SessionID: v.SessionID, Purpose: v.Purpose, Decision: v.Decision, Limitations: v.Purpose.Limitations(), Reason: v.Reason,
		Detail: v.Detail, Revocation: RevocationView{Method: v.Method, Ref: v.RevocationRef}, CreatedAt: v.CreatedAt}
	if v.CertSerial != "" && t.AllowsCertificateAt(v.CreatedAt) && !v.Shredded {
		out.Cert = &CertView{Issuer: v.CertCA, Serial: v.CertSerial}
	}
	if v.Decision == platform.DecisionAccepted {
		if v.Purpose != platform.PurposeChipReading { // a chip reading's person follows nobody
			out.Sub = s.p.PairwiseID(t.ID, v.PersonID)
		}
		if v.Purpose.HasFacts() && len(v.Facts) > 0 {
			out.Facts = v.Facts
		}
		if v.Purpose == platform.PurposeLogin && !v.Shredded {
			out.CardID = v.CardID
		}
	}
	if !v.RetainUntil.IsZero() {
		out.RetainUntil = &v.RetainUntil
	}
	if v.Shredded {
		out.PersonalData = "shredded"
	}
	return out
}

// CreateSessionRequest is the body of POST /v1/sessions.
type CreateSessionRequest struct {
	Purpose   platform.Purpose `json:"purpose"`
	ClientRef string           `json:"client_ref,omitempty"`
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	if err := s.limitTenantSessions(t); err != nil {
		writeProblem(w, r, err, "")
		return
	}
	var req CreateSessionRequest
	if err := decode(r, &req); err != nil {
		writeProblem(w, r, err, "")
		return
	}
	sess, created, err := s.p.CreateSession(r.Context(), t, platform.SessionRequest{Purpose: req.Purpose, ClientRef: req.ClientRef, IdempotencyKey: r.Header.Get("Idempotency-Key")})
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	v, err := s.sessionView(r.Context(), t, sess)
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	w.Header().Set("Cache-Control", "no-store") // the holder URL carries the holder's token
	w.Header().Set("Location", "/v1/sessions/"+sess.ID)
	writeJSON(w, status, v)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	sess, err := s.p.Session(r.Context(), t, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	v, err := s.sessionView(r.Context(), t, sess)
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Cache-Control", "no-store") // the holder URL carries the holder's token
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) sessionQR(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	sess, err := s.p.Session(r.Context(), t, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	png, err := qrcode.Encode(s.p.HolderURL(sess), qrcode.Medium, 320)
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
}

func (s *Server) getVerification(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	v, err := s.p.Verification(r.Context(), t, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Cache-Control", "no-store") // personal data
	writeJSON(w, http.StatusOK, s.verificationView(t, v))
}

// UsageView is the answer of GET /v1/usage.
type UsageView struct {
	From   string        `json:"from"`
	To     string        `json:"to"`
	Counts []UsageCounts `json:"counts"`
}

// UsageCounts is one counter.
type UsageCounts struct {
	Month   string                    `json:"month"`
	Purpose platform.Purpose          `json:"purpose"`
	Method  platform.RevocationMethod `json:"method"`
	Count   int64                     `json:"count"`
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
	us, from, to, err := s.p.Usage(r.Context(), t, from, to)
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	out := UsageView{From: from, To: to, Counts: []UsageCounts{}}
	for _, u := range us {
		out.Counts = append(out.Counts, UsageCounts{Month: u.Month, Purpose: u.Purpose, Method: u.Method, Count: u.Count})
	}
	writeJSON(w, http.StatusOK, out)
}

// CardKeyView is the answer of GET /v1/tenant/card-key.
type CardKeyView struct {
	Format string `json:"format"`
	Key    []byte `json:"key"`
}

// cardKey gives the tenant its card key, with which its gates compute the card_id of a login
// verification from the certificate a tapped card presents (platform/cardid.go).
func (s *Server) cardKey(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	key, err := s.p.CardKey(t.ID)
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusOK, CardKeyView{Format: "mynagate-card-id-v1", Key: key})
}

// HolderChallenge is what the holder's app gets for a session.
type HolderChallenge struct {
	ID         string           `json:"id"`
	Purpose    platform.Purpose `json:"purpose"`
	TenantName string           `json:"tenant_name"`
	// Challenge is the exact bytes to sign (base64): sign SHA-256 DigestInfo of them with the
	// signing key for identity, the authentication key for login.
	Challenge string          `json:"challenge"`
	Facts     []platform.Fact `json:"facts,omitempty"`
	ExpiresAt time.Time       `json:"expires_at"`
	Status    string          `json:"status"`
	// PlatformSignature is the platform's Ed25519 signature over the challenge bytes, for
	// holders that pin PlatformKey (docs/design/challenge.md); both base64.
	PlatformSignature []byte `json:"platform_signature,omitempty"`
	PlatformKey       []byte `json:"platform_key,omitempty"`
}

func (s *Server) holderGet(w http.ResponseWriter, r *http.Request) {
	sess, t, err := s.p.HolderSession(r.Context(), r.PathValue("id"), r.URL.Query().Get("token"))
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	h := HolderChallenge{ID: sess.ID, Purpose: sess.Purpose, TenantName: t.Name, Challenge: base64.StdEncoding.EncodeToString(sess.Challenge()),
		ExpiresAt: sess.ExpiresAt, Status: string(sess.Status), PlatformSignature: s.p.SignChallenge(sess), PlatformKey: s.p.ChallengePublicKey()}
	if sess.Status == platform.SessionPending && !sess.ExpiresAt.After(s.p.Now()) {
		h.Status = "expired" // as the tenant's view says; answering would only earn a 410
	}
	w.Header().Set("Cache-Control", "no-store")
	if sess.Purpose.HasFacts() {
		h.Facts = t.Facts
	}
	writeJSON(w, http.StatusOK, h)
}

// HolderAnswer is the body of POST /v1/holder/sessions/{id}.
type HolderAnswer struct {
	Token       string `json:"token"`
	Certificate []byte `json:"certificate,omitempty"` // DER, base64 in JSON
	Signature   []byte `json:"signature,omitempty"`   // base64 in JSON
	// CardData answers a chip_reading session instead of Certificate and Signature, with
	// Challenge, the session's challenge bytes echoed (base64).
	CardData  *CardDataAnswer `json:"card_data,omitempty"`
	Challenge []byte          `json:"challenge,omitempty"`
	// Consent lists the scopes the holder grants the tenant with this verification, e.g.
	// ["basic4_updates"] (identity only).
	Consent []string `json:"consent,omitempty"`
}

// CardDataAnswer is the 券面事項入力補助AP's files as the holder's app read them (base64).
type CardDataAnswer struct {
	Basic4      []byte `json:"basic4"`      // EF 0002
	Signature   []byte `json:"signature"`   // EF 0003
	Certificate []byte `json:"certificate"` // EF 0004
}

// HolderResult is the answer to the holder.
type HolderResult struct {
	SessionID      string            `json:"session_id"`
	VerificationID string            `json:"verification_id"`
	Decision       platform.Decision `json:"decision"`
	TenantName     string            `json:"tenant_name"`
}

func (s *Server) holderPost(w http.ResponseWriter, r *http.Request) {
	var a HolderAnswer
	if err := decode(r, &a); err != nil {
		writeProblem(w, r, err, "")
		return
	}
	if a.Token == "" {
		a.Token = r.URL.Query().Get("token")
	}
	ans := platform.Answer{Certificate: a.Certificate, Signature: a.Signature, Consent: a.Consent, Challenge: a.Challenge}
	if a.CardData != nil {
		ans.CardData = &platform.CardData{Basic4: a.CardData.Basic4, Signature: a.CardData.Signature, Cert: a.CardData.Certificate}
	}
	// The platform checks the answer's shape against the session's purpose (certificate and
	// signature, or card data and the challenge).
	v, err := s.p.Complete(r.Context(), r.PathValue("id"), a.Token, ans)
	if v != nil {
		s.verifs.WithLabelValues(string(v.Purpose), string(v.Decision), v.Reason).Inc()
	}
	if err != nil {
		vid := ""
		if v != nil {
			vid = v.ID
		}
		writeProblem(w, r, err, vid)
		return
	}
	t, _ := s.p.Tenant(r.Context(), v.TenantID) // cached: no second read of the session
	name := ""
	if t != nil {
		name = t.Name
	}
	writeJSON(w, http.StatusOK, HolderResult{SessionID: v.SessionID, VerificationID: v.ID, Decision: v.Decision, TenantName: name})
}

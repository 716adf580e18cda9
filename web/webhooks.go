package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/mynagate/mynagate/platform"
)

// The routes of revocation notification (証明書失効通知管理): tenants manage webhook endpoints,
// look at deliveries and redeliver, and stop watching persons; holders list and revoke the
// consents they gave, proving themselves with the card's authentication key.

// notifyRoutes registers the routes of this file; New calls it.
func (s *Server) notifyRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /v1/webhooks/endpoints", s.tenant(s.idempotent(s.createEndpoint)))
	m.HandleFunc("GET /v1/webhooks/endpoints", s.tenant(s.listEndpoints))
	m.HandleFunc("GET /v1/webhooks/endpoints/{id}", s.tenant(s.getEndpoint))
	m.HandleFunc("DELETE /v1/webhooks/endpoints/{id}", s.tenant(s.disableEndpoint))
	m.HandleFunc("POST /v1/webhooks/endpoints/{id}/rotate", s.tenant(s.idempotent(s.rotateSecret)))
	m.HandleFunc("POST /v1/webhooks/endpoints/{id}/redeliver", s.tenant(s.idempotent(s.redeliverDead)))
	m.HandleFunc("GET /v1/webhooks/deliveries", s.tenant(s.listDeliveries))
	m.HandleFunc("POST /v1/events/{id}/redeliver", s.tenant(s.idempotent(s.redeliverEvent)))
	m.HandleFunc("GET /v1/watches/{sub}", s.tenant(s.getWatch))
	m.HandleFunc("GET /v1/watches/{sub}/basic4", s.tenant(s.latestFacts))
	m.HandleFunc("DELETE /v1/watches/{sub}", s.tenant(s.stopWatch))
	m.HandleFunc("POST /v1/holder/consents/challenge", s.limitIP(ipHolder, "holder requests", s.holderConsentChallenge))
	m.HandleFunc("POST /v1/holder/consents/query", s.limitIP(ipHolder, "holder requests", s.holderConsents))
	m.HandleFunc("POST /v1/holder/consents/revoke", s.limitIP(ipHolder, "holder requests", s.holderRevokeConsent))
}

// EndpointRequest is the body of POST /v1/webhooks/endpoints.
type EndpointRequest struct {
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	EventTypes  []string `json:"event_types,omitempty"` // empty: every type
}

// EndpointView is a webhook endpoint as its tenant sees it (never its secret).
type EndpointView struct {
	ID          string     `json:"id"`
	URL         string     `json:"url"`
	Description string     `json:"description,omitempty"`
	EventTypes  []string   `json:"event_types"`
	CreatedAt   time.Time  `json:"created_at"`
	DisabledAt  *time.Time `json:"disabled_at,omitempty"`
}

// CreatedEndpoint is the answer to POST /v1/webhooks/endpoints: the endpoint and its signing
// secret, shown this once.
type CreatedEndpoint struct {
	Endpoint EndpointView `json:"endpoint"`
	Secret   string       `json:"secret"`
}

func endpointView(e *platform.WebhookEndpoint) EndpointView {
	types := e.EventTypes
	if types == nil {
		types = []string{}
	}
	return EndpointView{ID: e.ID, URL: e.URL, Description: e.Description, EventTypes: types, CreatedAt: e.CreatedAt, DisabledAt: e.DisabledAt}
}

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	var req EndpointRequest
	if err := decode(r, &req); err != nil {
		writeProblem(w, r, err, "")
		return
	}
	e, secret, err := s.p.CreateWebhookEndpoint(r.Context(), t, platform.WebhookEndpointRequest{URL: req.URL, Description: req.Description, EventTypes: req.EventTypes})
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Location", "/v1/webhooks/endpoints/"+e.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, CreatedEndpoint{Endpoint: endpointView(e), Secret: secret})
}

// EndpointList is the answer to GET /v1/webhooks/endpoints.
type EndpointList struct {
	Endpoints []EndpointView `json:"endpoints"`
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	es, err := s.p.WebhookEndpoints(r.Context(), t)
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	out := EndpointList{Endpoints: []EndpointView{}}
	for i := range es {
		out.Endpoints = append(out.Endpoints, endpointView(&es[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	e, err := s.p.WebhookEndpoint(r.Context(), t, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusOK, endpointView(e))
}

func (s *Server) disableEndpoint(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	if err := s.p.DisableWebhookEndpoint(r.Context(), t, r.PathValue("id")); err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RotateRequest is the body of POST /v1/webhooks/endpoints/{id}/rotate.
type RotateRequest struct {
	// GraceSeconds is how long the previous secret keeps signing (default 86400; 0 retires it
	// at once; at most 7 days).
	GraceSeconds *int64 `json:"grace_seconds,omitempty"`
}

// RotatedSecret is the answer to a rotation: the new secret, shown this once.
type RotatedSecret struct {
	Secret string `json:"secret"`
	// PreviousValidUntil is when messages stop carrying a signature by the previous secret.
	PreviousValidUntil time.Time `json:"previous_valid_until"`
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	var req RotateRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			writeProblem(w, r, err, "")
			return
		}
	}
	grace := 24 * time.Hour
	if req.GraceSeconds != nil {
		if *req.GraceSeconds < 0 || *req.GraceSeconds > int64(platform.MaxRotationGrace/time.Second) {
			writeProblem(w, r, invalid("grace_seconds is 0 to %d", int64(platform.MaxRotationGrace/time.Second)), "")
			return
		}
		grace = time.Duration(*req.GraceSeconds) * time.Second
	}
	secret, until, err := s.p.RotateWebhookSecret(r.Context(), t, r.PathValue("id"), grace)
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, RotatedSecret{Secret: secret, PreviousValidUntil: until})
}

// Redelivered is the answer to a redelivery.
type Redelivered struct {
	Queued int `json:"queued"` // deliveries queued again
}

func (s *Server) redeliverDead(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	n, err := s.p.RedeliverDead(r.Context(), t, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusAccepted, Redelivered{Queued: n})
}

func (s *Server) redeliverEvent(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	n, err := s.p.RedeliverEvent(r.Context(), t, r.PathValue("id"), r.URL.Query().Get("endpoint"))
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusAccepted, Redelivered{Queued: n})
}

// DeliveryView is one event's delivery to one endpoint.
type DeliveryView struct {
	EventID       string     `json:"event_id"` // the webhook-id of every attempt
	EventType     string     `json:"event_type"`
	EndpointID    string     `json:"endpoint_id"`
	State         string     `json:"state"` // pending, delivered, dead
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	LastStatus    int        `json:"last_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

// DeliveryList is the answer to GET /v1/webhooks/deliveries.
type DeliveryList struct {
	Deliveries []DeliveryView `json:"deliveries"`
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	q := r.URL.Query()
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			writeProblem(w, r, invalid("limit is 1 to 100"), "")
			return
		}
		limit = n
	}
	ds, err := s.p.Deliveries(r.Context(), t, platform.DeliveryQuery{State: platform.DeliveryState(q.Get("state")),
		EndpointID: q.Get("endpoint"), EventID: q.Get("event"), Limit: limit})
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	out := DeliveryList{Deliveries: []DeliveryView{}}
	for _, d := range ds {
		v := DeliveryView{EventID: d.EventID, EventType: d.EventType, EndpointID: d.EndpointID, State: string(d.State), Attempts: d.Attempts,
			LastAttemptAt: d.LastAttemptAt, LastStatus: d.LastStatus, LastError: d.LastError, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
		if d.State == platform.DeliveryPending {
			next := d.NextAttemptAt
			v.NextAttemptAt = &next
		}
		out.Deliveries = append(out.Deliveries, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// WatchView is a tenant's watch on a person.
type WatchView struct {
	Sub      string     `json:"sub"`
	Watching bool       `json:"watching"`
	Since    *time.Time `json:"since,omitempty"` // latest verification
	Consents []string   `json:"consents"`        // scopes in force, e.g. basic4_updates
}

func (s *Server) getWatch(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	st, err := s.p.Watch(r.Context(), t, r.PathValue("sub"))
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	v := WatchView{Sub: st.Sub, Watching: st.Watching, Consents: st.Consents}
	if st.Watching {
		v.Since = &st.Since
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) stopWatch(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	if err := s.p.StopWatching(r.Context(), t, r.PathValue("sub")); err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// HolderConsentChallenge is what the holder signs (with HolderMessage's framing) to list or
// revoke consents.
type HolderConsentChallenge struct {
	Challenge []byte    `json:"challenge"` // base64 in JSON
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) holderConsentChallenge(w http.ResponseWriter, r *http.Request) {
	c, exp, err := s.p.HolderChallenge()
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, HolderConsentChallenge{Challenge: c, ExpiresAt: exp})
}

// HolderProofRequest is the body of POST /v1/holder/consents/query and, with the tenant and
// scope, of POST /v1/holder/consents/revoke: the card's authentication certificate and its
// signature over "mynagate-holder/v1" NUL action NUL tenant NUL scope NUL challenge, where
// action is consents.list or consents.revoke (tenant and scope empty for a list).
type HolderProofRequest struct {
	Certificate []byte `json:"certificate"`
	Signature   []byte `json:"signature"`
	Challenge   []byte `json:"challenge"`
	TenantID    string `json:"tenant_id,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// HolderConsentView is a consent as its holder sees it.
type HolderConsentView struct {
	TenantID   string     `json:"tenant_id"`
	TenantName string     `json:"tenant_name"`
	Scope      string     `json:"scope"`
	GrantedAt  time.Time  `json:"granted_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// HolderConsentList is the answer to POST /v1/holder/consents/query.
type HolderConsentList struct {
	Consents []HolderConsentView `json:"consents"`
}

// HolderRevoked is the answer to POST /v1/holder/consents/revoke.
type HolderRevoked struct {
	Revoked int `json:"revoked"` // grants ended; 0 when none was in force
}

func (s *Server) holderProof(w http.ResponseWriter, r *http.Request) (*HolderProofRequest, bool) {
	var req HolderProofRequest
	if err := decode(r, &req); err != nil {
		writeProblem(w, r, err, "")
		return nil, false
	}
	if len(req.Certificate) == 0 || len(req.Signature) == 0 || len(req.Challenge) == 0 {
		writeProblem(w, r, invalid("certificate, signature and challenge are required (base64)"), "")
		return nil, false
	}
	return &req, true
}

func (s *Server) holderConsents(w http.ResponseWriter, r *http.Request) {
	req, ok := s.holderProof(w, r)
	if !ok {
		return
	}
	cs, err := s.p.HolderConsents(r.Context(), platform.HolderProof{Certificate: req.Certificate, Signature: req.Signature, Challenge: req.Challenge})
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	out := HolderConsentList{Consents: []HolderConsentView{}}
	for _, c := range cs {
		out.Consents = append(out.Consents, HolderConsentView{TenantID: c.TenantID, TenantName: c.TenantName, Scope: c.Scope, GrantedAt: c.GrantedAt, RevokedAt: c.RevokedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) holderRevokeConsent(w http.ResponseWriter, r *http.Request) {
	req, ok := s.holderProof(w, r)
	if !ok {
		return
	}
	n, err := s.p.RevokeHolderConsent(r.Context(), platform.HolderProof{Certificate: req.Certificate, Signature: req.Signature, Challenge: req.Challenge},
		req.TenantID, req.Scope)
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusOK, HolderRevoked{Revoked: n})
}

package platform

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/webhook"
)

// Event types the platform emits. Payloads are JSON objects {"type", "timestamp", "data"}.
const (
	// EventVerificationCompleted: a verification session ended (accepted or rejected).
	EventVerificationCompleted = "verification.completed"
	// EventCertificateRevoked: a certificate of a person the tenant watches appeared on a CRL.
	EventCertificateRevoked = "certificate.revoked"
	// EventBasic4Updated: after a revocation for a change of the basic 4 facts (異動), the
	// latest facts the tenant may see; only to tenants holding the holder's consent.
	EventBasic4Updated = "person.basic4_updated"
)

// EventTypes lists every event type, for validation and documentation.
var EventTypes = []string{EventVerificationCompleted, EventCertificateRevoked, EventBasic4Updated}

// WebhookEndpoint is a URL where a tenant receives its events.
type WebhookEndpoint struct {
	ID          string     // "we_" + 16 hex digits
	TenantID    string     // owner
	URL         string     // http or https
	Description string     // the tenant's label
	EventTypes  []string   // the types sent there; empty means every type
	CreatedAt   time.Time  // creation time
	DisabledAt  *time.Time // nil while events are sent there
}

// Wants reports whether the endpoint receives events of type typ.
func (e *WebhookEndpoint) Wants(typ string) bool {
	return e.DisabledAt == nil && (len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, typ))
}

// WebhookSecret is one signing secret of an endpoint, sealed under a key derived from the
// platform's master secret: the platform signs with it, so it cannot be stored hashed.
type WebhookSecret struct {
	ID         string     // "wsk_" + 16 hex digits
	EndpointID string     // endpoint
	Sealed     []byte     // nonce || AES-256-GCM(key) with the endpoint and secret ids as data
	CreatedAt  time.Time  // creation time
	ExpiresAt  *time.Time // nil for the current secret; set when rotated out
}

// DeliveryState is the state of one event's delivery to one endpoint.
type DeliveryState string

// Delivery states. A delivery starts pending and ends delivered, or dead after its last try; a
// redelivery makes it pending again.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryDead      DeliveryState = "dead"
)

// Delivery is one event to one endpoint.
type Delivery struct {
	ID            int64 // storage key
	EventID       string
	EventType     string
	EventSeq      int64  // outbox order
	Payload       []byte // the exact bytes signed and sent
	EndpointID    string
	URL           string
	TenantID      string
	State         DeliveryState
	Attempts      int       // attempts so far, the one in progress included
	NextAttemptAt time.Time // when it is due, or when the lease of the worker holding it ends
	Claim         string    // token of the worker holding it
	LastAttemptAt *time.Time
	LastStatus    int // HTTP status of the last attempt; 0 when there was no answer
	LastError     string
	DeliveredAt   *time.Time
	CreatedAt     time.Time
}

// DeliveryOutcome is what one attempt came to.
type DeliveryOutcome struct {
	ID    int64         // the delivery
	Claim string        // the token it was claimed with; the outcome is dropped if it changed
	State DeliveryState // delivered, pending (retry at NextAttemptAt) or dead
	At    time.Time     // end of the attempt
	// NextAttemptAt is when to retry (State pending).
	NextAttemptAt time.Time
	Status        int    // HTTP status, 0 without an answer
	Error         string // why it failed; empty when delivered
}

// DeliveryQuery filters Deliveries.
type DeliveryQuery struct {
	State      DeliveryState // empty: any
	EndpointID string        // empty: any
	EventID    string        // empty: any
	Limit      int           // at most this many, newest first (default and maximum 100)
}

// WebhookStorage is the part of Storage behind webhooks; package delivery uses it through
// Platform.Webhooks.
type WebhookStorage interface {
	// CreateWebhookEndpoint stores an endpoint with its first secret in one transaction.
	// ErrNotFound if the tenant is unknown, ErrConflict if an id exists.
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint, s WebhookSecret) error
	// WebhookEndpoints lists a tenant's endpoints, oldest first, disabled ones included.
	WebhookEndpoints(ctx context.Context, tenantID string) ([]WebhookEndpoint, error)
	// WebhookEndpoint returns one endpoint of a tenant. ErrNotFound if unknown or another
	// tenant's.
	WebhookEndpoint(ctx context.Context, tenantID, id string) (*WebhookEndpoint, error)
	// DisableWebhookEndpoint stops sending to an endpoint; its pending deliveries are dropped
	// (marked dead). ErrNotFound if unknown or another tenant's, ErrConflict if already disabled.
	DisableWebhookEndpoint(ctx context.Context, tenantID, id string, at time.Time) error
	// RotateWebhookSecret adds next as the endpoint's current secret in one transaction: the
	// secret current until now expires at retireAt, and a secret that was already expiring
	// expires at once, so that at most two secrets are ever valid. ErrNotFound if the endpoint is
	// unknown, another tenant's or disabled.
	RotateWebhookSecret(ctx context.Context, tenantID, endpointID string, next WebhookSecret, retireAt time.Time) error
	// WebhookSecrets returns the secrets of an endpoint valid at t (no expiry, or expiring after
	// t), newest first.
	WebhookSecrets(ctx context.Context, endpointID string, t time.Time) ([]WebhookSecret, error)
	// DispatchEvents hands undispatched events, oldest first, to the endpoints of their tenants
	// that want them (one pending delivery each, due at once) and marks them dispatched, in one
	// transaction: up to limit events of the outbox. An event of a tenant without endpoints is
	// dispatched to none. It returns how many events it dispatched (0 when
	// none was waiting). Concurrent callers (several nodes) never dispatch one event twice.
	DispatchEvents(ctx context.Context, at time.Time, limit int) (int, error)
	// ClaimDeliveries claims up to limit pending deliveries due at `at`, oldest event first,
	// skipping any whose endpoint has an earlier pending delivery — or an undispatched earlier
	// event — with the same ordering key (so one person's events arrive in order). A claim counts
	// an attempt, writes the claim token and moves NextAttemptAt to leaseUntil: if the claimer
	// dies, the delivery becomes due again then. Concurrent claimers never claim one delivery
	// twice (SKIP LOCKED on PostgreSQL, the single writer on SQLite).
	ClaimDeliveries(ctx context.Context, at, leaseUntil time.Time, claim string, limit int) ([]Delivery, error)
	// FinishDeliveries records outcomes in one transaction. An outcome whose delivery no longer
	// carries its claim token (the lease ended and another worker took it over) is ignored.
	FinishDeliveries(ctx context.Context, outcomes []DeliveryOutcome) error
	// RedeliverEvent makes the deliveries of one of a tenant's events pending again, due at
	// `at`, with their attempts reset — to one endpoint, or to every enabled endpoint of the
	// tenant that wants the event when endpointID is empty (creating deliveries missing for
	// endpoints added since). It returns how many it queued. ErrNotFound if the event is not the
	// tenant's or the endpoint is unknown.
	RedeliverEvent(ctx context.Context, tenantID, eventID, endpointID string, at time.Time) (int, error)
	// RedeliverDead makes every dead delivery of an endpoint pending again, as RedeliverEvent.
	RedeliverDead(ctx context.Context, tenantID, endpointID string, at time.Time) (int, error)
	// Deliveries lists a tenant's deliveries, newest first.
	Deliveries(ctx context.Context, tenantID string, q DeliveryQuery) ([]Delivery, error)
}

// Webhooks returns the store's webhook records (for package delivery): an error if the master
// secret that seals webhook secrets is missing.
func (p *Platform) Webhooks() (WebhookStorage, error) {
	if p.keys == nil {
		return nil, internal(errors.New("platform: webhooks need the master secret (WithMaster) to seal their secrets"))
	}
	return p.store, nil
}

// WebhookEndpointRequest is what a tenant asks for.
type WebhookEndpointRequest struct {
	URL         string
	Description string
	EventTypes  []string // empty: every type
}

// endpointHost is the host of a URL validEndpoint accepted, without port.
func endpointSchemeHost(raw string) (string, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", ""
	}
	return u.Scheme, u.Hostname()
}

func validEndpoint(req WebhookEndpointRequest) (WebhookEndpointRequest, error) {
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" || len(req.URL) > 2000 {
		return req, newError(KindInvalid, "invalid-request", "url must be an absolute http(s) URL without user info or fragment, at most 2000 characters")
	}
	if utf8.RuneCountInString(req.Description) > 200 {
		return req, newError(KindInvalid, "invalid-request", "description is at most 200 characters")
	}
	var types []string
	for _, t := range req.EventTypes {
		if !slices.Contains(EventTypes, t) {
			return req, newError(KindInvalid, "invalid-request", "event type %q is not one of %s", t, strings.Join(EventTypes, ", "))
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	req.EventTypes = types
	return req, nil
}

// CreateWebhookEndpoint registers an endpoint for a tenant and returns it with its signing
// secret ("whsec_…"), which is shown once.
func (p *Platform) CreateWebhookEndpoint(ctx context.Context, tenant *Tenant, req WebhookEndpointRequest) (*WebhookEndpoint, string, error) {
	ws, err := p.Webhooks()
	if err != nil {
		return nil, "", err
	}
	req, err = validEndpoint(req)
	if err != nil {
		return nil, "", err
	}
	if err := p.checkEndpointURL(endpointSchemeHost(req.URL)); err != nil {
		return nil, "", err
	}
	id, err := p.newID("we_")
	if err != nil {
		return nil, "", err
	}
	now := p.clk.Now().UTC()
	e := WebhookEndpoint{ID: id, TenantID: tenant.ID, URL: req.URL, Description: req.Description, EventTypes: req.EventTypes, CreatedAt: now}
	s, secret, err := p.newWebhookSecret(id, now)
	if err != nil {
		return nil, "", err
	}
	if err := ws.CreateWebhookEndpoint(ctx, e, s); err != nil {
		return nil, "", internal(err)
	}
	return &e, secret, nil
}

// WebhookEndpoints lists a tenant's endpoints.
func (p *Platform) WebhookEndpoints(ctx context.Context, tenant *Tenant) ([]WebhookEndpoint, error) {
	ws, err := p.Webhooks()
	if err != nil {
		return nil, err
	}
	es, err := ws.WebhookEndpoints(ctx, tenant.ID)
	if err != nil {
		return nil, internal(err)
	}
	return es, nil
}

// WebhookEndpoint returns one of a tenant's endpoints.
func (p *Platform) WebhookEndpoint(ctx context.Context, tenant *Tenant, id string) (*WebhookEndpoint, error) {
	ws, err := p.Webhooks()
	if err != nil {
		return nil, err
	}
	e, err := ws.WebhookEndpoint(ctx, tenant.ID, id)
	if errors.Is(err, ErrNotFound) {
		return nil, newError(KindNotFound, "not-found", "webhook endpoint %s does not exist", id)
	}
	if err != nil {
		return nil, internal(err)
	}
	return e, nil
}

// DisableWebhookEndpoint stops sending events to an endpoint; its pending deliveries become dead.
func (p *Platform) DisableWebhookEndpoint(ctx context.Context, tenant *Tenant, id string) error {
	ws, err := p.Webhooks()
	if err != nil {
		return err
	}
	err = ws.DisableWebhookEndpoint(ctx, tenant.ID, id, p.clk.Now().UTC())
	switch {
	case errors.Is(err, ErrNotFound):
		return newError(KindNotFound, "not-found", "webhook endpoint %s does not exist", id)
	case errors.Is(err, ErrConflict):
		return newError(KindConflict, "already-disabled", "webhook endpoint %s is already disabled", id)
	case err != nil:
		return internal(err)
	}
	return nil
}

// MaxRotationGrace bounds how long a rotated-out secret keeps signing.
const MaxRotationGrace = 7 * 24 * time.Hour

// RotateWebhookSecret gives an endpoint a new secret, returned once. Until the returned time
// (now + grace; default 24 hours, at most a week) messages carry signatures by both the new and
// the previous secret, so the receiver can switch at its own pace; a secret rotated out earlier
// stops at once. A grace of zero retires the previous secret immediately.
func (p *Platform) RotateWebhookSecret(ctx context.Context, tenant *Tenant, endpointID string, grace time.Duration) (string, time.Time, error) {
	ws, err := p.Webhooks()
	if err != nil {
		return "", time.Time{}, err
	}
	if grace < 0 || grace > MaxRotationGrace {
		return "", time.Time{}, newError(KindInvalid, "invalid-request", "the grace period is 0 to %s", MaxRotationGrace)
	}
	now := p.clk.Now().UTC()
	s, secret, err := p.newWebhookSecret(endpointID, now)
	if err != nil {
		return "", time.Time{}, err
	}
	retire := now.Add(grace)
	err = ws.RotateWebhookSecret(ctx, tenant.ID, endpointID, s, retire)
	if errors.Is(err, ErrNotFound) {
		return "", time.Time{}, newError(KindNotFound, "not-found", "webhook endpoint %s does not exist or is disabled", endpointID)
	}
	if err != nil {
		return "", time.Time{}, internal(err)
	}
	return secret, retire, nil
}

// RedeliverEvent queues one of the tenant's events again (to one endpoint, or to all that want
// it), with the same webhook-id, and returns how many deliveries it queued.
func (p *Platform) RedeliverEvent(ctx context.Context, tenant *Tenant, eventID, endpointID string) (int, error) {
	ws, err := p.Webhooks()
	if err != nil {
		return 0, err
	}
	n, err := ws.RedeliverEvent(ctx, tenant.ID, eventID, endpointID, p.clk.Now().UTC())
	if errors.Is(err, ErrNotFound) {
		return 0, newError(KindNotFound, "not-found", "event %s or endpoint %q does not exist", eventID, endpointID)
	}
	if err != nil {
		return 0, internal(err)
	}
	return n, nil
}

// RedeliverDead queues every dead delivery of an endpoint again and returns how many.
func (p *Platform) RedeliverDead(ctx context.Context, tenant *Tenant, endpointID string) (int, error) {
	ws, err := p.Webhooks()
	if err != nil {
		return 0, err
	}
	n, err := ws.RedeliverDead(ctx, tenant.ID, endpointID, p.clk.Now().UTC())
	if errors.Is(err, ErrNotFound) {
		return 0, newError(KindNotFound, "not-found", "webhook endpoint %s does not exist or is disabled", endpointID)
	}
	if err != nil {
		return 0, internal(err)
	}
	return n, nil
}

// Deliveries lists a tenant's deliveries (dead letters with State dead).
func (p *Platform) Deliveries(ctx context.Context, tenant *Tenant, q DeliveryQuery) ([]Delivery, error) {
	ws, err := p.Webhooks()
	if err != nil {
		return nil, err
	}
	if q.State != "" && q.State != DeliveryPending && q.State != DeliveryDelivered && q.State != DeliveryDead {
		return nil, newError(KindInvalid, "invalid-request", "state %q is not pending, delivered or dead", q.State)
	}
	if q.Limit <= 0 || q.Limit > 100 {
		q.Limit = 100
	}
	ds, err := ws.Deliveries(ctx, tenant.ID, q)
	if err != nil {
		return nil, internal(err)
	}
	return ds, nil
}

// newWebhookSecret makes a secret for an endpoint and seals it.
func (p *Platform) newWebhookSecret(endpointID string, now time.Time) (WebhookSecret, string, error) {
	id, err := p.newID("wsk_")
	if err != nil {
		return WebhookSecret{}, "", err
	}
	secret, err := webhook.NewSecret(p.rand)
	if err != nil {
		return WebhookSecret{}, "", internal(err)
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		return WebhookSecret{}, "", internal(err)
	}
	sealed, err := p.sealSecret(endpointID, id, key)
	if err != nil {
		return WebhookSecret{}, "", err
	}
	return WebhookSecret{ID: id, EndpointID: endpointID, Sealed: sealed, CreatedAt: now}, secret, nil
}

// secretAEAD is AES-256-GCM under the master secret's kdf.WebhookSecrets key.
func (p *Platform) secretAEAD() (cipher.AEAD, error) {
	block, err := aes.NewCipher(p.keys.Key(kdf.WebhookSecrets))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func secretAD(endpointID, secretID string) []byte { return []byte(endpointID + "\x00" + secretID) }

func (p *Platform) sealSecret(endpointID, secretID string, key []byte) ([]byte, error) {
	aead, err := p.secretAEAD()
	if err != nil {
		return nil, internal(err)
	}
	nonce, err := p.randomBytes(aead.NonceSize())
	if err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, key, secretAD(endpointID, secretID)), nil
}

// OpenWebhookSecret returns the key of a sealed secret. The endpoint and secret ids are authenticated,
// so a sealed secret copied to another row does not open.
func (p *Platform) OpenWebhookSecret(s WebhookSecret) ([]byte, error) {
	aead, err := p.secretAEAD()
	if err != nil {
		return nil, err
	}
	if len(s.Sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("platform: webhook secret %s: sealed value too short", s.ID)
	}
	key, err := aead.Open(nil, s.Sealed[:aead.NonceSize()], s.Sealed[aead.NonceSize():], secretAD(s.EndpointID, s.ID))
	if err != nil {
		return nil, fmt.Errorf("platform: webhook secret %s does not open (another master secret?): %w", s.ID, err)
	}
	return key, nil
}

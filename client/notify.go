package client

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Revocation notification: webhook endpoints, deliveries and watches (tenant), and consents
// (holder). Webhook messages themselves are verified with package webhook.

// AnswerWithConsent is Answer for an identity session in which the holder also grants the tenant
// consents, e.g. []string{"basic4_updates"}: to be sent the latest basic 4 facts after a move.
func (c *Client) AnswerWithConsent(ctx context.Context, id, token string, cert, sig []byte, consent []string) (*HolderResult, error) {
	body := map[string]any{"token": token, "certificate": cert, "signature": sig}
	if len(consent) > 0 {
		body["consent"] = consent
	}
	var r HolderResult
	if _, err := c.do(ctx, "POST", "/v1/holder/sessions/"+url.PathEscape(id), nil, body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// CardData is what a holder's app read from the 券面事項入力補助AP for a chip-reading session:
// EF 0002 (basic 4 facts), EF 0003 (signature record) and EF 0004 (AP certificate), as read.
// The individual number (EF 0001) is not part of it: the platform must not receive it.
type CardData struct {
	Basic4, Signature, Certificate []byte
}

// AnswerCardData answers a checked chip_reading challenge with the card's data, echoing the
// challenge so that the answer is bound to its session. The card signs nothing: this is the
// weaker "IC chip reading" method (docs/design/chip-reading.md).
func (c *Client) AnswerCardData(ctx context.Context, ch *CheckedChallenge, d CardData) (*HolderResult, error) {
	if ch == nil || len(ch.msg) == 0 || ch.Fields.Purpose != "chip_reading" {
		return nil, fmt.Errorf("client: %w: card data answers a checked chip_reading challenge only", ErrChallengePurpose)
	}
	body := map[string]any{"token": ch.Token, "challenge": ch.msg,
		"card_data": map[string][]byte{"basic4": d.Basic4, "signature": d.Signature, "certificate": d.Certificate}}
	var r HolderResult
	if _, err := c.do(ctx, "POST", "/v1/holder/sessions/"+url.PathEscape(ch.SessionID), nil, body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Endpoint is a webhook endpoint.
type Endpoint struct {
	ID          string     `json:"id"`
	URL         string     `json:"url"`
	Description string     `json:"description"`
	EventTypes  []string   `json:"event_types"`
	CreatedAt   time.Time  `json:"created_at"`
	DisabledAt  *time.Time `json:"disabled_at"`
}

// EndpointRequest asks for an endpoint.
type EndpointRequest struct {
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	EventTypes  []string `json:"event_types,omitempty"` // empty: every type
}

// CreateEndpoint registers a webhook endpoint and returns it with its signing secret
// ("whsec_…"), which is shown only this once (tenant).
func (c *Client) CreateEndpoint(ctx context.Context, req EndpointRequest) (*Endpoint, string, error) {
	var out struct {
		Endpoint Endpoint `json:"endpoint"`
		Secret   string   `json:"secret"`
	}
	if _, err := c.do(ctx, "POST", "/v1/webhooks/endpoints", nil, req, &out); err != nil {
		return nil, "", err
	}
	return &out.Endpoint, out.Secret, nil
}

// Endpoints lists the tenant's endpoints.
func (c *Client) Endpoints(ctx context.Context) ([]Endpoint, error) {
	var out struct {
		Endpoints []Endpoint `json:"endpoints"`
	}
	if _, err := c.do(ctx, "GET", "/v1/webhooks/endpoints", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Endpoints, nil
}

// DisableEndpoint stops sending events to an endpoint.
func (c *Client) DisableEndpoint(ctx context.Context, id string) error {
	_, err := c.do(ctx, "DELETE", "/v1/webhooks/endpoints/"+url.PathEscape(id), nil, nil, nil)
	return err
}

// RotateSecret gives an endpoint a new secret; the previous one keeps signing for grace (the
// server's default of 24 hours when grace is negative).
func (c *Client) RotateSecret(ctx context.Context, id string, grace time.Duration) (string, time.Time, error) {
	body := map[string]any{}
	if grace >= 0 {
		body["grace_seconds"] = int64(grace / time.Second)
	}
	var out struct {
		Secret             string    `json:"secret"`
		PreviousValidUntil time.Time `json:"previous_valid_until"`
	}
	if _, err := c.do(ctx, "POST", "/v1/webhooks/endpoints/"+url.PathEscape(id)+"/rotate", nil, body, &out); err != nil {
		return "", time.Time{}, err
	}
	return out.Secret, out.PreviousValidUntil, nil
}

// RedeliverDead queues every dead delivery of an endpoint again and returns how many.
func (c *Client) RedeliverDead(ctx context.Context, endpointID string) (int, error) {
	var out struct {
		Queued int `json:"queued"`
	}
	_, err := c.do(ctx, "POST", "/v1/webhooks/endpoints/"+url.PathEscape(endpointID)+"/redeliver", nil, nil, &out)
	return out.Queued, err
}

// RedeliverEvent queues an event again (to one endpoint, or all that want it when endpointID is
// empty), with the same webhook-id.
func (c *Client) RedeliverEvent(ctx context.Context, eventID, endpointID string) (int, error) {
	q := ""
	if endpointID != "" {
		q = "?endpoint=" + url.QueryEscape(endpointID)
	}
	var out struct {
		Queued int `json:"queued"`
	}
	_, err := c.do(ctx, "POST", "/v1/events/"+url.PathEscape(eventID)+"/redeliver"+q, nil, nil, &out)
	return out.Queued, err
}

// Delivery is one event's delivery to one endpoint.
type Delivery struct {
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	EndpointID    string     `json:"endpoint_id"`
	State         string     `json:"state"` // pending, delivered, dead
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	LastStatus    int        `json:"last_status"`
	LastError     string     `json:"last_error"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	CreatedAt     time.Time  `json:"created_at"`
}

// DeliveryQuery filters Deliveries; empty fields match everything.
type DeliveryQuery struct {
	State, EndpointID, EventID string
	Limit                      int // 1 to 100 (default 100)
}

// Deliveries lists the tenant's deliveries, newest first (dead letters: State "dead").
func (c *Client) Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error) {
	v := url.Values{}
	for k, s := range map[string]string{"state": q.State, "endpoint": q.EndpointID, "event": q.EventID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	if _, err := c.do(ctx, "GET", "/v1/webhooks/deliveries?"+v.Encode(), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Deliveries, nil
}

// Watch is the tenant's watch on a person.
type Watch struct {
	Sub      string     `json:"sub"`
	Watching bool       `json:"watching"`
	Since    *time.Time `json:"since"`
	Consents []string   `json:"consents"`
}

// Watch returns the tenant's watch on the person with pairwise id sub.
func (c *Client) Watch(ctx context.Context, sub string) (*Watch, error) {
	var w Watch
	if _, err := c.do(ctx, "GET", "/v1/watches/"+url.PathEscape(sub), nil, nil, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// LatestFacts is a watched person's latest basic-4 facts, read from J-LIS on the holder's behalf.
type LatestFacts struct {
	Sub       string            `json:"sub"`
	Facts     map[string]string `json:"facts"`
	Deceased  bool              `json:"deceased"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// LatestFacts reads the latest facts of a person the tenant watches with the holder's
// basic4_updates consent: what a person.basic4_updated event (which names the changed facts,
// not their values) tells the tenant to read.
func (c *Client) LatestFacts(ctx context.Context, sub string) (*LatestFacts, error) {
	var f LatestFacts
	if _, err := c.do(ctx, "GET", "/v1/watches/"+url.PathEscape(sub)+"/basic4", nil, nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// StopWatching stops the tenant's watch on a person: no more events about them until the
// tenant verifies them again.
func (c *Client) StopWatching(ctx context.Context, sub string) error {
	_, err := c.do(ctx, "DELETE", "/v1/watches/"+url.PathEscape(sub), nil, nil, nil)
	return err
}

// The holder's consent requests are signed with the card's authentication key over
//
//	"mynagate-holder/v1" NUL action NUL tenant NUL scope NUL challenge
//
// (RSASSA-PKCS1-v1_5 over SHA-256, as Sign does), with a challenge from the platform.
const holderDomain = "mynagate-holder/v1"

// HolderMessage returns the bytes the holder signs for action ("consents.list" or
// "consents.revoke").
func HolderMessage(action, tenantID, scope string, challenge []byte) []byte {
	var b bytes.Buffer
	for _, s := range []string{holderDomain, action, tenantID, scope} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	b.Write(challenge)
	return b.Bytes()
}

// Consent is a consent as its holder sees it.
type Consent struct {
	TenantID   string     `json:"tenant_id"`
	TenantName string     `json:"tenant_name"`
	Scope      string     `json:"scope"`
	GrantedAt  time.Time  `json:"granted_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func (c *Client) holderProof(cc *ConsentChallenge, cert []byte, signer crypto.Signer, action, tenantID, scope string) (map[string]any, error) {
	if cc == nil || len(cc.msg) == 0 {
		return nil, errors.New("client: no checked consent challenge (ConsentChallenge) to sign over")
	}
	sig, err := signBytes(signer, HolderMessage(action, tenantID, scope, cc.msg))
	if err != nil {
		return nil, err
	}
	body := map[string]any{"certificate": cert, "signature": sig, "challenge": cc.msg}
	if tenantID != "" {
		body["tenant_id"], body["scope"] = tenantID, scope
	}
	return body, nil
}

// Consents lists the consents the holder gave, proved with the card's authentication
// certificate (DER) and key (holder), over a challenge checked by ConsentChallenge.
func (c *Client) Consents(ctx context.Context, cc *ConsentChallenge, cert []byte, signer crypto.Signer) ([]Consent, error) {
	body, err := c.holderProof(cc, cert, signer, "consents.list", "", "")
	if err != nil {
		return nil, err
	}
	var out struct {
		Consents []Consent `json:"consents"`
	}
	if _, err := c.do(ctx, "POST", "/v1/holder/consents/query", nil, body, &out); err != nil {
		return nil, err
	}
	return out.Consents, nil
}

// RevokeConsent revokes the holder's consent to a tenant for a scope and returns how many grants
// it ended (0 if none was in force) (holder).
// The challenge is one checked by ConsentChallenge.
func (c *Client) RevokeConsent(ctx context.Context, cc *ConsentChallenge, cert []byte, signer crypto.Signer, tenantID, scope string) (int, error) {
	if tenantID == "" || scope == "" {
		return 0, fmt.Errorf("client: a tenant and a scope are required")
	}
	body, err := c.holderProof(cc, cert, signer, "consents.revoke", tenantID, scope)
	if err != nil {
		return 0, err
	}
	var out struct {
		Revoked int `json:"revoked"`
	}
	if _, err := c.do(ctx, "POST", "/v1/holder/consents/revoke", nil, body, &out); err != nil {
		return 0, err
	}
	return out.Revoked, nil
}

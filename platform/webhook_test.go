package platform_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/webhook"
)

// Endpoints: what a tenant may register, its secret shown once and kept sealed, and every
// endpoint its tenant's alone.
func TestWebhookEndpoints(t *testing.T) {
	w := platformtest.NewWorld(t, store.DialectSQLite)
	p, ten := w.P, w.Tenant
	other, err := p.CreateTenant(ctx, "Other", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		req  platform.WebhookEndpointRequest
	}{
		{"another scheme", platform.WebhookEndpointRequest{URL: "ftp://hooks.example.com/"}},
		{"a relative URL", platform.WebhookEndpointRequest{URL: "/hooks"}},
		{"no host", platform.WebhookEndpointRequest{URL: "https:///hooks"}},
		{"user info", platform.WebhookEndpointRequest{URL: "https://user:pw@hooks.example.com/"}},
		{"a fragment", platform.WebhookEndpointRequest{URL: "https://hooks.example.com/#x"}},
		{"an oversized URL", platform.WebhookEndpointRequest{URL: "https://hooks.example.com/" + strings.Repeat("a", 2000)}},
		{"an oversized description", platform.WebhookEndpointRequest{URL: "https://hooks.example.com/", Description: strings.Repeat("説", 201)}},
		{"an unknown event type", platform.WebhookEndpointRequest{URL: "https://hooks.example.com/", EventTypes: []string{"person.deleted"}}},
	} {
		_, _, err := p.CreateWebhookEndpoint(ctx, ten, c.req)
		wantError(t, c.name, err, platform.KindInvalid, "invalid-request")
	}
	if eps, err := p.WebhookEndpoints(ctx, ten); err != nil || len(eps) != 0 {
		t.Fatalf("refused endpoints were stored: %+v %v", eps, err)
	}

	ep, secret, err := p.CreateWebhookEndpoint(ctx, ten, platform.WebhookEndpointRequest{URL: w.Recv.URL(), Description: "revocations",
		EventTypes: []string{platform.EventCertificateRevoked, platform.EventCertificateRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.EventTypes) != 1 || !ep.Wants(platform.EventCertificateRevoked) || ep.Wants(platform.EventVerificationCompleted) || !strings.HasPrefix(secret, webhook.SecretPrefix) {
		t.Errorf("endpoint %+v with secret %q", ep, secret)
	}
	if got, err := p.WebhookEndpoint(ctx, ten, ep.ID); err != nil || got.URL != w.Recv.URL() || got.Description != "revocations" {
		t.Errorf("endpoint read back %+v, %v", got, err)
	}
	if _, err := p.WebhookEndpoint(ctx, other, ep.ID); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("another tenant reads the endpoint: %v", err)
	}

	// The secret is kept sealed under the master secret, bound to its endpoint.
	ws, err := p.Webhooks()
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := ws.WebhookSecrets(ctx, ep.ID, w.Clk.Now())
	if err != nil || len(secrets) != 1 {
		t.Fatalf("secrets %v, %v", secrets, err)
	}
	want, _ := webhook.ParseSecret(secret)
	if key, err := p.OpenWebhookSecret(secrets[0]); err != nil || !bytes.Equal(key, want) || bytes.Contains(secrets[0].Sealed, want) {
		t.Errorf("the sealed secret opens to %x (%v), want %x, and must not hold it in clear", key, err, want)
	}
	moved := secrets[0]
	moved.EndpointID = "we_other"
	if _, err := p.OpenWebhookSecret(moved); err == nil {
		t.Error("a sealed secret opens for another endpoint")
	}
	otherMaster := platformtest.NewVerifying(t, w.St, platform.WithMaster(bytes.Repeat([]byte{3}, 32)))
	if _, err := otherMaster.OpenWebhookSecret(secrets[0]); err == nil {
		t.Error("a sealed secret opens under another master secret")
	}
	if _, err := p.OpenWebhookSecret(platform.WebhookSecret{ID: "wsk_x", Sealed: []byte{1}}); err == nil {
		t.Error("a truncated sealed secret opens")
	}
	op, err := platform.New(w.St)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Webhooks(); err == nil {
		t.Error("webhooks without a master secret")
	}
}

// Rotation: both secrets sign during the grace period, then only the new one; a grace of zero
// retires the old one at once; the grace is bounded; a disabled or foreign endpoint is not
// found.
func TestRotateAndDisable(t *testing.T) {
	w := platformtest.NewWorld(t, store.DialectSQLite)
	p, ten := w.P, w.Tenant
	other, _ := p.CreateTenant(ctx, "Other", nil)
	ep, first, err := p.CreateWebhookEndpoint(ctx, ten, platform.WebhookEndpointRequest{URL: w.Recv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := p.Webhooks()
	valid := func() []string {
		t.Helper()
		ss, err := ws.WebhookSecrets(ctx, ep.ID, w.Clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range ss {
			k, err := p.OpenWebhookSecret(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(k))
		}
		return out
	}
	key := func(secret string) string { k, _ := webhook.ParseSecret(secret); return string(k) }

	for _, g := range []time.Duration{-time.Second, platform.MaxRotationGrace + time.Second} {
		_, _, err := p.RotateWebhookSecret(ctx, ten, ep.ID, g)
		wantError(t, "grace "+g.String(), err, platform.KindInvalid, "invalid-request")
	}
	_, _, err = p.RotateWebhookSecret(ctx, other, ep.ID, time.Hour)
	wantError(t, "another tenant rotates", err, platform.KindNotFound, "not-found")

	w.Clk.Advance(time.Second) // newest first: the new secret is a second younger
	second, until, err := p.RotateWebhookSecret(ctx, ten, ep.ID, time.Hour)
	if err != nil || second == first || !until.Equal(w.Clk.Now().Add(time.Hour)) {
		t.Fatalf("rotation: %v until %s", err, until)
	}
	if got := valid(); len(got) != 2 || got[0] != key(second) || got[1] != key(first) {
		t.Errorf("during the grace period: %d secrets, want the new then the old", len(got))
	}
	w.Clk.Advance(time.Hour + time.Second)
	if got := valid(); len(got) != 1 || got[0] != key(second) {
		t.Errorf("after the grace period: %d secrets, want the new one only", len(got))
	}
	third, _, err := p.RotateWebhookSecret(ctx, ten, ep.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := valid(); len(got) != 1 || got[0] != key(third) {
		t.Errorf("after a rotation without grace: %d secrets, want the new one only", len(got))
	}

	wantError(t, "another tenant disables", p.DisableWebhookEndpoint(ctx, other, ep.ID), platform.KindNotFound, "not-found")
	if err := p.DisableWebhookEndpoint(ctx, ten, ep.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, "disabling twice", p.DisableWebhookEndpoint(ctx, ten, ep.ID), platform.KindConflict, "already-disabled")
	if got, err := p.WebhookEndpoint(ctx, ten, ep.ID); err != nil || got.DisabledAt == nil || got.Wants(platform.EventCertificateRevoked) {
		t.Errorf("disabled endpoint %+v, %v", got, err)
	}
	_, _, err = p.RotateWebhookSecret(ctx, ten, ep.ID, 0)
	wantError(t, "rotating a disabled endpoint", err, platform.KindNotFound, "not-found")
}

// Redelivery: a dead delivery is queued again with its event's id; an event or endpoint that
// is not the tenant's is not found; listing filters by state.
func TestRedeliver(t *testing.T) {
	w := platformtest.NewWorld(t, store.DialectSQLite)
	p, ten := w.P, w.Tenant
	other, _ := p.CreateTenant(ctx, "Other", nil)
	ep, _, err := p.CreateWebhookEndpoint(ctx, ten, platform.WebhookEndpointRequest{URL: w.Recv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	person := w.Person("taro")
	now := w.Clk.Now().UTC()
	evID := p.EventID(platform.EventCertificateRevoked, ten.ID, "CA", "taro")
	if _, err := w.St.RecordRevocations(ctx, []platform.RevocationNotice{{CA: "CA", Serial: "taro", PersonID: person, Reason: 1, RevokedAt: now,
		CRL: "sign#1", NoticedAt: now, FollowUp: platform.FollowUpDone, FollowUpAt: now,
		Events: []platform.Event{{ID: evID, TenantID: ten.ID, Type: platform.EventCertificateRevoked, Payload: []byte(`{}`), CreatedAt: now}}}}); err != nil {
		t.Fatal(err)
	}
	ws, _ := p.Webhooks()
	if _, err := ws.DispatchEvents(ctx, now, 10); err != nil {
		t.Fatal(err)
	}
	// kill fails the pending delivery for good, as the deliverer does after its last try.
	kill := func() {
		t.Helper()
		now := w.Clk.Now().UTC()
		ds, err := ws.ClaimDeliveries(ctx, now, now.Add(time.Minute), "claim", 10)
		if err != nil || len(ds) != 1 || ds[0].EventID != evID {
			t.Fatalf("claimed %+v, %v", ds, err)
		}
		if err := ws.FinishDeliveries(ctx, []platform.DeliveryOutcome{{ID: ds[0].ID, Claim: "claim", State: platform.DeliveryDead, At: now, Status: 500, Error: "HTTP 500"}}); err != nil {
			t.Fatal(err)
		}
	}
	kill()
	count := func(state platform.DeliveryState) int {
		t.Helper()
		ds, err := p.Deliveries(ctx, ten, platform.DeliveryQuery{State: state, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	if count(platform.DeliveryDead) != 1 || count(platform.DeliveryPending) != 0 {
		t.Fatalf("dead %d pending %d, want 1 and 0", count(platform.DeliveryDead), count(platform.DeliveryPending))
	}
	if _, err := p.Deliveries(ctx, ten, platform.DeliveryQuery{State: "lost"}); platform.AsError(err).Kind != platform.KindInvalid {
		t.Errorf("an unknown state: %v", err)
	}
	if _, err := p.RedeliverDead(ctx, other, ep.ID); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("another tenant redelivers: %v", err)
	}
	if n, err := p.RedeliverEvent(ctx, ten, evID, ""); err != nil || n != 1 {
		t.Errorf("RedeliverEvent: %d %v", n, err)
	}
	if count(platform.DeliveryDead) != 0 || count(platform.DeliveryPending) != 1 {
		t.Errorf("after redelivering the event: dead %d pending %d", count(platform.DeliveryDead), count(platform.DeliveryPending))
	}
	if n, _, err := p.WebhookBacklog(ctx); err != nil || n != 1 {
		t.Errorf("backlog %d, %v; want the one pending delivery", n, err)
	}
	kill()
	if n, err := p.RedeliverDead(ctx, ten, ep.ID); err != nil || n != 1 {
		t.Errorf("RedeliverDead: %d %v", n, err)
	}
	if count(platform.DeliveryDead) != 0 || count(platform.DeliveryPending) != 1 {
		t.Errorf("after redelivering the dead: dead %d pending %d", count(platform.DeliveryDead), count(platform.DeliveryPending))
	}
	for name, c := range map[string][3]string{
		"another tenant's event": {other.ID, evID, ""},
		"an unknown event":       {ten.ID, "evt_unknown", ""},
		"an unknown endpoint":    {ten.ID, evID, "we_unknown"},
	} {
		tn := ten
		if c[0] == other.ID {
			tn = other
		}
		if _, err := p.RedeliverEvent(ctx, tn, c[1], c[2]); platform.AsError(err).Kind != platform.KindNotFound {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Idempotency-Keys: the first request runs, a retry gets its answer (kept sealed), the key
// with another request or while the first runs is refused, a failed first request lets a retry
// run; keys are per tenant and expire.
func TestIdempotencyKeys(t *testing.T) {
	w := platformtest.NewWorld(t, store.DialectSQLite)
	p, ten := w.P, w.Tenant
	other, _ := p.CreateTenant(ctx, "Other", nil)
	body := []byte(`{"url":"https://hooks.example.com/"}`)
	d := platform.IdempotentRequestDigest("POST", "/v1/webhook-endpoints", body)
	if bytes.Equal(d, platform.IdempotentRequestDigest("POST", "/v1/webhook-endpoints", append(body, ' '))) ||
		bytes.Equal(d, platform.IdempotentRequestDigest("PUT", "/v1/webhook-endpoints", body)) {
		t.Fatal("the digest does not cover the method and the body")
	}
	resp := &platform.IdempotentResponse{Status: 201, Header: map[string]string{"Location": "/v1/webhook-endpoints/we_1"}, Body: []byte(`{"secret":"whsec_x"}`)}

	if got, err := p.BeginIdempotent(ctx, ten, "k1", d); err != nil || got != nil {
		t.Fatalf("first request: %+v %v; want to run it", got, err)
	}
	_, err := p.BeginIdempotent(ctx, ten, "k1", d)
	wantError(t, "a retry while the first runs", err, platform.KindConflict, "idempotency-key-in-flight")
	if err := p.FinishIdempotent(ctx, ten, "k1", d, resp); err != nil {
		t.Fatal(err)
	}
	got, err := p.BeginIdempotent(ctx, ten, "k1", d)
	if err != nil || got == nil || got.Status != 201 || got.Header["Location"] != resp.Header["Location"] || !bytes.Equal(got.Body, resp.Body) {
		t.Fatalf("a retry gets %+v, %v; want the first answer", got, err)
	}
	_, err = p.BeginIdempotent(ctx, ten, "k1", platform.IdempotentRequestDigest("POST", "/v1/webhook-endpoints", []byte("{}")))
	wantError(t, "the key with another request", err, platform.KindConflict, "idempotency-key-reused")
	if got, err := p.BeginIdempotent(ctx, other, "k1", d); err != nil || got != nil {
		t.Errorf("another tenant's key k1: %+v %v; want its own first request", got, err)
	}
	otherMaster := platformtest.NewVerifying(t, w.St, platform.WithMaster(bytes.Repeat([]byte{3}, 32)), platform.WithClock(w.Clk))
	if _, err := otherMaster.BeginIdempotent(ctx, ten, "k1", d); err == nil || platform.AsError(err).Kind != platform.KindInternal {
		t.Errorf("the kept answer opened under another master secret: %v", err)
	}
	for _, key := range []string{"", strings.Repeat("k", 201)} {
		_, err := p.BeginIdempotent(ctx, ten, key, d)
		wantError(t, fmt.Sprintf("a key of %d characters", len(key)), err, platform.KindInvalid, "invalid-request")
	}

	// A first request that failed without changing anything lets the retry run.
	if got, err := p.BeginIdempotent(ctx, ten, "k2", d); err != nil || got != nil {
		t.Fatal(err)
	}
	if err := p.FinishIdempotent(ctx, ten, "k2", d, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := p.BeginIdempotent(ctx, ten, "k2", d); err != nil || got != nil {
		t.Errorf("a retry after a failure: %+v %v; want to run it", got, err)
	}
	// A first request that never finished is taken to have died after a minute.
	w.Clk.Advance(time.Minute + time.Second)
	if got, err := p.BeginIdempotent(ctx, ten, "k2", d); err != nil || got != nil {
		t.Errorf("a retry after an abandoned first request: %+v %v", got, err)
	}
	w.Clk.Advance(platform.IdempotencyTTL)
	if got, err := p.BeginIdempotent(ctx, ten, "k1", d); err != nil || got != nil {
		t.Errorf("a key past its TTL: %+v %v; want it used afresh", got, err)
	}
}

// Package delivery sends the outbox's events to the tenants' webhook endpoints, signed per
// Standard Webhooks (package webhook), with retries and backoff, through the egress policy's
// HTTP client (package egress). platform decides what an event is and stores it; this package
// only carries it out.
package delivery

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mynagate/mynagate/egress"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/webhook"
)

// RetryPolicy says when a failed delivery is tried again: after attempt n (1-based) fails, the
// next comes after a delay drawn uniformly from [d/2, d), d = min(Base·3^(n-1), Max) —
// exponential backoff with jitter, so that deliveries failing together do not retry together.
// After MaxAttempts failures the delivery is dead (a dead letter) until redelivered.
type RetryPolicy struct {
	MaxAttempts int           // default 10
	Base        time.Duration // default 5 s
	Max         time.Duration // default 6 h
}

// DefaultRetryPolicy tries for about ten hours: 5 s, 15 s, 45 s, 2¼ min, 6¾ min, 20 min, 1 h, 3 h
// and 6 h apart (before jitter).
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 10, Base: 5 * time.Second, Max: 6 * time.Hour}

// Delay returns the wait after the attempt-th failure; r in [0, 1) draws the jitter.
func (rp RetryPolicy) Delay(attempt int, r float64) time.Duration {
	d := rp.Base
	for i := 1; i < attempt && d < rp.Max; i++ {
		d *= 3
	}
	d = min(d, rp.Max)
	return d/2 + time.Duration(r*float64(d/2))
}

// Deliverer sends the outbox's events to the tenants' webhook endpoints, signed per Standard
// Webhooks with the same webhook-id on every attempt. Every serve node runs one; the store makes
// sure each delivery is attempted by one node at a time (claims with a lease) and that one
// person's events reach an endpoint in order. It is safe for concurrent use.
type Deliverer struct {
	p       *platform.Platform
	st      platform.WebhookStorage
	hc      *http.Client
	workers int
	batch   int
	poll    time.Duration
	lease   time.Duration
	policy  RetryPolicy

	wakeMu sync.Mutex
	wakeCh chan struct{}
	// dispatching lets one worker of the node dispatch at a time; the others go on claiming.
	dispatching sync.Mutex

	attempts *prometheus.CounterVec
	dispatch prometheus.Counter
}

// Option configures a Deliverer.
type Option func(*Deliverer)

// WithHTTPClient sets the HTTP client (default: 10 s timeout, redirects not followed —
// a redirect is a failed attempt — and the egress policy of package egress, which a client given
// here replaces). The claim lease is the client's timeout plus 50 s.
func WithHTTPClient(hc *http.Client) Option {
	return func(d *Deliverer) { d.hc = hc }
}

// WithWorkers sets how many workers claim and send concurrently (default 4), and how
// many deliveries each claims at a time and sends in parallel (default 8).
func WithWorkers(workers, batch int) Option {
	return func(d *Deliverer) { d.workers, d.batch = workers, batch }
}

// WithPoll sets how often idle workers look for due deliveries (default 1 s); Wake
// makes them look at once.
func WithPoll(p time.Duration) Option { return func(d *Deliverer) { d.poll = p } }

// WithRetryPolicy sets the retry policy (default DefaultRetryPolicy).
func WithRetryPolicy(rp RetryPolicy) Option { return func(d *Deliverer) { d.policy = rp } }

// WithLease sets how long a claimed delivery stays with its worker before another may take it
// (default the HTTP timeout plus 50 s). It MUST exceed the HTTP timeout, or a slow attempt may
// run twice at once.
func WithLease(l time.Duration) Option { return func(d *Deliverer) { d.lease = l } }

// New returns a deliverer for a platform with the master secret over a store with
// platform.WebhookStorage.
func New(p *platform.Platform, opts ...Option) (*Deliverer, error) {
	st, err := p.Webhooks()
	if err != nil {
		return nil, err
	}
	d := &Deliverer{p: p, st: st, workers: 4, batch: 8, poll: time.Second, policy: DefaultRetryPolicy, wakeCh: make(chan struct{})}
	d.hc = egress.Client(p.PrivateWebhookTargets())
	for _, o := range opts {
		o(d)
	}
	if d.lease == 0 {
		d.lease = d.hc.Timeout + 50*time.Second
	}
	switch {
	case d.workers < 1 || d.batch < 1 || d.poll <= 0:
		return nil, errors.New("delivery: a deliverer needs at least one worker, a batch of one and a positive poll interval")
	case d.policy.MaxAttempts < 1 || d.policy.Base <= 0 || d.policy.Max < d.policy.Base:
		return nil, errors.New("delivery: a retry policy needs at least one attempt and 0 < Base <= Max")
	case d.hc.Timeout > 0 && d.lease <= d.hc.Timeout:
		return nil, fmt.Errorf("delivery: the lease %s must exceed the HTTP timeout %s", d.lease, d.hc.Timeout)
	}
	d.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mynagate_webhook_attempts_total", Help: "Webhook delivery attempts by outcome (delivered, retry, dead, interrupted)."}, []string{"outcome"})
	d.dispatch = prometheus.NewCounter(prometheus.CounterOpts{Name: "mynagate_webhook_events_dispatched_total", Help: "Outbox events handed to endpoint queues."})
	return d, nil
}

// Collectors returns the deliverer's Prometheus metrics.
func (d *Deliverer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{d.attempts, d.dispatch}
}

// Wake makes idle workers look for work now (after events were written).
func (d *Deliverer) Wake() {
	d.wakeMu.Lock()
	close(d.wakeCh)
	d.wakeCh = make(chan struct{})
	d.wakeMu.Unlock()
}

func (d *Deliverer) woken() <-chan struct{} {
	d.wakeMu.Lock()
	defer d.wakeMu.Unlock()
	return d.wakeCh
}

// Run delivers until ctx ends.
//
// Shutdown protocol: cancel ctx, then wait for Run to return. Workers stop claiming; attempts in
// flight are cancelled and recorded as interrupted, due again at once (for any node), within a
// 5-second bound; then Run returns. If the process dies instead (kill -9, power loss), the
// deliveries it held stay claimed until their lease ends and are then attempted again by any
// node, with the same webhook-id: receivers see at least one attempt per event, and deduplicate
// on webhook-id.
func (d *Deliverer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range d.workers {
		wg.Go(func() { d.work(ctx) })
	}
	wg.Wait()
}

func (d *Deliverer) work(ctx context.Context) {
	for ctx.Err() == nil {
		woken := d.woken()
		n, err := d.Cycle(ctx)
		if err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "delivery: webhook delivery cycle failed", "err", err)
		}
		if n > 0 && err == nil {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
		case <-woken:
		case <-d.p.Clock().After(d.poll):
		}
	}
}

// Cycle dispatches new outbox events, claims one batch of due deliveries, attempts them in
// parallel and records the outcomes in one transaction. It returns how many it attempted. Run
// calls it in a loop; tests and benchmarks call it directly.
func (d *Deliverer) Cycle(ctx context.Context) (int, error) {
	now := d.p.Clock().Now().UTC()
	if d.dispatching.TryLock() {
		n, err := d.dispatchAll(ctx, now)
		d.dispatching.Unlock()
		d.dispatch.Add(float64(n))
		if err != nil {
			return 0, fmt.Errorf("delivery: dispatch events: %w", err)
		}
		if n > 0 {
			d.Wake() // idle workers: there are deliveries to claim
		}
	}
	claim := make([]byte, 12)
	if _, err := io.ReadFull(d.p.Rand(), claim); err != nil {
		return 0, fmt.Errorf("delivery: random claim: %w", err)
	}
	ds, err := d.st.ClaimDeliveries(ctx, now, now.Add(d.lease), hex.EncodeToString(claim), d.batch)
	if err != nil {
		return 0, fmt.Errorf("delivery: claim deliveries: %w", err)
	}
	if len(ds) == 0 {
		return 0, nil
	}
	keys := d.keys(ctx, ds, now)
	outcomes := make([]platform.DeliveryOutcome, len(ds))
	var wg sync.WaitGroup
	for i := range ds {
		wg.Go(func() { outcomes[i] = d.attempt(ctx, &ds[i], keys[ds[i].EndpointID]) })
	}
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.st.FinishDeliveries(fctx, outcomes); err != nil {
		// The claims stay; the deliveries become due again when their lease ends.
		return len(ds), fmt.Errorf("delivery: record %d delivery outcomes: %w", len(ds), err)
	}
	return len(ds), nil
}

// dispatchAll dispatches until nothing waits, in bounded rounds so that claims are not starved:
// verifications' events arrive at the rate of verifications, which one batch per poll would not
// keep up with. It returns how many it dispatched, also when a round fails.
func (d *Deliverer) dispatchAll(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for range 64 {
		n, err := d.st.DispatchEvents(ctx, now, 256)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

// keys opens the valid secrets of each endpoint in a batch; an endpoint whose secrets cannot
// be read gets none, and its attempts fail (and are retried).
func (d *Deliverer) keys(ctx context.Context, ds []platform.Delivery, now time.Time) map[string][][]byte {
	out := map[string][][]byte{}
	for _, dl := range ds {
		if _, ok := out[dl.EndpointID]; ok {
			continue
		}
		out[dl.EndpointID] = nil
		ss, err := d.st.WebhookSecrets(ctx, dl.EndpointID, now)
		if err != nil {
			slog.WarnContext(ctx, "delivery: webhook secrets", "endpoint", dl.EndpointID, "err", err)
			continue
		}
		for _, s := range ss {
			k, err := d.p.OpenWebhookSecret(s)
			if err != nil {
				slog.ErrorContext(ctx, "delivery: webhook secret", "endpoint", dl.EndpointID, "err", err)
				continue
			}
			out[dl.EndpointID] = append(out[dl.EndpointID], k)
		}
	}
	return out
}

// attempt sends one delivery and says what came of it.
func (d *Deliverer) attempt(ctx context.Context, dl *platform.Delivery, keys [][]byte) platform.DeliveryOutcome {
	start := d.p.Clock().Now().UTC()
	out := platform.DeliveryOutcome{ID: dl.ID, Claim: dl.Claim}
	status, err := d.send(ctx, dl, keys, start)
	out.At, out.Status = d.p.Clock().Now().UTC(), status
	switch {
	case err == nil:
		out.State = platform.DeliveryDelivered
		d.attempts.WithLabelValues("delivered").Inc()
		return out
	case ctx.Err() != nil:
		// Shutting down: not the receiver's fault; due again at once, for any node.
		out.State, out.NextAttemptAt, out.Error = platform.DeliveryPending, out.At, "interrupted by shutdown"
		d.attempts.WithLabelValues("interrupted").Inc()
		return out
	}
	out.Error = egress.Describe(ctx, err, dl.EndpointID)
	if dl.Attempts >= d.policy.MaxAttempts {
		out.State = platform.DeliveryDead
		d.attempts.WithLabelValues("dead").Inc()
		slog.WarnContext(ctx, "delivery: webhook delivery dead after its last attempt", "event", dl.EventID, "endpoint", dl.EndpointID, "attempts", dl.Attempts, "err", err)
		return out
	}
	out.State = platform.DeliveryPending
	out.NextAttemptAt = out.At.Add(d.policy.Delay(dl.Attempts, d.jitter()))
	d.attempts.WithLabelValues("retry").Inc()
	return out
}

// jitter draws a number in [0, 1) from the platform's randomness.
func (d *Deliverer) jitter() float64 {
	b := make([]byte, 8)
	if _, err := io.ReadFull(d.p.Rand(), b); err != nil {
		return 0.5
	}
	return float64(binary.BigEndian.Uint64(b)>>11) / (1 << 53)
}

// send POSTs the event with its signatures; any 2xx answer is a delivery.
func (d *Deliverer) send(ctx context.Context, dl *platform.Delivery, keys [][]byte, at time.Time) (int, error) {
	if len(keys) == 0 {
		return 0, errors.New("no valid signing secret for the endpoint")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mynagate-webhooks/1")
	webhook.SetHeaders(req.Header, keys, dl.EventID, at, dl.Payload)
	d.p.SetCheckpointHeader(ctx, req.Header)
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

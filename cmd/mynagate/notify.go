package main

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mynagate/mynagate/delivery"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/notify"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
)

// Revocation notification in a serve node (docs/design/revocation.md): the CRL fetcher feeds
// the notifier, which writes events to the outbox; the deliverer sends them as webhooks. Every
// node runs both; the store keeps nodes from doing the same work twice.

// crlHook is the fetcher's update hook, bound to the notifier once the platform exists. It
// MUST be bound before the first Refresh: the first CRL a node reads is checked against every
// watched certificate, which is how revocations published while no node ran are noticed.
type crlHook struct {
	mu sync.RWMutex
	f  revocation.UpdateFunc
}

func (h *crlHook) update(ctx context.Context, src revocation.Source, prev, next *revocation.Index) {
	h.mu.RLock()
	f := h.f
	h.mu.RUnlock()
	if f != nil {
		f(ctx, src, prev, next)
	}
}

// notification is a node's notifier and deliverer.
type notification struct {
	notifier  *notify.Notifier
	deliverer *delivery.Deliverer
	cancel    context.CancelFunc
	done      sync.WaitGroup
}

// startNotification binds hook to a new notifier for p (basic-4 updates from jc) and starts the
// notifier's follow-ups and the webhook deliverer until ctx ends or stop is called.
func startNotification(ctx context.Context, p *platform.Platform, jc *jlisapi.Client, hook *crlHook) (*notification, error) {
	n := &notification{}
	var err error
	if n.deliverer, err = delivery.New(p); err != nil {
		return nil, err
	}
	if n.notifier, err = notify.New(p, notify.WithBasic4Source(jc), notify.WithEventHook(n.deliverer.Wake)); err != nil {
		return nil, err
	}
	hook.mu.Lock()
	hook.f = wiring.OnCRLUpdate(n.notifier)
	hook.mu.Unlock()
	// Both stop with ctx; stop (after the HTTP server has stopped) waits for them, so that the
	// deliveries in flight are recorded as interrupted before the process exits.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, cancel)
	n.cancel = cancel
	n.done.Go(func() { n.notifier.Run(runCtx) })
	n.done.Go(func() { n.deliverer.Run(runCtx) })
	return n, nil
}

// stop ends the notifier and the deliverer and waits for them (the deliverer's shutdown
// protocol: attempts in flight are cancelled and recorded, within five seconds).
func (n *notification) stop() {
	n.cancel()
	n.done.Wait()
}

// collectors returns the deliverer's metrics.
func (n *notification) collectors() []prometheus.Collector { return n.deliverer.Collectors() }

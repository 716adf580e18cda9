package ticket

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"io"
	"time"

	"github.com/mynagate/mynagate/gate/manifest"
)

// cardKey returns the service's card key, read from the platform once (it never changes).
func (s *Service) cardKey(ctx context.Context) ([]byte, error) {
	s.cardKeyMu.Lock()
	defer s.cardKeyMu.Unlock()
	if s.cardKeyVal != nil {
		return s.cardKeyVal, nil
	}
	k, err := s.plat.CardKey(ctx)
	if err != nil {
		return nil, &Error{Kind: KindUnavailable, Reason: "platform-unavailable", Detail: "the identity platform did not give the card key: " + err.Error()}
	}
	if k.Format != "mynagate-card-id-v1" || len(k.Key) < 16 {
		return nil, &Error{Kind: KindUnavailable, Reason: "platform-unavailable", Detail: fmt.Sprintf("the platform's card key is of format %q, %d bytes: not one this service knows", k.Format, len(k.Key))}
	}
	s.cardKeyVal = k.Key
	return k.Key, nil
}

// GateTrust supplies what a gate checks taps against: the DER J-LIS authentication CA
// certificates and a DER CRL of each (the snapshot the gate takes offline).
type GateTrust func(ctx context.Context) (caCerts, crls [][]byte, err error)

// WithGate lets organisers download signed gate manifests (docs/design/gate.md): key signs them,
// trust supplies the CA certificates and CRL snapshot, validity bounds how long a manifest is
// good for (further bounded by the CRLs' nextUpdate).
func WithGate(key ed25519.PrivateKey, trust GateTrust, validity time.Duration) Option {
	return func(s *Service) { s.gateKey, s.gateTrust, s.gateValidity = key, trust, validity }
}

// GateManifest builds and signs the manifest of the organiser's event: its tickets (id, day,
// generation, seat, status, whether admitted, the commitment to the holder's registered card),
// the rotating-code key, a fresh commit key, the service's card key from the platform, the CA
// certificates and the CRL snapshot, and whether the event admits only with the holder's card.
func (s *Service) GateManifest(ctx context.Context, o *Organiser, eventID string) ([]byte, error) {
	ev, err := s.ownEvent(ctx, o, eventID)
	if err != nil {
		return nil, err
	}
	if s.gateKey == nil || s.gateTrust == nil {
		return nil, errf(KindRefused, "gate-not-configured", "this service has no gate manifest key")
	}
	cas, crls, err := s.gateTrust(ctx)
	if err != nil {
		return nil, errf(KindUnavailable, "trust-unavailable", "CA certificates or CRLs: %v", err)
	}
	if len(cas) == 0 || len(crls) == 0 {
		return nil, errf(KindUnavailable, "trust-unavailable", "no CA certificate or no CRL to give the gate")
	}
	now := s.clk.Now()
	notAfter := now.Add(s.gateValidity)
	for _, der := range crls {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, errf(KindUnavailable, "trust-unavailable", "CRL: %v", err)
		}
		if !crl.NextUpdate.IsZero() && crl.NextUpdate.Before(notAfter) {
			notAfter = crl.NextUpdate
		}
	}
	if !notAfter.After(now) {
		return nil, errf(KindUnavailable, "trust-unavailable", "the CRL snapshot is past its nextUpdate")
	}
	commitKey := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, commitKey); err != nil {
		return nil, fmt.Errorf("ticket: random: %w", err)
	}
	var cardKey []byte
	if ev.Identity != IdentityNone {
		if cardKey, err = s.cardKey(ctx); err != nil {
			return nil, err
		}
	}
	m := &manifest.Manifest{Event: ev.ID, EventName: ev.Name, IssuedAt: now, NotBefore: now, NotAfter: notAfter, RequireCard: ev.RequireCard,
		CommitKey: commitKey, CardKey: cardKey, CodeKey: s.codeKey, CACerts: cas, CRLs: crls, Tickets: []manifest.Ticket{}}
	rows, err := s.db.r.QueryContext(ctx, `SELECT t.id, e.event_date, t.generation, c.name, t.seat_no, t.status, t.admitted_at, COALESCE(p.needs_reverify, 0), COALESCE(p.card_id, '')
		FROM tickets t JOIN events e ON e.id = t.event_id JOIN seat_classes c ON c.id = t.seat_class_id
		LEFT JOIN persons p ON p.sub = substr(t.holder, 5) WHERE t.event_id = $1 ORDER BY t.id`, ev.ID)
	if err != nil {
		return nil, fmt.Errorf("ticket: gate manifest: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t manifest.Ticket
		var class string
		var seat, reverify int64
		var admitted *int64
		var cardID string
		if err := rows.Scan(&t.ID, &t.Day, &t.Generation, &class, &seat, &t.Status, &admitted, &reverify, &cardID); err != nil {
			return nil, fmt.Errorf("ticket: gate manifest: %w", err)
		}
		t.Event, t.Seat, t.Admitted = ev.ID, fmt.Sprintf("%s-%d", class, seat), admitted != nil
		if reverify != 0 {
			t.Status = "reverify"
		}
		if cardID != "" && cardKey != nil {
			t.Holder = manifest.CommitCard(commitKey, cardID)
		}
		m.Tickets = append(m.Tickets, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: gate manifest: %w", err)
	}
	return manifest.Sign(m, s.gateKey)
}

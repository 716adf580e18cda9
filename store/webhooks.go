package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mynagate/mynagate/platform"
)

// Webhooks (platform.WebhookStorage): endpoints, sealed secrets, the fan-out of outbox events to
// per-endpoint deliveries, and claims. The queries are the same in
// both dialects but for the row-locking clause of the claims (skipLocked).

// CreateWebhookEndpoint stores an endpoint with its first secret in one transaction.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e platform.WebhookEndpoint, sec platform.WebhookSecret) error {
	err := validate("CreateWebhookEndpoint").str("Endpoint.ID", e.ID).str("Endpoint.TenantID", e.TenantID).
		str("Endpoint.URL", e.URL).time("Endpoint.CreatedAt", e.CreatedAt).
		check("Endpoint.DisabledAt", e.DisabledAt == nil, "is set on a new endpoint").
		str("Secret.ID", sec.ID).check("Secret.EndpointID", sec.EndpointID == e.ID, "is not the endpoint's id").
		bytes("Secret.Sealed", sec.Sealed).time("Secret.CreatedAt", sec.CreatedAt).
		check("Secret.ExpiresAt", sec.ExpiresAt == nil, "is set on a new secret").done()
	if err != nil {
		return err
	}
	types, err := json.Marshal(nonNil(e.EventTypes))
	if err != nil {
		return fmt.Errorf("store: endpoint %s: %w", e.ID, err)
	}
	return s.inTx(ctx, "CreateWebhookEndpoint", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			e.ID, e.TenantID, e.URL, e.Description, string(types), nanos(e.CreatedAt))
		switch violated(err) {
		case uniqueViolation:
			return fmt.Errorf("store: endpoint %s exists: %w", e.ID, platform.ErrConflict)
		case foreignKeyViolation:
			return fmt.Errorf("store: endpoint %s: tenant %s: %w", e.ID, e.TenantID, platform.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: endpoint %s: %w", e.ID, err)
		}
		return insertSecret(ctx, tx, sec)
	})
}

func insertSecret(ctx context.Context, tx *sql.Tx, sec platform.WebhookSecret) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO webhook_secrets (endpoint_id, id, sealed, created_at) VALUES ($1, $2, $3, $4)`,
		sec.EndpointID, sec.ID, sec.Sealed, nanos(sec.CreatedAt))
	if violated(err) == uniqueViolation {
		return fmt.Errorf("store: secret %s exists: %w", sec.ID, platform.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: secret %s: %w", sec.ID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const endpointColumns = `id, tenant_id, url, description, event_types, created_at, disabled_at`

func scanEndpoint(row scanner) (*platform.WebhookEndpoint, error) {
	var (
		e        platform.WebhookEndpoint
		types    string
		created  int64
		disabled sql.NullInt64
	)
	if err := row.Scan(&e.ID, &e.TenantID, &e.URL, &e.Description, &types, &created, &disabled); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(types), &e.EventTypes); err != nil {
		return nil, fmt.Errorf("endpoint %s: event types: %w", e.ID, err)
	}
	if len(e.EventTypes) == 0 {
		e.EventTypes = nil
	}
	e.CreatedAt = fromNanos(created)
	if disabled.Valid {
		t := fromNanos(disabled.Int64)
		e.DisabledAt = &t
	}
	return &e, nil
}

// WebhookEndpoints lists a tenant's endpoints, oldest first.
func (s *Store) WebhookEndpoints(ctx context.Context, tenantID string) ([]platform.WebhookEndpoint, error) {
	if err := validate("WebhookEndpoints").str("tenantID", tenantID).done(); err != nil {
		return nil, err
	}
	return s.endpoints(ctx, s.r, `WHERE tenant_id = $1 ORDER BY created_at, id`, tenantID)
}

func (s *Store) endpoints(ctx context.Context, q querier, where string, args ...any) ([]platform.WebhookEndpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []platform.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("store: webhook endpoints: %w", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: webhook endpoints: %w", err)
	}
	return out, nil
}

// WebhookEndpoint returns one endpoint of a tenant.
func (s *Store) WebhookEndpoint(ctx context.Context, tenantID, id string) (*platform.WebhookEndpoint, error) {
	if err := validate("WebhookEndpoint").str("tenantID", tenantID).str("id", id).done(); err != nil {
		return nil, err
	}
	e, err := scanEndpoint(s.r.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: endpoint %s of %s: %w", id, tenantID, platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: endpoint %s: %w", id, err)
	}
	return e, nil
}

// DisableWebhookEndpoint disables an endpoint and drops its pending deliveries (dead), in one
// transaction.
func (s *Store) DisableWebhookEndpoint(ctx context.Context, tenantID, id string, at time.Time) error {
	if err := validate("DisableWebhookEndpoint").str("tenantID", tenantID).str("id", id).time("at", at).done(); err != nil {
		return err
	}
	return s.inTx(ctx, "DisableWebhookEndpoint", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled_at = $3 WHERE id = $1 AND tenant_id = $2 AND disabled_at IS NULL`,
			id, tenantID, nanos(at))
		if err != nil {
			return fmt.Errorf("store: disable endpoint %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2`, id, tenantID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: endpoint %s of %s: %w", id, tenantID, platform.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("store: disable endpoint %s: %w", id, err)
			}
			return fmt.Errorf("store: endpoint %s is disabled already: %w", id, platform.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'dead', claim = NULL, last_error = 'endpoint disabled'
			WHERE endpoint_id = $1 AND state = 'pending'`, id)
		if err != nil {
			return fmt.Errorf("store: disable endpoint %s: %w", id, err)
		}
		return nil
	})
}

// enabledEndpoint checks, inside tx, that an endpoint is the tenant's and enabled.
func enabledEndpoint(ctx context.Context, tx *sql.Tx, tenantID, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhook_endpoints WHERE id = $1 AND tenant_id = $2 AND disabled_at IS NULL`, id, tenantID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: enabled endpoint %s of %s: %w", id, tenantID, platform.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: endpoint %s: %w", id, err)
	}
	return nil
}

// RotateWebhookSecret adds a current secret and retires the previous ones, in one transaction.
func (s *Store) RotateWebhookSecret(ctx context.Context, tenantID, endpointID string, next platform.WebhookSecret, retireAt time.Time) error {
	err := validate("RotateWebhookSecret").str("tenantID", tenantID).str("endpointID", endpointID).
		str("Secret.ID", next.ID).check("Secret.EndpointID", next.EndpointID == endpointID, "is not endpointID").
		bytes("Secret.Sealed", next.Sealed).time("Secret.CreatedAt", next.CreatedAt).
		check("Secret.ExpiresAt", next.ExpiresAt == nil, "is set on a new secret").time("retireAt", retireAt).
		check("retireAt", !retireAt.Before(next.CreatedAt), "is before the new secret").done()
	if err != nil {
		return err
	}
	now := nanos(next.CreatedAt)
	return s.inTx(ctx, "RotateWebhookSecret", func(tx *sql.Tx) error {
		if err := enabledEndpoint(ctx, tx, tenantID, endpointID); err != nil {
			return err
		}
		// A secret still in its grace period stops now: never more than two valid.
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_secrets SET expires_at = $2 WHERE endpoint_id = $1 AND expires_at > $2`, endpointID, now); err != nil {
			return fmt.Errorf("store: rotate secret of %s: %w", endpointID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_secrets SET expires_at = $2 WHERE endpoint_id = $1 AND expires_at IS NULL`, endpointID, nanos(retireAt)); err != nil {
			return fmt.Errorf("store: rotate secret of %s: %w", endpointID, err)
		}
		return insertSecret(ctx, tx, next)
	})
}

// WebhookSecrets returns the secrets of an endpoint valid at t, newest first.
func (s *Store) WebhookSecrets(ctx context.Context, endpointID string, t time.Time) ([]platform.WebhookSecret, error) {
	if err := validate("WebhookSecrets").str("endpointID", endpointID).time("t", t).done(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `
		SELECT endpoint_id, id, sealed, created_at, expires_at FROM webhook_secrets
		WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)
		ORDER BY created_at DESC, id DESC`, endpointID, nanos(t))
	if err != nil {
		return nil, fmt.Errorf("store: secrets of %s: %w", endpointID, err)
	}
	defer rows.Close()
	var out []platform.WebhookSecret
	for rows.Next() {
		var sec platform.WebhookSecret
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&sec.EndpointID, &sec.ID, &sec.Sealed, &created, &expires); err != nil {
			return nil, fmt.Errorf("store: secrets of %s: %w", endpointID, err)
		}
		sec.CreatedAt = fromNanos(created)
		if expires.Valid {
			e := fromNanos(expires.Int64)
			sec.ExpiresAt = &e
		}
		out = append(out, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: secrets of %s: %w", endpointID, err)
	}
	return out, nil
}

// DispatchEvents fans undispatched outbox events out to deliveries, oldest first, in one
// transaction, and marks them dispatched (delivered_at: handed to the endpoint queues). On
// PostgreSQL they are picked FOR UPDATE SKIP LOCKED, so nodes dispatching together take
// different events; ClaimDeliveries keeps one person's events in order even then, because it
// waits for earlier undispatched events of the person. An event no endpoint wants (any more)
// is marked dispatched with no delivery. It returns how many events it dispatched, up to limit.
func (s *Store) DispatchEvents(ctx context.Context, at time.Time, limit int) (int, error) {
	if err := validate("DispatchEvents").time("at", at).check("limit", limit > 0, "is not positive").done(); err != nil {
		return 0, err
	}
	// Most calls find nothing to dispatch: ask the reader first, so that they cost no write
	// transaction (on SQLite, no turn on the single writer).
	var pending bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE delivered_at IS NULL)`).Scan(&pending)
	if err != nil {
		return 0, fmt.Errorf("store: dispatch events: %w", err)
	}
	if !pending {
		return 0, nil
	}
	var n int
	err = s.inTx(ctx, "DispatchEvents", func(tx *sql.Tx) error {
		d := dispatch{s: s, tx: tx, at: at, endpoints: map[string][]platform.WebhookEndpoint{}}
		var err error
		n, err = d.outbox(ctx, limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// dispatch is one DispatchEvents transaction.
type dispatch struct {
	s         *Store
	tx        *sql.Tx
	at        time.Time
	endpoints map[string][]platform.WebhookEndpoint // by tenant, enabled ones
}

// wanting returns the enabled endpoints of a tenant that want events of type typ.
func (d *dispatch) wanting(ctx context.Context, tenantID, typ string) ([]platform.WebhookEndpoint, error) {
	eps, ok := d.endpoints[tenantID]
	if !ok {
		var err error
		if eps, err = d.s.endpoints(ctx, d.tx, `WHERE tenant_id = $1 AND disabled_at IS NULL ORDER BY created_at, id`, tenantID); err != nil {
			return nil, err
		}
		d.endpoints[tenantID] = eps
	}
	var out []platform.WebhookEndpoint
	for _, ep := range eps {
		if ep.Wants(typ) {
			out = append(out, ep)
		}
	}
	return out, nil
}

// deliver queues one pending delivery of an outbox event to each endpoint.
func (d *dispatch) deliver(ctx context.Context, seq int64, id, tenantID string, orderingKey sql.NullString, eps []platform.WebhookEndpoint) error {
	for _, ep := range eps {
		_, err := d.tx.ExecContext(ctx, `
			INSERT INTO webhook_deliveries (event_seq, event_id, endpoint_id, tenant_id, ordering_key, state, next_attempt_at, created_at)
			VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)
			ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
			seq, id, ep.ID, tenantID, orderingKey, nanos(d.at))
		if err != nil {
			return fmt.Errorf("store: dispatch event %s to %s: %w", id, ep.ID, err)
		}
	}
	return nil
}

// outbox dispatches up to limit undispatched outbox events.
func (d *dispatch) outbox(ctx context.Context, limit int) (int, error) {
	type event struct {
		seq             int64
		id, tenant, typ string
		orderingKey     sql.NullString
	}
	rows, err := d.tx.QueryContext(ctx, `SELECT seq, id, tenant_id, type, ordering_key FROM outbox
		WHERE delivered_at IS NULL ORDER BY seq LIMIT $1`+d.s.skipLocked(), limit)
	if err != nil {
		return 0, fmt.Errorf("store: dispatch events: %w", err)
	}
	var events []event
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.seq, &e.id, &e.tenant, &e.typ, &e.orderingKey); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: dispatch events: %w", err)
		}
		events = append(events, e)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("store: dispatch events: %w", err)
	}
	for _, e := range events {
		eps, err := d.wanting(ctx, e.tenant, e.typ)
		if err != nil {
			return 0, err
		}
		if err := d.deliver(ctx, e.seq, e.id, e.tenant, e.orderingKey, eps); err != nil {
			return 0, err
		}
		if _, err := d.tx.ExecContext(ctx, `UPDATE outbox SET delivered_at = $2 WHERE seq = $1`, e.seq, nanos(d.at)); err != nil {
			return 0, fmt.Errorf("store: dispatch event %s: %w", e.id, err)
		}
	}
	return len(events), nil
}

const deliveryColumns = `d.id, d.event_id, o.type, d.event_seq, o.payload, d.endpoint_id, e.url, d.tenant_id, d.state, d.attempts,
	d.next_attempt_at, d.claim, d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at`

const deliveryFrom = ` FROM webhook_deliveries d JOIN outbox o ON o.id = d.event_id JOIN webhook_endpoints e ON e.id = d.endpoint_id `

func scanDelivery(row scanner) (platform.Delivery, error) {
	var (
		d                       platform.Delivery
		state                   string
		next, created           int64
		claim                   sql.NullString
		lastAttempt, deliveredA sql.NullInt64
	)
	err := row.Scan(&d.ID, &d.EventID, &d.EventType, &d.EventSeq, &d.Payload, &d.EndpointID, &d.URL, &d.TenantID, &state, &d.Attempts,
		&next, &claim, &lastAttempt, &d.LastStatus, &d.LastError, &deliveredA, &created)
	if err != nil {
		return d, err
	}
	d.State, d.NextAttemptAt, d.Claim, d.CreatedAt = platform.DeliveryState(state), fromNanos(next), claim.String, fromNanos(created)
	if lastAttempt.Valid {
		t := fromNanos(lastAttempt.Int64)
		d.LastAttemptAt = &t
	}
	if deliveredA.Valid {
		t := fromNanos(deliveredA.Int64)
		d.DeliveredAt = &t
	}
	return d, nil
}

// ClaimDeliveries claims due deliveries whose person has no earlier event still on its way to
// the endpoint: one UPDATE … RETURNING over rows picked FOR UPDATE SKIP LOCKED on PostgreSQL
// (the single writer serialises claims on SQLite), then a read of the claimed rows.
func (s *Store) ClaimDeliveries(ctx context.Context, at, leaseUntil time.Time, claim string, limit int) ([]platform.Delivery, error) {
	err := validate("ClaimDeliveries").time("at", at).time("leaseUntil", leaseUntil).check("leaseUntil", leaseUntil.After(at), "is not after at").
		str("claim", claim).check("limit", limit > 0, "is not positive").done()
	if err != nil {
		return nil, err
	}
	var out []platform.Delivery
	err = s.inTx(ctx, "ClaimDeliveries", func(tx *sql.Tx) error {
		out = nil
		res, err := tx.ExecContext(ctx, `
			UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $2, claim = $3, last_attempt_at = $1
			WHERE id IN (
				SELECT d.id FROM webhook_deliveries d
				WHERE d.state = 'pending' AND d.next_attempt_at <= $1
					AND (d.ordering_key IS NULL OR (
						NOT EXISTS (SELECT 1 FROM webhook_deliveries p
							WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key
								AND p.state = 'pending' AND p.event_seq < d.event_seq)
						AND NOT EXISTS (SELECT 1 FROM outbox o
							WHERE o.tenant_id = d.tenant_id AND o.ordering_key = d.ordering_key
								AND o.delivered_at IS NULL AND o.seq < d.event_seq)))
				ORDER BY d.event_seq LIMIT $4`+s.skipLocked()+`)`,
			nanos(at), nanos(leaseUntil), claim, limit)
		if err != nil {
			return fmt.Errorf("store: claim deliveries: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+deliveryColumns+deliveryFrom+`WHERE d.claim = $1 ORDER BY d.event_seq, d.id`, claim)
		if err != nil {
			return fmt.Errorf("store: claimed deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return fmt.Errorf("store: claimed deliveries: %w", err)
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FinishDeliveries records outcomes in one transaction, each guarded by its claim token.
func (s *Store) FinishDeliveries(ctx context.Context, outcomes []platform.DeliveryOutcome) error {
	val := validate("FinishDeliveries")
	for i, o := range outcomes {
		f := fmt.Sprintf("outcomes[%d].", i)
		val.check(f+"ID", o.ID > 0, "is not positive").str(f+"Claim", o.Claim).time(f+"At", o.At).
			check(f+"State", o.State == platform.DeliveryDelivered || o.State == platform.DeliveryPending || o.State == platform.DeliveryDead, "is not a known state")
		if o.State == platform.DeliveryPending {
			val.time(f+"NextAttemptAt", o.NextAttemptAt)
		}
	}
	if err := val.done(); err != nil {
		return err
	}
	return s.inTx(ctx, "FinishDeliveries", func(tx *sql.Tx) error {
		for _, o := range outcomes {
			var err error
			switch o.State {
			case platform.DeliveryDelivered:
				_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $3, last_status = $4, last_error = '', claim = NULL
					WHERE id = $1 AND claim = $2`, o.ID, o.Claim, nanos(o.At), o.Status)
			case platform.DeliveryPending:
				_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $3, last_status = $4, last_error = $5, claim = NULL
					WHERE id = $1 AND claim = $2 AND state = 'pending'`, o.ID, o.Claim, nanos(o.NextAttemptAt), o.Status, o.Error)
			case platform.DeliveryDead:
				_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'dead', last_status = $3, last_error = $4, claim = NULL
					WHERE id = $1 AND claim = $2 AND state = 'pending'`, o.ID, o.Claim, o.Status, o.Error)
			}
			if err != nil {
				return fmt.Errorf("store: finish delivery %d: %w", o.ID, err)
			}
		}
		return nil
	})
}

// RedeliverEvent makes an event's deliveries pending again (or creates them), due at `at`.
func (s *Store) RedeliverEvent(ctx context.Context, tenantID, eventID, endpointID string, at time.Time) (int, error) {
	if err := validate("RedeliverEvent").str("tenantID", tenantID).str("eventID", eventID).time("at", at).done(); err != nil {
		return 0, err
	}
	n := 0
	err := s.inTx(ctx, "RedeliverEvent", func(tx *sql.Tx) error {
		n = 0
		var (
			typ         string
			orderingKey sql.NullString
		)
		var seq int64
		err := tx.QueryRowContext(ctx, `SELECT seq, type, ordering_key FROM outbox WHERE id = $1 AND tenant_id = $2`,
			eventID, tenantID).Scan(&seq, &typ, &orderingKey)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: event %s of %s: %w", eventID, tenantID, platform.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: redeliver %s: %w", eventID, err)
		}
		var eps []platform.WebhookEndpoint
		if endpointID != "" {
			if err := enabledEndpoint(ctx, tx, tenantID, endpointID); err != nil {
				return err
			}
			eps = []platform.WebhookEndpoint{{ID: endpointID}}
		} else {
			all, err := s.endpoints(ctx, tx, `WHERE tenant_id = $1 AND disabled_at IS NULL ORDER BY created_at, id`, tenantID)
			if err != nil {
				return err
			}
			for _, ep := range all {
				if ep.Wants(typ) {
					eps = append(eps, ep)
				}
			}
		}
		for _, ep := range eps {
			// A delivery still pending (perhaps in flight) is left alone.
			res, err := tx.ExecContext(ctx, `
				INSERT INTO webhook_deliveries (event_seq, event_id, endpoint_id, tenant_id, ordering_key, state, next_attempt_at, created_at)
				VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)
				ON CONFLICT (event_id, endpoint_id) DO UPDATE SET state = 'pending', attempts = 0, next_attempt_at = $6, claim = NULL, last_error = ''
				WHERE webhook_deliveries.state <> 'pending'`,
				seq, eventID, ep.ID, tenantID, orderingKey, nanos(at))
			if err != nil {
				return fmt.Errorf("store: redeliver %s to %s: %w", eventID, ep.ID, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: redeliver %s to %s: %w", eventID, ep.ID, err)
			}
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// RedeliverDead makes every dead delivery of an enabled endpoint pending again.
func (s *Store) RedeliverDead(ctx context.Context, tenantID, endpointID string, at time.Time) (int, error) {
	if err := validate("RedeliverDead").str("tenantID", tenantID).str("endpointID", endpointID).time("at", at).done(); err != nil {
		return 0, err
	}
	n := 0
	err := s.inTx(ctx, "RedeliverDead", func(tx *sql.Tx) error {
		if err := enabledEndpoint(ctx, tx, tenantID, endpointID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2, claim = NULL, last_error = ''
			WHERE endpoint_id = $1 AND state = 'dead'`, endpointID, nanos(at))
		if err != nil {
			return fmt.Errorf("store: redeliver dead of %s: %w", endpointID, err)
		}
		k, err := res.RowsAffected()
		n = int(k)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Deliveries lists a tenant's deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, tenantID string, q platform.DeliveryQuery) ([]platform.Delivery, error) {
	if err := validate("Deliveries").str("tenantID", tenantID).check("Limit", q.Limit > 0, "is not positive").done(); err != nil {
		return nil, err
	}
	where := []string{"d.tenant_id = $1"}
	args := []any{tenantID}
	for _, f := range []struct{ col, v string }{{"d.state", string(q.State)}, {"d.endpoint_id", q.EndpointID}, {"d.event_id", q.EventID}} {
		if f.v != "" {
			args = append(args, f.v)
			where = append(where, fmt.Sprintf("%s = $%d", f.col, len(args)))
		}
	}
	args = append(args, q.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryColumns+deliveryFrom+`WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY d.id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []platform.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: deliveries of %s: %w", tenantID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: deliveries of %s: %w", tenantID, err)
	}
	return out, nil
}

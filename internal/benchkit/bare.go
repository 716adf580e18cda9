package benchkit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// bareGroup is how many rows one transaction of BareInsert carries: the store's largest group.
const bareGroup = 64

// BareInsert measures the ceiling of the PostgreSQL store's verification writes: the entry rows
// of the last Split's completions (the same bytes CompleteSession wrote), copied with pgx
// CopyFrom into a table like evidence_entries (its columns, defaults, checks and indexes; no
// foreign keys, no session to match), bareGroup rows a transaction, by workers goroutines on
// connections of their own. No verification can be written faster than its row alone. An
// error on SQLite, which has no such bound to measure here.
func (w *World) BareInsert(ctx context.Context, workers int) (Result, error) {
	if w.dsn == "" {
		return Result{}, errors.New("bare insert: PostgreSQL only")
	}
	if len(w.held) == 0 {
		return Result{}, errors.New("bare insert: run Split first")
	}
	setup, err := pgx.Connect(ctx, w.dsn)
	if err != nil {
		return Result{}, fmt.Errorf("bare insert: %w", err)
	}
	defer setup.Close(context.WithoutCancel(ctx))
	if _, err := setup.Exec(ctx, `DROP TABLE IF EXISTS bench_bare_entries;
		CREATE TABLE bench_bare_entries (LIKE evidence_entries INCLUDING ALL)`); err != nil {
		return Result{}, fmt.Errorf("bare insert: %w", err)
	}
	defer setup.Exec(context.WithoutCancel(ctx), `DROP TABLE bench_bare_entries`)
	cols := []string{"id", "tenant_id", "created_at", "leaf", "leaf_hash", "sealed", "wrapped_key", "shred_after",
		"session_id", "purpose", "decision", "reason", "detail", "person_id", "cert_ca", "cert_serial", "method", "revocation_ref",
		"event_id", "event_type", "event_payload"}
	rows := make([][]any, len(w.held))
	for i, c := range w.held {
		v, r := c.v, c.rec
		var person, evID, evType any
		var payload []byte
		if v.PersonID != "" {
			person = v.PersonID
		}
		if len(c.events) == 1 {
			evID, evType, payload = c.events[0].ID, c.events[0].Type, c.events[0].Payload
		}
		var shred any
		if len(r.Sealed) > 0 {
			shred = r.ShredAfter.UnixNano()
		}
		rows[i] = []any{v.ID, v.TenantID, v.CreatedAt.UnixNano(), r.LeafData, r.LeafHash[:], r.Sealed, r.WrappedKey, shred,
			v.SessionID, string(v.Purpose), string(v.Decision), v.Reason, v.Detail, person, v.CertCA, v.CertSerial, string(v.Method), v.RevocationRef,
			evID, evType, payload}
	}
	conns := make([]*pgx.Conn, workers)
	for i := range conns {
		if conns[i], err = pgx.Connect(ctx, w.dsn); err != nil {
			return Result{}, fmt.Errorf("bare insert: %w", err)
		}
		defer conns[i].Close(context.WithoutCancel(ctx))
	}
	free := make(chan *pgx.Conn, workers)
	for _, c := range conns {
		free <- c
	}
	groups := (len(rows) + bareGroup - 1) / bareGroup
	start, cpu := time.Now(), processCPU()
	err = forEach(groups, workers, func(g int) error {
		c := <-free
		defer func() { free <- c }()
		batch := rows[g*bareGroup : min((g+1)*bareGroup, len(rows))]
		// Outside a transaction, COPY is one: one commit per group.
		_, err := c.CopyFrom(ctx, pgx.Identifier{"bench_bare_entries"}, cols, pgx.CopyFromRows(batch))
		return err
	})
	el, used := time.Since(start), processCPU()-cpu
	if err != nil {
		return Result{}, fmt.Errorf("bare insert: %w", err)
	}
	return Result{Name: "bare insert", N: len(rows), Elapsed: el, Workers: workers, CPU: used}, nil
}

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

// BareInsert measures the ceiling of the PostgreSQL store's verification writes: the entry and
// verification rows of the last Split's completions (the same bytes CompleteSession wrote),
// copied with pgx CopyFrom into tables like evidence_entries and verifications (their columns,
// defaults, checks and indexes; no foreign keys, no session to match), bareGroup rows of each a
// transaction, by workers goroutines on connections of their own. No verification can be
// written faster than its rows alone. (The bench's tenant has no webhook endpoint, so its
// verifications write no event.) An error on SQLite, which has no such bound to measure here.
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
	if _, err := setup.Exec(ctx, `DROP TABLE IF EXISTS bench_bare_entries, bench_bare_verifications;
		CREATE TABLE bench_bare_entries (LIKE evidence_entries INCLUDING ALL);
		CREATE TABLE bench_bare_verifications (LIKE verifications INCLUDING ALL)`); err != nil {
		return Result{}, fmt.Errorf("bare insert: %w", err)
	}
	defer setup.Exec(context.WithoutCancel(ctx), `DROP TABLE bench_bare_entries, bench_bare_verifications`)
	entryCols := []string{"id", "tenant_id", "created_at", "leaf", "leaf_hash", "sealed", "wrapped_key", "shred_after"}
	verificationCols := []string{"id", "tenant_id", "session_id", "purpose", "decision", "reason", "detail", "person_id",
		"cert_ca", "cert_serial", "method", "revocation_ref", "created_at"}
	entries, verifications := make([][]any, len(w.held)), make([][]any, len(w.held))
	for i, c := range w.held {
		v, r := c.v, c.rec
		var person any
		if v.PersonID != "" {
			person = v.PersonID
		}
		var shred any
		if len(r.Sealed) > 0 {
			shred = r.ShredAfter.UnixNano()
		}
		entries[i] = []any{v.ID, v.TenantID, v.CreatedAt.UnixNano(), r.LeafData, r.LeafHash[:], r.Sealed, r.WrappedKey, shred}
		verifications[i] = []any{v.ID, v.TenantID, v.SessionID, string(v.Purpose), string(v.Decision), v.Reason, v.Detail, person,
			v.CertCA, v.CertSerial, string(v.Method), v.RevocationRef, v.CreatedAt.UnixNano()}
	}
	rows := entries
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
		lo, hi := g*bareGroup, min((g+1)*bareGroup, len(rows))
		// One transaction, one commit, per group.
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_bare_entries"}, entryCols, pgx.CopyFromRows(entries[lo:hi])); err != nil {
				return err
			}
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_bare_verifications"}, verificationCols, pgx.CopyFromRows(verifications[lo:hi]))
			return err
		})
	})
	el, used := time.Since(start), processCPU()-cpu
	if err != nil {
		return Result{}, fmt.Errorf("bare insert: %w", err)
	}
	return Result{Name: "bare insert", N: len(rows), Elapsed: el, Workers: workers, CPU: used}, nil
}

package store

import (
	"context"
	"database/sql"
)

// Test hooks into the database behind a Store, for checking what the platform.Storage methods
// cannot show (rows the API never reads back, such as the outbox) and for the benchmark baseline.

// CountRows returns the number of rows of a table.
func CountRows(ctx context.Context, s *Store, table string) (int64, error) {
	return QueryInt(ctx, s, `SELECT count(*) FROM `+table)
}

// QueryInt runs a query that returns one integer, on the writer.
func QueryInt(ctx context.Context, s *Store, query string, args ...any) (int64, error) {
	var n int64
	err := s.w.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// Exec runs a statement on the writer.
func Exec(ctx context.Context, s *Store, query string, args ...any) error {
	_, err := s.w.ExecContext(ctx, query, args...)
	return err
}

// InTx runs f in one write transaction (for bulk set-up in benchmarks).
func InTx(ctx context.Context, s *Store, f func(tx *sql.Tx) error) error {
	return s.inTx(ctx, "test", f)
}

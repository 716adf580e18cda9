package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
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

// ExecRaw runs statements on the database at dsn without opening a Store (which would migrate
// it to the newest schema).
func ExecRaw(ctx context.Context, dsn string, stmts ...string) error {
	driver, name := "pgx", dsn
	if strings.HasPrefix(dsn, "sqlite:") {
		driver, name = "sqlite", strings.TrimPrefix(dsn, "sqlite:")+"?_pragma=foreign_keys(1)"
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// QueryRaw runs a query on the database at dsn without opening a Store, and returns each row's
// columns joined by spaces.
func QueryRaw(ctx context.Context, dsn, query string) ([]string, error) {
	driver, name := "pgx", dsn
	if strings.HasPrefix(dsn, "sqlite:") {
		driver, name = "sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:")+"?mode=ro"
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(fmt.Sprintln(vals...)))
	}
	return out, rows.Err()
}

func validateRecords(op string, recs []evidence.Record) error {
	v := validate(op).check("recs", len(recs) > 0, "is empty")
	for i, r := range recs {
		f := fmt.Sprintf("recs[%d].", i)
		v.str(f+"ID", r.ID).str(f+"TenantID", r.TenantID).time(f+"Time", r.Time).record(f, &r)
	}
	return v.done()
}

// AddEntries is evidencetest.Storage's way in for the conformance suite and the crash test:
// the records in one transaction, as entries that record no verification. The platform writes
// an entry only in its verification's transaction (CompleteSession).
func (s *Store) AddEntries(ctx context.Context, recs []evidence.Record) error {
	if err := validateRecords("AddEntries", recs); err != nil {
		return err
	}
	var steps []step
	for _, r := range recs {
		// An entry's tenant is a foreign key; the conformance suite's tenants are made here.
		steps = append(steps, step{
			query: `INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, 0) ON CONFLICT (id) DO NOTHING`,
			args:  []any{r.TenantID},
			check: failsWith("store: add evidence entry %s: tenant", r.ID),
		}, step{
			query: `INSERT INTO evidence_entries (id, tenant_id, created_at, idx, leaf, leaf_hash, sealed, wrapped_key, shred_after)
				VALUES ($1, $2, $3, ` + s.indexExpr() + `, $4, $5, $6, $7, $8)`,
			args: []any{r.ID, r.TenantID, nanos(r.Time), r.LeafData, r.LeafHash[:], nullBytes(r.Sealed), nullBytes(r.WrappedKey), sealedUntil(&r)},
			check: func(_ int64, err error) error {
				if violated(err) == uniqueViolation {
					return fmt.Errorf("store: evidence entry %s exists: %w", r.ID, evidence.ErrDuplicate)
				}
				if err != nil {
					return fmt.Errorf("store: add evidence entry %s: %w", r.ID, err)
				}
				return nil
			},
		})
	}
	return s.runSteps(ctx, "AddEntries", steps, nil)
}

// Completion is one CompleteSession's arguments, for CompleteGroup.
type Completion struct {
	V        platform.Verification
	Certs    []platform.PersonCert // sorted by CA and serial
	Events   []platform.Event
	Consents []platform.Consent
	Rec      *evidence.Record
}

// CompleteGroup writes cs as ONE group of a PostgreSQL store's committers (pggroup.go), as if
// they had been queued together, and returns what CompleteSession would return for each: the
// group's answer, or for a completion the group did not write, the answer of running it alone.
func CompleteGroup(ctx context.Context, s *Store, cs []Completion) []error {
	group := make([]*pgCompletion, len(cs))
	for i, c := range cs {
		group[i] = &pgCompletion{v: c.V, certs: c.Certs, consents: c.Consents, rec: c.Rec, month: c.V.CreatedAt.In(jpki.JST).Format("2006-01"), done: make(chan error, 1)}
		if len(c.Events) == 1 {
			group[i].ev = &c.Events[0]
		}
	}
	s.writePGGroup(slices.Clone(group), 0)
	out := make([]error, len(cs))
	for i, c := range group {
		if out[i] = <-c.done; errors.Is(out[i], errAlone) {
			out[i] = s.CompleteSession(ctx, cs[i].V, cs[i].Certs, cs[i].Events, cs[i].Consents, cs[i].Rec)
		}
	}
	return out
}

// Migrations and LastLegacyVersion, for the test of migration numbers.
var Migrations, LastLegacyVersion = migrations, lastLegacyVersion

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Transactions as lists of steps.
//
// A verification's transaction is a fixed list of statements, none of which needs the result
// of another to be written (only to be judged: a guard that matched no row, a duplicate). Such a
// transaction is written as steps — a statement, its arguments and what its outcome means — so
// that it can run two ways with the same SQL:
//
//   - in a *sql.Tx, one statement after the other (SQLite, inside the group committer);
//   - on PostgreSQL, pipelined: BEGIN and every statement go to the server in one round trip
//     (pgx's batch on the connection under database/sql), their outcomes are judged in order, and
//     a second round trip sends COMMIT — or ROLLBACK once a step refused. Between two processes
//     sharing two cores the round trips, eight per verification, were most of a completion's
//     time; now they are two.
//
// A step's statements after a refusing one still run on the server (they were sent already),
// but inside the transaction that is then rolled back, so nothing of them stays.

// step is one statement of a transaction.
type step struct {
	query string
	args  []any
	// check judges the statement's outcome — rows affected, or its error — and returns the
	// transaction's error, or nil to go on.
	check func(n int64, err error) error
}

// failsWith is the check of a statement whose only failure is an error: wrapped, it fails the
// transaction with what was being done (format and a).
func failsWith(format string, a ...any) func(int64, error) error {
	return func(_ int64, err error) error {
		if err != nil {
			return fmt.Errorf(format+": %w", append(a, err)...)
		}
		return nil
	}
}

// querier reads, in a transaction (*sql.Tx) or not (*sql.DB).
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// explainFunc turns a step's refusal into the transaction's error, reading what it needs through
// q: inside the transaction on SQLite (where the group may hold the change that made the step
// refuse), after the rollback on PostgreSQL (where the step waited for that change to commit).
type explainFunc func(ctx context.Context, q querier, refused error) error

// execSteps runs steps one after the other in tx. Once the first has written, the others run to
// their end even if ctx is cancelled meanwhile (they take microseconds): the transaction (or, in
// a group commit, its savepoint) is then committed or rolled back whole.
func execSteps(ctx context.Context, tx *sql.Tx, steps []step, explain explainFunc) error {
	for i, st := range steps {
		if i == 1 {
			ctx = context.WithoutCancel(ctx)
		}
		res, err := tx.ExecContext(ctx, st.query, st.args...)
		var n int64
		if err == nil {
			n, err = res.RowsAffected()
		}
		if err := st.check(n, err); err != nil {
			if explain != nil {
				err = explain(ctx, tx, err)
			}
			return err
		}
	}
	return nil
}

// runSteps runs steps as one transaction: pipelined on PostgreSQL, through inTx on SQLite.
func (s *Store) runSteps(ctx context.Context, op string, steps []step, explain explainFunc) error {
	if s.dialect != DialectPostgres {
		return s.inTx(ctx, op, func(tx *sql.Tx) error { return execSteps(ctx, tx, steps, explain) })
	}
	refused, err := s.pipeline(ctx, op, steps)
	if refused != nil {
		if explain != nil {
			return explain(ctx, s.w, refused)
		}
		return refused
	}
	return err
}

// pipeline sends steps as one PostgreSQL transaction (see above) on a connection of the pool,
// which it gives back before returning: the caller may need the pool again to explain a
// refusal, and with every connection held that would wait for ever. It returns the first
// step's refusal, or the error of the round trips.
func (s *Store) pipeline(ctx context.Context, op string, steps []step) (refused, err error) {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: %s: postgres connection is %T", op, dc)
		}
		pc := sc.Conn()
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		for _, st := range steps {
			b.Queue(st.query, st.args...)
		}
		br := pc.SendBatch(ctx, b)
		_, err := br.Exec() // BEGIN
		if err == nil {
			for _, st := range steps {
				tag, err := br.Exec()
				if refused = st.check(tag.RowsAffected(), err); refused != nil {
					break
				}
			}
		}
		// Close reads what is left of the pipeline; after a refusal its errors are the
		// aborted transaction's and say nothing new.
		if cerr := br.Close(); err == nil && refused == nil {
			err = cerr
		}
		end := "COMMIT"
		if err != nil || refused != nil {
			end = "ROLLBACK"
		}
		if _, eerr := pc.Exec(context.WithoutCancel(ctx), end); eerr != nil {
			if end == "ROLLBACK" || pc.IsClosed() {
				// The connection's transaction state is unknown: database/sql must drop it.
				return errors.Join(err, refused, fmt.Errorf("%s: %w", end, eerr), driver.ErrBadConn)
			}
			return eerr // a failed COMMIT ends the transaction (rolled back)
		}
		return err
	})
	if err != nil && refused == nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	return refused, nil
}

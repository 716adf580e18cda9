package store

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// ErrIncomplete is returned (wrapped in an [*IncompleteError]) by every Store method called
// without a required input, or with one the schema cannot hold (an unknown purpose, a zero time).
// Nothing was read or written. It is a bug in the caller, not a client error: the API answers
// 500 and logs the IncompleteError.
var ErrIncomplete = errors.New("store: incomplete request")

// IncompleteError says which input of which method was missing or invalid.
type IncompleteError struct {
	Op     string // the Store method, e.g. "CreateSession"
	Field  string // the input, e.g. "Session.Nonce"
	Reason string // what is wrong with it, e.g. "is empty"
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("store: %s: incomplete request: %s %s", e.Op, e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrIncomplete) true.
func (e *IncompleteError) Unwrap() error { return ErrIncomplete }

// LogValue logs the error as its parts.
func (e *IncompleteError) LogValue() slog.Value {
	return slog.GroupValue(slog.String("op", e.Op), slog.String("field", e.Field), slog.String("reason", e.Reason))
}

// constraint is the kind of integrity constraint a database error reports.
type constraint int

const (
	noConstraint constraint = iota
	uniqueViolation
	foreignKeyViolation
	notNullViolation
)

// SQLite's extended result codes for constraint failures (https://sqlite.org/rescode.html),
// which modernc.org/sqlite reports through (*sqlite.Error).Code.
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintNotNull    = 1299
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// violated classifies err as one of the constraint violations the store maps to sentinels.
func violated(err error) constraint {
	var le *sqlite.Error
	if errors.As(err, &le) {
		switch le.Code() {
		case sqliteConstraintPrimaryKey, sqliteConstraintUnique:
			return uniqueViolation
		case sqliteConstraintForeignKey:
			return foreignKeyViolation
		case sqliteConstraintNotNull:
			return notNullViolation
		}
		return noConstraint
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return uniqueViolation
		case "23503": // foreign_key_violation
			return foreignKeyViolation
		case "23502": // not_null_violation
			return notNullViolation
		}
	}
	return noConstraint
}

package ticket

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The ticketing service's database: its own schema (migrations/{sqlite,postgres}), opened the
// way the platform opens its own (one writer connection and a read pool on SQLite, one pgx pool
// on PostgreSQL, goose migrations under an advisory lock), but sharing no code or table with it.

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Dialects.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// DB is the service's database.
type DB struct {
	dialect string
	w, r    *sql.DB
}

// OpenDB opens sqlite:PATH or postgres://… and migrates the schema.
func OpenDB(ctx context.Context, dsn string) (*DB, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	default:
		scheme, _, _ := strings.Cut(dsn, ":")
		return nil, fmt.Errorf("ticket: unsupported database %q: want sqlite:PATH or postgres://…", scheme)
	}
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	switch {
	case path == "":
		return nil, errors.New("ticket: sqlite: empty path")
	case path == ":memory:", strings.Contains(path, "mode=memory"), strings.HasPrefix(path, "file:"), strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("ticket: sqlite: %q: give a plain file path", path)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("ticket: sqlite: directory of %s does not exist", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ticket: sqlite: %w", err)
	}
	f.Close()
	const busy = "_pragma=busy_timeout(10000)"
	// One writer connection whose transactions take the write lock at BEGIN (IMMEDIATE), so
	// concurrent purchases queue instead of failing; processes sharing the file wait on the busy
	// timeout.
	writeDSN := path + "?" + busy + "&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate"
	readDSN := path + "?" + busy + "&_pragma=query_only(1)"
	w, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("ticket: sqlite: %w", err)
	}
	if err := migrate(ctx, w, DialectSQLite); err != nil {
		w.Close()
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", readDSN)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("ticket: sqlite: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return &DB{dialect: DialectSQLite, w: w, r: r}, nil
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("ticket: postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ticket: postgres: %s: %w", redact(dsn), err)
	}
	if err := migrate(ctx, db, DialectPostgres); err != nil {
		db.Close()
		return nil, err
	}
	return &DB{dialect: DialectPostgres, w: db, r: db}, nil
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func migrate(ctx context.Context, db *sql.DB, dialect string) error {
	fsys, err := fs.Sub(migrations, "migrations/"+dialect)
	if err != nil {
		return err
	}
	gd := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithSlog(slog.New(slog.DiscardHandler))}
	if dialect == DialectPostgres {
		gd = goose.DialectPostgres
		// Nodes starting together migrate one at a time. A lock id of our own, not the
		// platform's, in case both share a server.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(0x7469636b6574), lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("ticket: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	// The service's version table is its own, so that the schema can share a database with
	// another goose user.
	opts = append(opts, goose.WithTableName("ticket_db_version"))
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("ticket: migrations: %w", err)
	}
	var lastErr error
	for attempt := range 10 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		}
		current, target, err := p.GetVersions(ctx)
		if err != nil {
			lastErr = fmt.Errorf("ticket: schema version: %w", err)
			continue
		}
		if current > target {
			return fmt.Errorf("ticket: the %s schema is at version %d, newer than this program's %d", dialect, current, target)
		}
		if current == target {
			return nil
		}
		if _, err := p.Up(ctx); err != nil {
			lastErr = fmt.Errorf("ticket: migrate %s schema: %w", dialect, err)
			continue
		}
		return nil
	}
	return lastErr
}

// Close closes the database.
func (d *DB) Close() error {
	if d.r == d.w {
		return d.w.Close()
	}
	return errors.Join(d.w.Close(), d.r.Close())
}

// Dialect is "sqlite" or "postgres".
func (d *DB) Dialect() string { return d.dialect }

// Ping checks the database.
func (d *DB) Ping(ctx context.Context) error { return d.w.PingContext(ctx) }

// inTx runs f in a write transaction, committing when it returns nil.
func (d *DB) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ticket: begin: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ticket: commit: %w", err)
	}
	return nil
}

// isUnique reports a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isCheck reports a CHECK violation.
func isCheck(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23514"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_CHECK
	}
	return false
}

// Checkpoint moves SQLite's write-ahead log into the database file and truncates it (nothing on
// PostgreSQL): what was deleted or never written is then nowhere in the files.
func (d *DB) Checkpoint(ctx context.Context) error {
	if d.dialect != DialectSQLite {
		return nil
	}
	_, err := d.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

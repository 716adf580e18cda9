// Package store is the platform's database: the only package with SQL in it (schema, migrations
// and queries), on SQLite (modernc.org/sqlite, pure Go) or PostgreSQL (github.com/jackc/pgx/v5).
//
// Store implements [platform.Storage]. Every method validates its required inputs before it
// touches the database and returns an [*IncompleteError] (errors.Is(err, [ErrIncomplete])) when
// one is missing; lookups return [platform.ErrNotFound], uniqueness and state guards
// [platform.ErrConflict] and [platform.ErrSessionClosed]. State changes are guarded in SQL (a
// UNIQUE column, or UPDATE … WHERE state = … plus a RowsAffected check), never read-then-write:
// a session is completed once because its verification's session_id is UNIQUE.
//
// Both dialects share every query (written with $1 placeholders, which SQLite accepts too) and
// differ only in their schema files (migrations/sqlite, migrations/postgres: one baseline each,
// applied by github.com/pressly/goose/v3 at [Open]), in how connections are pooled, and in how a
// verification's transaction is sent (one statement at a time on SQLite, pipelined on
// PostgreSQL: steps.go):
//
//   - SQLite allows one writer at a time. Store keeps one pool with a single connection for all
//     writes, whose transactions start with BEGIN IMMEDIATE, and a separate read-only pool for
//     reads (WAL lets them run beside the writer). Concurrent writers in this process therefore
//     queue in database/sql for the one connection instead of failing with SQLITE_BUSY; the busy
//     timeout only covers another process writing the same file (say, an operator CLI).
//   - PostgreSQL uses one pool for everything, through pgx's database/sql driver (pgx/v5/stdlib)
//     rather than pgxpool, so both dialects run the same *sql.Tx code and goose needs no second
//     handle. Migrations take a session advisory lock, so API nodes starting together migrate once.
//
// Times are stored as UTC unix nanoseconds (BIGINT) in both dialects: exact round trips, one
// query text, no driver-specific time conversion. See README.md for the schema and the write of
// a verification.
//
// Two things are here for speed alone, each kept because it was measured:
//
//   - group commit: SQLite's write transactions queued together share one durable commit, each
//     in a savepoint of its own (group.go; `mynagate bench verify` went from 939 to 2,101
//     verifications/s), and PostgreSQL's queued completions are written as multi-row statements
//     in one transaction (pggroup.go);
//   - the statement cache: each SQLite connection keeps its prepared statements (stmtcache.go),
//     because the driver otherwise compiles every statement on every call — about a fifth of a
//     verification's CPU.
//
// Store also keeps the evidence log's rows (evidence.go), whose protocol is
// package evidence's. It does not own what the rows mean (package platform decides when a
// session is expired or a verification accepted) or webhook delivery (it writes the outbox).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mynagate/mynagate/platform"
)

// Dialect names returned by [Store.Dialect].
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

var _ platform.Storage = (*Store)(nil)

// Store is the platform's database. It is safe for concurrent use.
type Store struct {
	dialect string
	// w runs every write and every transaction. On SQLite it holds exactly one connection.
	w *sql.DB
	// r runs plain reads. On SQLite it is a separate read-only pool; on PostgreSQL it is w.
	r *sql.DB
	// writes, quit and stopped run the group committer of SQLite (group.go); pgWrites, quit and
	// stopped the grouped completions of PostgreSQL (pggroup.go). nil without grouping.
	writes   chan *writeReq
	pgWrites chan *pgCompletion
	quit     chan struct{}
	stopped  chan struct{}
	// compactDue is set on PostgreSQL when Shred cleared rows that VACUUM (FULL) has not yet
	// rewritten away (evidence.go, Shred).
	compactDue atomic.Bool
}

// Option configures [Open].
type Option func(*options)

type options struct {
	maxConns    int
	relaxedSync bool
	noGroup     bool
	logger      *slog.Logger
}

// WithoutGroupCommit makes every SQLite write transaction, and every PostgreSQL completion,
// commit on its own instead of sharing a commit with the ones queued beside it (group.go,
// pggroup.go). For measuring what grouping buys.
func WithoutGroupCommit() Option { return func(o *options) { o.noGroup = true } }

// groupLinger is how long an SQLite group commit that is not full waits for more writers when
// the previous group had more than one (group.go, lingerFor): fuller groups under concurrent
// load, at the price of that much latency per write; a lone writer never waits.
const groupLinger = 500 * time.Microsecond

// WithMaxConns sets the size of the connection pool: on PostgreSQL the whole pool (default 10),
// on SQLite the read-only pool (default 4; writes always use their one connection).
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// busyTimeout is how long an SQLite connection waits for a lock held by another process on the
// same file before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// WithRelaxedSync makes SQLite run with synchronous=NORMAL instead of FULL: commits still
// survive a crash of the process, but the last ones may be lost on a power failure or an OS
// crash, because the WAL is then synced at checkpoints only. PostgreSQL ignores it (its
// equivalent is the server's synchronous_commit).
func WithRelaxedSync() Option { return func(o *options) { o.relaxedSync = true } }

// WithLogger sets the logger for the one line Open writes when it applied migrations (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Open opens a store and migrates its schema to the newest version. dsn is either
//
//	sqlite:/path/to/file.db             (the directory must exist; the file is created)
//	postgres://user@host:port/db?sslmode=disable   (or postgresql://; any pgx connection string)
//
// An in-memory SQLite database (":memory:", mode=memory) is refused: the store keeps a writer
// connection and separate reader connections, and every connection to ":memory:" is a database of
// its own; a shared-cache memory database instead has no WAL and fails concurrent access with
// SQLITE_LOCKED, which no busy timeout covers. Tests use a file in t.TempDir(), which is as fast.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxConns < 0 {
		return nil, errors.New("store: negative pool size")
	}
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), o)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, o)
	default:
		scheme, _, _ := strings.Cut(dsn, ":")
		return nil, fmt.Errorf("store: unsupported database %q: want sqlite:PATH or postgres://…", scheme)
	}
}

func openSQLite(ctx context.Context, path string, o options) (*Store, error) {
	switch {
	case path == "":
		return nil, errors.New("store: sqlite: empty path")
	case path == ":memory:", strings.Contains(path, "mode=memory"):
		return nil, errors.New("store: sqlite: in-memory databases are not supported (each connection would see its own); use a file")
	case strings.HasPrefix(path, "file:"), strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("store: sqlite: %q: give a plain file path, without a file: URI or query", path)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("store: sqlite: directory of %s does not exist", path)
	}
	// The database holds personal data (basic 4 facts, certificates): create it readable by its
	// owner only. SQLite gives the -wal and -shm files the mode of the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	if o.maxConns == 0 {
		o.maxConns = 4
	}
	sync := "FULL"
	if o.relaxedSync {
		sync = "NORMAL"
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())
	// BEGIN IMMEDIATE (txlock) takes the write lock when a transaction starts, so a transaction
	// never fails half-way with SQLITE_BUSY_SNAPSHOT when another process wrote in between.
	// secure_delete: space freed by a delete or an update (a shredded seal, a dropped column)
	// is overwritten, so personal data does not linger in free pages of the file.
	writeDSN := path + "?" + busy + "&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(" + sync + ")&_pragma=temp_store(MEMORY)&_pragma=secure_delete(1)&_txlock=immediate"
	readDSN := path + "?" + busy + "&_pragma=query_only(1)&_pragma=foreign_keys(1)"

	// A database made before the schema baseline is refused before anything writes to it.
	if err := checkSQLiteBaseline(ctx, path, busy); err != nil {
		return nil, err
	}
	// Migrate on a pool of its own, so that goose's connection handling cannot contend with the
	// single writer connection.
	mdb, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: open %s: %w", path, err)
	}
	// The baseline only creates; no migration rewrites or deletes rows, so nothing of old WAL
	// frames needs checkpointing here (a later migration that drops personal data must; the
	// shredding pass does). A checkpoint here also failed when several stores opened one file at
	// once, another's connection keeping the WAL busy.
	err = migrate(ctx, mdb, DialectSQLite, o.logger)
	if cerr := mdb.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: sqlite: close migration connection: %w", cerr)
	}
	if err != nil {
		return nil, err
	}

	w, err := openCachingSQLite(writeDSN)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := openCachingSQLite(readDSN)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.maxConns)
	r.SetMaxIdleConns(o.maxConns)
	s := &Store{dialect: DialectSQLite, w: w, r: r}
	if err := s.ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: sqlite: %s: %w", path, err)
	}
	if !o.noGroup {
		s.startGroupCommit()
	}
	return s, nil
}

// checkSQLiteBaseline runs checkBaseline on a read-only connection (mode=ro: not even a
// checkpoint of the WAL on close), so that a refused file is left as it was.
func checkSQLiteBaseline(ctx context.Context, path, busy string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&"+busy)
	if err != nil {
		return fmt.Errorf("store: sqlite: open %s: %w", path, err)
	}
	err = checkBaseline(ctx, db, DialectSQLite)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: sqlite: close %s: %w", path, cerr)
	}
	return err
}

func openPostgres(ctx context.Context, dsn string, o options) (*Store, error) {
	where := redact(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors already hide the password.
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	if o.maxConns == 0 {
		o.maxConns = 10
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(o.maxConns)
	db.SetMaxIdleConns(o.maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{dialect: DialectPostgres, w: db, r: db}
	if err := s.ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres: %s: %w", where, err)
	}
	if err := migrate(ctx, db, DialectPostgres, o.logger); err != nil {
		db.Close()
		return nil, err
	}
	if !o.noGroup {
		s.startPGGroups()
	}
	return s, nil
}

func (s *Store) ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return err
	}
	return s.r.PingContext(ctx)
}

// redact returns a PostgreSQL URL without its password, for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Close closes the database. Calls in flight finish first; later calls fail.
func (s *Store) Close() error {
	if s.quit != nil {
		select {
		case <-s.quit:
		default:
			close(s.quit)
		}
		<-s.stopped
	}
	if s.r == s.w {
		return s.w.Close()
	}
	return errors.Join(s.w.Close(), s.r.Close())
}

// Ping checks that the database answers a trivial query on the read pool and, where writes use
// a pool of their own (SQLite), that the writer's connection is alive too. Readiness checks
// call it.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if s.r != s.w {
		if err := s.w.PingContext(ctx); err != nil {
			return fmt.Errorf("store: ping writer: %w", err)
		}
	}
	return nil
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// inTx runs f in a write transaction, committing when f returns nil and rolling back otherwise.
// On SQLite, concurrent transactions share one commit (group.go).
func (s *Store) inTx(ctx context.Context, op string, f func(tx *sql.Tx) error) error {
	if s.writes != nil {
		return s.grouped(ctx, op, f)
	}
	return s.directTx(ctx, op, f)
}

// directTx runs f in a transaction of its own.
func (s *Store) directTx(ctx context.Context, op string, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: begin: %w", op, err)
	}
	if err := f(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("store: %s: rollback: %w", op, rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", op, err)
	}
	return nil
}

// nanos and fromNanos are the one time encoding of the schema: UTC unix nanoseconds.
func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// nullNanos encodes an optional time as NULL or nanoseconds.
func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

// nullString stores "" as NULL (for columns whose NULLs must not collide, or that stay unset).
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

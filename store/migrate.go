package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds one directory of goose SQL files per dialect: 00001_baseline.sql, the
// schema every database starts from, and what came after it. A change of schema is a new
// numbered file in both directories, numbered above lastLegacyVersion.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// lastLegacyVersion is the newest goose version of the migrations that came before the
// baseline. A database that records any version from 2 to lastLegacyVersion was made by a build
// before the baseline: its schema is not the baseline's, and no migration leads from it to the
// baseline, so it is refused (checkBaseline). Later migrations are numbered above it.
const lastLegacyVersion = 36

// errBeforeBaseline is the one-line refusal of a database made before the baseline.
var errBeforeBaseline = errors.New("this database was made by a build before the schema baseline; recreate it")

// checkBaseline refuses a database made by a build before the schema baseline, and changes
// nothing in it: it only reads, and on SQLite db is read-only. A database without goose's table
// is new (or empty) and passes.
func checkBaseline(ctx context.Context, db *sql.DB, dialect string) error {
	exists := `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = $1`
	if dialect == DialectPostgres {
		exists = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	var n int
	if err := db.QueryRowContext(ctx, exists, "goose_db_version").Scan(&n); err != nil {
		return fmt.Errorf("store: read %s schema version: %w", dialect, err)
	}
	if n == 0 {
		return nil
	}
	var legacy sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version WHERE version_id BETWEEN 2 AND $1`,
		lastLegacyVersion).Scan(&legacy)
	if err != nil {
		return fmt.Errorf("store: read %s schema version: %w", dialect, err)
	}
	if legacy.Valid {
		return fmt.Errorf("store: %w (%s schema version %d)", errBeforeBaseline, dialect, legacy.Int64)
	}
	// Tables of earlier schemas that no version tells apart: the baseline kept the verifications'
	// events in their entries, dispatched through event_cursor, for a while.
	for _, table := range legacyTables {
		if err := db.QueryRowContext(ctx, exists, table).Scan(&n); err != nil {
			return fmt.Errorf("store: read %s schema: %w", dialect, err)
		}
		if n > 0 {
			return fmt.Errorf("store: %w (%s table %s)", errBeforeBaseline, dialect, table)
		}
	}
	return nil
}

// legacyTables are tables of earlier schemas that the baseline does not have.
var legacyTables = []string{"evidence_sealed", "event_cursor"}

// migrate brings db's schema up to the newest embedded migration. It refuses a database whose
// schema is newer than this program's, which would otherwise be used with queries that do not
// know its columns.
func migrate(ctx context.Context, db *sql.DB, dialect string, log *slog.Logger) error {
	fsys, err := fs.Sub(migrations, "migrations/"+dialect)
	if err != nil {
		return fmt.Errorf("store: migrations of %s: %w", dialect, err)
	}
	gd := goose.DialectSQLite3
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(slog.New(slog.DiscardHandler)),
	}
	if dialect == DialectPostgres {
		gd = goose.DialectPostgres
		// A session advisory lock, so that several API nodes starting at once migrate one at a
		// time. Retry every second for up to five minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
		// SQLite's is checked on a read-only connection before its migration pool opens.
		if err := checkBaseline(ctx, db, dialect); err != nil {
			return err
		}
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations of %s: %w", dialect, err)
	}
	// SQLite has no migration lock: processes opening a new file together race, and the losers
	// fail on "table already exists" with their migration rolled back. They try again, and stop
	// as soon as the schema is current, whoever brought it there.
	var lastErr error
	for attempt := range 10 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("store: migrate %s schema: %w (after %w)", dialect, ctx.Err(), lastErr)
			case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
			}
		}
		current, target, err := p.GetVersions(ctx)
		if err != nil {
			lastErr = fmt.Errorf("store: read %s schema version: %w", dialect, err)
			continue
		}
		if current > target {
			return fmt.Errorf("store: the %s schema is at version %d, newer than this program's %d: upgrade the program", dialect, current, target)
		}
		if current == target {
			return nil
		}
		results, err := p.Up(ctx)
		if err != nil {
			lastErr = fmt.Errorf("store: migrate %s schema from version %d: %w", dialect, current, err)
			continue
		}
		if len(results) > 0 {
			log.InfoContext(ctx, "store: migrated schema", "dialect", dialect, "from", current,
				"to", results[len(results)-1].Source.Version, "applied", len(results))
		}
		return nil
	}
	return lastErr
}

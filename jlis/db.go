package jlis

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the embedded database driver (pure Go)
)

// The simulator keeps its state in its own SQLite database in the data directory. It is J-LIS's
// database, not the platform's: the simulator stands for a separate organisation, so its
// persistence lives here and not in package store (which owns the platform's SQL only).
const schema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ca (
	name TEXT PRIMARY KEY,
	cert BLOB NOT NULL,
	key BLOB NOT NULL,
	ocsp_cert BLOB NOT NULL,
	ocsp_key BLOB NOT NULL,
	crl_number INTEGER NOT NULL DEFAULT 0,
	crl_this_update INTEGER NOT NULL DEFAULT 0,
	crl_file TEXT NOT NULL DEFAULT '',
	dirty INTEGER NOT NULL DEFAULT 1,
	gen INTEGER NOT NULL DEFAULT 1,
	link_cert BLOB
);
CREATE TABLE IF NOT EXISTS resident (
	id INTEGER PRIMARY KEY,
	my_number TEXT NOT NULL UNIQUE,
	basic4 TEXT NOT NULL,
	alias TEXT NOT NULL DEFAULT '',
	municipality TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'living',
	stay_until TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS card (
	id INTEGER PRIMARY KEY,
	resident_id INTEGER NOT NULL REFERENCES resident(id),
	serial TEXT NOT NULL UNIQUE,
	medium TEXT NOT NULL,
	issued INTEGER NOT NULL,
	expires TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'active',
	parent_card_id INTEGER
);
CREATE TABLE IF NOT EXISTS cert (
	ca TEXT NOT NULL,
	serial INTEGER NOT NULL,
	kind TEXT NOT NULL,
	resident_id INTEGER REFERENCES resident(id),
	card_id INTEGER REFERENCES card(id),
	not_before INTEGER NOT NULL,
	not_after INTEGER NOT NULL,
	der BLOB,
	revoked_at INTEGER,
	reason INTEGER,
	invalidity INTEGER,
	PRIMARY KEY (ca, serial)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cert_card ON cert(card_id);
CREATE TABLE IF NOT EXISTS link (
	old_ca TEXT NOT NULL,
	old_serial INTEGER NOT NULL,
	new_ca TEXT NOT NULL,
	new_serial INTEGER NOT NULL,
	cause TEXT NOT NULL,
	at INTEGER NOT NULL,
	PRIMARY KEY (old_ca, old_serial, new_ca, new_serial)
);
CREATE INDEX IF NOT EXISTS link_new ON link(new_ca, new_serial);
CREATE TABLE IF NOT EXISTS basic4_request (
	id INTEGER PRIMARY KEY,
	ca TEXT NOT NULL,
	serial INTEGER NOT NULL,
	requester TEXT NOT NULL,
	consent_ref TEXT NOT NULL,
	at INTEGER NOT NULL,
	outcome TEXT NOT NULL
);
`

func openDB(ctx context.Context, dir string) (*sql.DB, error) {
	// The database holds the CA keys and the residents' facts: readable by its owner only,
	// also when an earlier version left it (or its -wal and -shm, which SQLite creates with the
	// database's mode) readable by others.
	for _, name := range []string{"jlis.db", "jlis.db-wal", "jlis.db-shm"} {
		path := filepath.Join(dir, name)
		if name == "jlis.db" {
			f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				return nil, fmt.Errorf("jlis: open database: %w", err)
			}
			f.Close()
		}
		if err := os.Chmod(path, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("jlis: database mode: %w", err)
		}
	}
	dsn := "file:" + filepath.Join(dir, "jlis.db") + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("jlis: open database: %w", err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("jlis: create schema in %s: %w", dir, err)
	}
	if err := upgrade(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("jlis: upgrade schema in %s: %w", dir, err)
	}
	return db, nil
}

// upgrade adds the columns that later versions brought to a database made by an earlier one.
func upgrade(ctx context.Context, db *sql.DB) error {
	for _, c := range []struct{ table, column, def string }{
		{"resident", "stay_until", "TEXT NOT NULL DEFAULT ''"},
		{"card", "parent_card_id", "INTEGER"},
		{"ca", "gen", "INTEGER NOT NULL DEFAULT 1"},
		{"ca", "link_cert", "BLOB"},
	} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := db.ExecContext(ctx, `ALTER TABLE `+c.table+` ADD COLUMN `+c.column+` `+c.def); err != nil {
				return err
			}
		}
	}
	return nil
}

// inTx runs f in a transaction, committing when f returns nil.
func inTx(ctx context.Context, db *sql.DB, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("jlis: begin: %w", err)
	}
	if err := f(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("jlis: commit: %w", err)
	}
	return nil
}

func getMeta(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, k string) (string, bool, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("jlis: read meta %s: %w", k, err)
	}
	return v, true, nil
}

// Package storetest gives each test a database of its own (boulder's initSA): a fresh SQLite file
// in t.TempDir(), or a fresh PostgreSQL database that is dropped in t.Cleanup.
//
// PostgreSQL is reached at postgres://postgres@127.0.0.1:5432/postgres (trust authentication), or
// at the administrative URL in MYNAGATE_TEST_POSTGRES. Under CI=true a PostgreSQL that cannot be
// reached fails the test; otherwise the test is skipped with a message saying so.
//
// It owns test set-up only; the store's own tests are in package store.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
)

// Dialects lists the dialects every store test runs against.
var Dialects = []string{store.DialectSQLite, store.DialectPostgres}

// AdminEnv names the environment variable that overrides the administrative PostgreSQL URL.
const AdminEnv = "MYNAGATE_TEST_POSTGRES"

const defaultAdmin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DSN returns the DSN of a new, empty database of the dialect for this test. A PostgreSQL
// database is dropped when the test ends (after the cleanups registered later, such as the
// store's Close, have run).
func DSN(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case store.DialectSQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "mynagate.db")
	case store.DialectPostgres:
		return postgresDSN(t)
	default:
		t.Fatalf("storetest: unknown dialect %q", dialect)
		return ""
	}
}

// Open opens a store of the dialect on a new database for this test and closes it when the test
// ends.
func Open(t testing.TB, dialect string, opts ...store.Option) *store.Store {
	t.Helper()
	dsn := DSN(t, dialect)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("storetest: open %s store: %v", dialect, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close %s store: %v", dialect, err)
		}
	})
	return s
}

func adminURL() string {
	if v := os.Getenv(AdminEnv); v != "" {
		return v
	}
	return defaultAdmin
}

// postgresDSN creates database mynagate_test_<random> and returns its URL.
func postgresDSN(t testing.TB) string {
	t.Helper()
	admin := adminURL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		msg := fmt.Sprintf("storetest: PostgreSQL is not reachable at %s (set %s to another admin URL): %v", redact(admin), AdminEnv, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer db.Close()

	name := "mynagate_test_" + hex.EncodeToString(randomBytes(t, 8))
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, admin, name) })

	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("storetest: parse %s: %v", AdminEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

func dropDatabase(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Errorf("storetest: drop database %s: %v", name, err)
		return
	}
	defer db.Close()
	// WITH (FORCE) ends connections a failed test left open, so that the drop never hangs.
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("storetest: drop database %s: %v", name, err)
	}
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("storetest: random: %v", err)
	}
	return b
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Record returns an evidence record for store tests: a stand-in leaf and sealed data (the store
// keeps them as bytes and never reads them), with the leaf hashed as RFC 6962 hashes leaves, so
// that an evidence log may integrate it.
func Record(id, tenantID string, at time.Time) *evidence.Record {
	leaf := []byte("test leaf " + id)
	return &evidence.Record{ID: id, TenantID: tenantID, Time: at, LeafData: leaf,
		LeafHash: sha256.Sum256(append([]byte{0}, leaf...)),
		Sealed:   []byte("sealed " + id), WrappedKey: []byte("key " + id), ShredAfter: at.AddDate(7, 0, 0)}
}

// Complete is CompleteSession with a Record of v.
func Complete(ctx context.Context, s *store.Store, v platform.Verification, certs []platform.PersonCert, events []platform.Event) error {
	return s.CompleteSession(ctx, v, certs, events, nil, Record(v.ID, v.TenantID, v.CreatedAt))
}

// Append stores e in s the way the platform does: as the entry of a verification with e's
// decision and reason (the leaf committing to it as the platform's do), written by CompleteSession in the transaction that completes a new
// session of e's tenant (which must exist), and then wakes l's integrator. The store has no
// other way to add an entry.
func Append(ctx context.Context, s *store.Store, l *evidence.Log, e evidence.Entry) (*evidence.Record, error) {
	h := e.Header
	sess := platform.Session{ID: h.SessionID, TenantID: h.TenantID, Purpose: platform.Purpose(h.Purpose),
		Nonce: []byte("nonce " + h.SessionID), Status: platform.SessionPending,
		CreatedAt: h.Time, ExpiresAt: h.Time.Add(5 * time.Minute)}
	if _, _, err := s.CreateSession(ctx, sess, ""); err != nil {
		return nil, err
	}
	v := platform.Verification{ID: h.ID, TenantID: h.TenantID, SessionID: h.SessionID, Purpose: sess.Purpose,
		Decision: platform.DecisionRejected, Reason: h.Reason, CertCA: "A1B2", CertSerial: strings.ToUpper(hex.EncodeToString([]byte(h.ID))),
		Method: platform.MethodCRL, RevocationRef: h.CRLNumber, CreatedAt: h.Time}
	var certs []platform.PersonCert
	if h.Decision == evidence.Accepted {
		v.Decision, v.PersonID = platform.DecisionAccepted, "p_"+h.ID
		certs = []platform.PersonCert{{PersonID: v.PersonID, CA: v.CertCA, Serial: v.CertSerial, Kind: "sign", LinkedAt: h.Time}}
	}
	e.Served = &evidence.Served{SessionID: v.SessionID, Purpose: string(v.Purpose), Decision: string(v.Decision), Reason: v.Reason,
		PersonID: v.PersonID, CertCA: v.CertCA, CertSerial: v.CertSerial, Method: string(v.Method), RevocationRef: v.RevocationRef}
	rec, err := l.Prepare(e)
	if err != nil {
		return nil, err
	}
	if err := s.CompleteSession(ctx, v, certs, nil, nil, rec); err != nil {
		return nil, err
	}
	l.Notify()
	return rec, nil
}

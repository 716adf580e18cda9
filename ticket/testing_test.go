package ticket

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/ticket/tickettest"
	"golang.org/x/crypto/bcrypt"
)

var ctx = context.Background()

const pgAdmin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// testDSN returns a new empty database of the dialect for this test: an SQLite file in
// t.TempDir(), or a PostgreSQL database dropped when the test ends. Under CI=true an
// unreachable PostgreSQL fails the test instead of skipping it.
func testDSN(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == DialectSQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "ticket.db")
	}
	admin := pgAdmin
	if v := os.Getenv("MYNAGATE_TEST_POSTGRES"); v != "" {
		admin = v
	}
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err == nil {
		err = db.PingContext(c)
	}
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s: %v", admin, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "ticket_test_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(c, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

type person struct{ sub, name, birth, address string }

func taro() person {
	return person{sub: "sub-taro", name: "山田　太郎", birth: "1985-04-02", address: "東京都千代田区霞が関２丁目１番２号"}
}

// world is a service (one or more nodes on one database) with a fake platform and a clock.
type world struct {
	t     *testing.T
	dsn   string
	clk   *clockwork.FakeClock
	plat  *tickettest.Platform
	nodes []*Service
	org   *Organiser
	orgTk string
}

func newWorld(t *testing.T, dialect string, nodes int) *world {
	t.Helper()
	w := &world{t: t, dsn: testDSN(t, dialect), clk: clockwork.NewFakeClockAt(time.Date(2026, 1, 12, 10, 0, 0, 0, time.UTC)), plat: tickettest.NewPlatform()}
	key := []byte(strings.Repeat("k", 32))
	for range nodes {
		db, err := OpenDB(ctx, w.dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := New(db, w.plat, key, WithClock(w.clk), WithPasswordCost(bcrypt.MinCost))
		if err != nil {
			t.Fatal(err)
		}
		w.nodes = append(w.nodes, s)
	}
	var err error
	if w.org, w.orgTk, err = w.s().CreateOrganiser(ctx, "W TOKYO"); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) s() *Service { return w.nodes[0] }

func (w *world) event(r EventRequest) *Event {
	w.t.Helper()
	ev, err := w.s().CreateEvent(ctx, w.org, r)
	if err != nil {
		w.t.Fatal(err)
	}
	return ev
}

var nAccounts int

// account opens an account and logs in.
func (w *world) account(name string) (*Account, string) {
	w.t.Helper()
	nAccounts++
	email := fmt.Sprintf("%s-%d@example.jp", strings.ToLower(strings.ReplaceAll(name, " ", "")), nAccounts)
	a, err := w.s().CreateAccount(ctx, email, "correct horse", name)
	if err != nil {
		w.t.Fatal(err)
	}
	tok, err := w.s().Login(ctx, email, "correct horse")
	if err != nil {
		w.t.Fatal(err)
	}
	return a, tok
}

// verify runs a verification of account a (or a companion of theirs) for an event as person p.
func (w *world) verify(a *Account, eventID string, p person, companion bool) (*Verification, error) {
	v, err := w.s().StartVerification(ctx, a, eventID, companion)
	if err != nil {
		return nil, err
	}
	if err := w.plat.Answer(v.HolderURL, p.sub, map[string]string{"name": p.name, "birthdate": p.birth, "address": p.address, "sex": "1"}); err != nil {
		return nil, err
	}
	return w.s().CompleteVerification(ctx, a, v.ID)
}

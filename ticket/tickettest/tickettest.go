// Package tickettest has what tests and benchmarks of the ticketing service need besides the
// service: a stand-in for the platform's verification sessions, answered by the caller, for runs
// where the platform's own work is not what is measured (`mynagate bench verify` measures it),
// and fresh databases.
package tickettest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/gate/manifest"
)

// Platform is an in-memory stand-in for the platform's session API (it implements
// ticket.Platform): a session stays pending until Answer verifies it as a person.
type Platform struct {
	mu       sync.Mutex
	n        int
	sessions map[string]*client.Session
}

// CardKey is the stand-in's card key of the service (the platform derives one per tenant).
var CardKey = []byte("tickettest card key, 32 bytes...")

// CardKey returns the stand-in's card key.
func (f *Platform) CardKey(context.Context) (*client.CardKey, error) {
	return &client.CardKey{Format: "mynagate-card-id-v1", Key: CardKey}, nil
}

// NewPlatform returns an empty stand-in.
func NewPlatform() *Platform { return &Platform{sessions: map[string]*client.Session{}} }

// CreateSession opens a pending session.
func (f *Platform) CreateSession(_ context.Context, req client.SessionRequest) (*client.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("ses_%d", f.n)
	s := &client.Session{ID: id, Purpose: req.Purpose, Status: "pending", HolderURL: "http://platform.invalid/v1/holder/sessions/" + id + "?token=t", ClientRef: req.ClientRef}
	f.sessions[id] = s
	return s, nil
}

// Session reads a session.
func (f *Platform) Session(_ context.Context, id string) (*client.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return nil, &client.Problem{Type: "about:blank/not-found", Status: 404, Detail: "no session " + id}
	}
	c := *s
	return &c, nil
}

// Answer verifies the session of holderURL as the person sub, with facts for an identity
// session (name, birthdate, address, …).
func (f *Platform) Answer(holderURL, sub string, facts map[string]string) error {
	_, id, _, err := client.ParseHolderURL(holderURL)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return fmt.Errorf("tickettest: no session %s", id)
	}
	s.Status = "verified"
	v := &client.Verification{ID: "vrf_" + id, SessionID: id, Purpose: s.Purpose, Decision: "accepted", Sub: sub}
	if s.Purpose == "identity" {
		v.Facts = facts
	}
	s.Verification = v
	return nil
}

// AnswerCard verifies the login session of holderURL as the person sub who presented the
// authentication certificate certDER: the verification carries its card id under CardKey, as
// the platform's would.
func (f *Platform) AnswerCard(holderURL, sub string, certDER []byte) error {
	if err := f.Answer(holderURL, sub, nil); err != nil {
		return err
	}
	_, id, _, _ := client.ParseHolderURL(holderURL)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions[id].Purpose != "login" {
		return fmt.Errorf("tickettest: session %s is not a login session", id)
	}
	f.sessions[id].Verification.CardID = manifest.CardID(CardKey, certDER)
	return nil
}

// CreatePostgres creates an empty database on the server of admin (a postgres:// URL) and
// returns its URL and a function dropping it.
func CreatePostgres(ctx context.Context, admin string) (string, func() error, error) {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("PostgreSQL at %s: %w", admin, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "ticket_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, err
	}
	u, err := url.Parse(admin)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		db.Close()
		return "", nil, fmt.Errorf("not a postgres:// URL: %s", admin)
	}
	u.Path = "/" + name
	drop := func() error {
		defer db.Close()
		_, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		return err
	}
	return u.String(), drop, nil
}

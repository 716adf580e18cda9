package ticket

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/kdf"
	"golang.org/x/crypto/bcrypt"
)

// Platform is what the service needs of the identity platform: *client.Client (the platform's
// public Go client, over HTTP) implements it. Tests may use an in-memory implementation.
type Platform interface {
	// CreateSession starts a verification session whose holder URL the buyer answers with
	// their card.
	CreateSession(ctx context.Context, req client.SessionRequest) (*client.Session, error)
	// Session reads a session: its status and, once verified, the pairwise id and facts.
	Session(ctx context.Context, id string) (*client.Session, error)
	// CardKey reads the service's card key, with which gates compute the card id of a tapped
	// card (docs/design/gate.md).
	CardKey(ctx context.Context) (*client.CardKey, error)
}

var _ Platform = (*client.Client)(nil)

// Kind classifies an error for the HTTP layer.
type Kind int

// Kinds of errors.
const (
	KindInvalid      Kind = iota + 1 // malformed request: 400
	KindUnauthorized                 // no or bad credentials: 401
	KindForbidden                    // not yours: 403
	KindNotFound                     // 404
	KindConflict                     // the state does not allow it: 409
	KindRefused                      // a rule refuses it (limit, eligibility, sold out): 422
	KindUnavailable                  // the platform cannot be reached: 502
	KindTooMany                      // throttled: 429
)

// Error is every error the service returns to its callers on purpose. Reason is a stable slug
// (the problem type's last segment), Detail a sentence for the user.
type Error struct {
	Kind   Kind
	Reason string
	Detail string
}

func (e *Error) Error() string { return "ticket: " + e.Reason + ": " + e.Detail }

func errf(k Kind, reason, format string, args ...any) *Error {
	return &Error{Kind: k, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the reason slug of err, or "" when it is not an *Error.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Service is the ticketing service. Nodes are stateless: any number share one database.
type Service struct {
	db            *DB
	plat          Platform
	clk           clockwork.Clock
	rand          io.Reader
	codeKey       []byte // kdf.TicketCodes: rotating codes; the one key gates get
	voucherKey    []byte // kdf.TicketVouchers: voucher codes; never leaves the nodes
	pwCost        int
	loginTTL      time.Duration
	tz            *time.Location
	webhookSecret string
	gateKey       ed25519.PrivateKey
	gateTrust     GateTrust
	gateValidity  time.Duration
	cardKeyMu     sync.Mutex
	cardKeyVal    []byte // the platform's card key, once read
}

// Option configures New.
type Option func(*Service)

// WithClock sets the clock (default: the real one).
func WithClock(c clockwork.Clock) Option { return func(s *Service) { s.clk = c } }

// WithRand sets the source of randomness (default crypto/rand).
func WithRand(r io.Reader) Option { return func(s *Service) { s.rand = r } }

// WithPasswordCost sets the bcrypt cost (default bcrypt.DefaultCost). Lower costs are for tests
// and load runs that create thousands of accounts.
func WithPasswordCost(c int) Option { return func(s *Service) { s.pwCost = c } }

// New returns a service on db, verifying people with plat. secret (at least 32 bytes) is the
// service's secret, shared by its nodes and nobody else: the keys of rotating codes
// (kdf.TicketCodes) and vouchers (kdf.TicketVouchers) are derived from it, as is the pages'
// cookie key (kdf.TicketPages, in ticket/pages). Gate manifests carry only the rotating-code key.
func New(db *DB, plat Platform, secret []byte, opts ...Option) (*Service, error) {
	if db == nil || plat == nil {
		return nil, errors.New("ticket: New needs a database and a platform")
	}
	k, err := kdf.New(secret)
	if err != nil {
		return nil, fmt.Errorf("ticket: the service's secret: %w", err)
	}
	tz, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		tz = time.FixedZone("JST", 9*3600)
	}
	s := &Service{db: db, plat: plat, clk: clockwork.NewRealClock(), rand: rand.Reader,
		codeKey: k.Key(kdf.TicketCodes), voucherKey: k.Key(kdf.TicketVouchers),
		pwCost: bcrypt.DefaultCost, loginTTL: 24 * time.Hour, tz: tz}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// DB returns the service's database.
func (s *Service) DB() *DB { return s.db }

func (s *Service) now() int64 { return s.clk.Now().UnixNano() }

func (s *Service) newID(prefix string) (string, error) {
	b := make([]byte, 12)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("ticket: random: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

func (s *Service) newToken(prefix string) (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", nil, fmt.Errorf("ticket: random: %w", err)
	}
	tok := prefix + hex.EncodeToString(b)
	h := sha256.Sum256([]byte(tok))
	return tok, h[:], nil
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// Organiser is an event organiser.
type Organiser struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CreateOrganiser creates an organiser and returns it with its API token (shown once).
func (s *Service) CreateOrganiser(ctx context.Context, name string) (*Organiser, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, "", errf(KindInvalid, "invalid-request", "an organiser needs a name of 1 to 200 bytes")
	}
	id, err := s.newID("org_")
	if err != nil {
		return nil, "", err
	}
	tok, h, err := s.newToken("tko_")
	if err != nil {
		return nil, "", err
	}
	if _, err := s.db.w.ExecContext(ctx, `INSERT INTO organisers (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)`, id, name, h, s.now()); err != nil {
		return nil, "", fmt.Errorf("ticket: create organiser: %w", err)
	}
	return &Organiser{ID: id, Name: name}, tok, nil
}

// Organiser authenticates an organiser's token.
func (s *Service) Organiser(ctx context.Context, token string) (*Organiser, error) {
	if !strings.HasPrefix(token, "tko_") {
		return nil, errf(KindUnauthorized, "unauthorized", "an organiser token is required")
	}
	var o Organiser
	err := s.db.r.QueryRowContext(ctx, `SELECT id, name FROM organisers WHERE token_hash = $1`, hashToken(token)).Scan(&o.ID, &o.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errf(KindUnauthorized, "unauthorized", "unknown organiser token")
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: organiser: %w", err)
	}
	return &o, nil
}

// Account is a buyer's account. Person is the platform's pairwise id of the person behind it,
// once they verified; one person may have many accounts.
type Account struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Person string `json:"-"`
}

// CreateAccount opens a buyer account.
func (s *Service) CreateAccount(ctx context.Context, email, password, name string) (*Account, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	name = strings.TrimSpace(name)
	if len(email) < 3 || len(email) > 254 || !strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n") {
		return nil, errf(KindInvalid, "invalid-email", "the email address is not valid")
	}
	if len(password) < 8 || len(password) > 72 {
		return nil, errf(KindInvalid, "invalid-password", "a password has 8 to 72 bytes")
	}
	if name == "" || len(name) > 200 {
		return nil, errf(KindInvalid, "invalid-request", "a name of 1 to 200 bytes is required")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.pwCost)
	if err != nil {
		return nil, fmt.Errorf("ticket: hash password: %w", err)
	}
	id, err := s.newID("acc_")
	if err != nil {
		return nil, err
	}
	_, err = s.db.w.ExecContext(ctx, `INSERT INTO accounts (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)`, id, email, name, string(h), s.now())
	if isUnique(err) {
		return nil, errf(KindConflict, "email-taken", "an account with this email address exists")
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: create account: %w", err)
	}
	return &Account{ID: id, Email: email, Name: name}, nil
}

// Sign-in throttling.
const (
	MaxFailedLogins = 5
	LockFor         = 15 * time.Minute
)

// Login checks an email and password and returns a bearer token for the account.
func (s *Service) Login(ctx context.Context, email, password string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var id, h string
	var locked int64
	err := s.db.r.QueryRowContext(ctx, `SELECT id, password_hash, locked_until FROM accounts WHERE email = $1`, email).Scan(&id, &h, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		// The same work as a wrong password, so that timing does not tell which emails exist.
		bcrypt.CompareHashAndPassword([]byte("$2a$10$0000000000000000000000000000000000000000000000000000."), []byte(password))
		return "", errf(KindUnauthorized, "bad-credentials", "wrong email or password")
	}
	if err != nil {
		return "", fmt.Errorf("ticket: login: %w", err)
	}
	if locked > s.now() {
		return "", errf(KindTooMany, "locked", "too many wrong passwords: try again after %s", time.Unix(0, locked).UTC().Format(time.RFC3339))
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) != nil {
		// Throttle guessing: after MaxFailedLogins wrong passwords in a row the account refuses
		// sign-in for LockFor, on every node (the count is in the database).
		s.db.w.ExecContext(ctx, `UPDATE accounts SET failed_logins = failed_logins + 1,
			locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END WHERE id = $3`, MaxFailedLogins, s.clk.Now().Add(LockFor).UnixNano(), id)
		return "", errf(KindUnauthorized, "bad-credentials", "wrong email or password")
	}
	if _, err := s.db.w.ExecContext(ctx, `UPDATE accounts SET failed_logins = 0 WHERE id = $1 AND failed_logins != 0`, id); err != nil {
		return "", fmt.Errorf("ticket: login: %w", err)
	}
	tok, th, err := s.newToken("tkb_")
	if err != nil {
		return "", err
	}
	if _, err := s.db.w.ExecContext(ctx, `INSERT INTO logins (token_hash, account_id, expires_at) VALUES ($1, $2, $3)`, th, id, s.clk.Now().Add(s.loginTTL).UnixNano()); err != nil {
		return "", fmt.Errorf("ticket: login: %w", err)
	}
	return tok, nil
}

// Account authenticates a buyer's bearer token.
func (s *Service) Account(ctx context.Context, token string) (*Account, error) {
	if !strings.HasPrefix(token, "tkb_") {
		return nil, errf(KindUnauthorized, "unauthorized", "a buyer's login token is required")
	}
	var a Account
	var person sql.NullString
	err := s.db.r.QueryRowContext(ctx, `SELECT a.id, a.email, a.name, a.person_sub FROM logins l JOIN accounts a ON a.id = l.account_id
		WHERE l.token_hash = $1 AND l.expires_at > $2`, hashToken(token), s.now()).Scan(&a.ID, &a.Email, &a.Name, &person)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errf(KindUnauthorized, "unauthorized", "unknown or expired login")
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: account: %w", err)
	}
	a.Person = person.String
	return &a, nil
}

package ticket

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Identity is an event's identity switch.
type Identity string

// The identity switch of an event.
const (
	// IdentityNone checks nobody: limits count per account.
	IdentityNone Identity = "none"
	// IdentityLogin verifies the person with the card's authentication certificate (利用者認証):
	// a pairwise id, no facts. Limits count per person.
	IdentityLogin Identity = "login"
	// IdentityFull verifies with the signing certificate (本人確認): the pairwise id, the name,
	// and yes/no on the age and residency rules. Limits count per person.
	IdentityFull Identity = "identity"
)

// Sale modes.
const (
	SaleFirstCome = "first_come"
	SaleLottery   = "lottery"
)

// SeatClass is a class of seats with one price.
type SeatClass struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Price     int64  `json:"price"`
	Capacity  int64  `json:"capacity"`
	Available int64  `json:"available"`
}

// Event is an event or a voucher offer.
type Event struct {
	ID        string `json:"id"`
	Organiser string `json:"organiser_id"`
	// Kind is "event" or "voucher" (an offer without a venue, redeemed by code).
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Venue string `json:"venue"`
	// Date is the day of the event (YYYY-MM-DD, Japan time): the day the minimum age is
	// reckoned on.
	Date     string   `json:"date"`
	Identity Identity `json:"identity"`
	// MinAge, when not 0, is the minimum age on the event day.
	MinAge int `json:"min_age"`
	// Residency, when not empty, is the prefecture or municipality (e.g. 東京都 or
	// 東京都千代田区) the holder's address must be in.
	Residency    string `json:"residency"`
	MaxPerPerson int    `json:"max_per_person"`
	Sale         string `json:"sale"`
	// RequireCard: the gate admits a ticket only with its holder's card tapped (the holder
	// registers the card with a login verification; docs/design/gate.md).
	RequireCard bool        `json:"require_card"`
	Classes     []SeatClass `json:"seat_classes"`
	// Lottery: the application window's end and the time winners have to pay.
	ApplyCloses time.Time     `json:"apply_closes,omitzero"`
	PayWindow   time.Duration `json:"-"`
	// Draws are the lottery's rounds: each seed's hash is public from the round's creation.
	Draws []DrawInfo `json:"draws,omitempty"`
}

// DrawInfo is a lottery round's public commitment.
type DrawInfo struct {
	Round    int       `json:"round"`
	SeedHash string    `json:"seed_hash"`
	Closes   time.Time `json:"closes"`
	Drawn    bool      `json:"drawn"`
}

// EventRequest is what an organiser sends to create an event.
type EventRequest struct {
	Kind         string      `json:"kind"`
	Name         string      `json:"name"`
	Venue        string      `json:"venue"`
	Date         string      `json:"date"`
	Identity     Identity    `json:"identity"`
	MinAge       int         `json:"min_age"`
	Residency    string      `json:"residency"`
	MaxPerPerson int         `json:"max_per_person"`
	Sale         string      `json:"sale"`
	RequireCard  bool        `json:"require_card"`
	Classes      []SeatClass `json:"seat_classes"`
	ApplyCloses  time.Time   `json:"apply_closes"`
	// PayWindow is how long winners have to pay (pay_window_seconds in JSON).
	PayWindow time.Duration `json:"-"`
	// PayWindowSeconds is PayWindow in seconds, for JSON.
	PayWindowSeconds int64 `json:"pay_window_seconds"`
}

func validText(s string, max int) bool {
	return s != "" && len(s) <= max && utf8.ValidString(s) && !strings.ContainsAny(s, "\x00\r\n")
}

// CreateEvent creates an event of organiser o. A lottery commits to its first round's seed
// now: the seed's hash is public from this moment.
func (s *Service) CreateEvent(ctx context.Context, o *Organiser, r EventRequest) (*Event, error) {
	if r.Kind == "" {
		r.Kind = "event"
	}
	if r.Sale == "" {
		r.Sale = SaleFirstCome
	}
	if r.PayWindow == 0 {
		r.PayWindow = time.Duration(r.PayWindowSeconds) * time.Second
	}
	switch {
	case r.Kind != "event" && r.Kind != "voucher":
		return nil, errf(KindInvalid, "invalid-event", "kind must be event or voucher")
	case !validText(r.Name, 200):
		return nil, errf(KindInvalid, "invalid-event", "a name of 1 to 200 bytes on one line is required")
	case r.Kind == "event" && !validText(r.Venue, 200):
		return nil, errf(KindInvalid, "invalid-event", "an event needs a venue of 1 to 200 bytes")
	case r.Identity != IdentityNone && r.Identity != IdentityLogin && r.Identity != IdentityFull:
		return nil, errf(KindInvalid, "invalid-event", "identity must be none, login or identity")
	case r.MinAge < 0 || r.MinAge > 130:
		return nil, errf(KindInvalid, "invalid-event", "min_age must be 0 to 130")
	case (r.MinAge > 0 || r.Residency != "") && r.Identity != IdentityFull:
		return nil, errf(KindInvalid, "invalid-event", "an age or residency rule needs identity-grade verification (identity: identity): only the signing certificate carries the facts")
	case r.Residency != "" && !validText(r.Residency, 100):
		return nil, errf(KindInvalid, "invalid-event", "residency is a prefecture or municipality name")
	case r.MaxPerPerson < 1 || r.MaxPerPerson > 100:
		return nil, errf(KindInvalid, "invalid-event", "max_per_person must be 1 to 100")
	case r.Sale != SaleFirstCome && r.Sale != SaleLottery:
		return nil, errf(KindInvalid, "invalid-event", "sale must be first_come or lottery")
	case r.RequireCard && (r.Identity == IdentityNone || r.Kind != "event"):
		return nil, errf(KindInvalid, "invalid-event", "require_card needs an event with identity login or identity: the card is the verified person's")
	case r.Sale == SaleLottery && r.Identity == IdentityNone:
		return nil, errf(KindInvalid, "invalid-event", "a lottery counts one application per person: it needs identity login or identity")
	case r.Sale == SaleLottery && !r.ApplyCloses.After(s.clk.Now()):
		return nil, errf(KindInvalid, "invalid-event", "a lottery's apply_closes must be in the future")
	case r.Sale == SaleLottery && (r.PayWindow < time.Minute || r.PayWindow > 90*24*time.Hour):
		return nil, errf(KindInvalid, "invalid-event", "a lottery's pay_window must be between a minute and 90 days")
	case len(r.Classes) == 0 || len(r.Classes) > 50:
		return nil, errf(KindInvalid, "invalid-event", "1 to 50 seat classes are required")
	}
	if _, err := time.Parse("2006-01-02", r.Date); err != nil {
		return nil, errf(KindInvalid, "invalid-event", "date must be YYYY-MM-DD")
	}
	seen := map[string]bool{}
	for _, c := range r.Classes {
		if !validText(c.Name, 100) || seen[c.Name] || c.Price < 0 || c.Price > 10_000_000 || c.Capacity < 0 || c.Capacity > 10_000_000 {
			return nil, errf(KindInvalid, "invalid-event", "each seat class needs a unique name, a price of 0 to 10,000,000 yen and a capacity of 0 to 10,000,000")
		}
		seen[c.Name] = true
	}
	id, err := s.newID("evt_")
	if err != nil {
		return nil, err
	}
	ev := &Event{ID: id, Organiser: o.ID, Kind: r.Kind, Name: r.Name, Venue: r.Venue, Date: r.Date, Identity: r.Identity, MinAge: r.MinAge,
		Residency: r.Residency, MaxPerPerson: r.MaxPerPerson, Sale: r.Sale, RequireCard: r.RequireCard}
	if r.Sale == SaleLottery {
		ev.ApplyCloses, ev.PayWindow = r.ApplyCloses.UTC(), r.PayWindow
	}
	err = s.db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, organiser_id, kind, name, venue, event_date, identity, min_age, residency, max_per_person, sale, require_card, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, id, o.ID, r.Kind, r.Name, r.Venue, r.Date, string(r.Identity), r.MinAge, r.Residency, r.MaxPerPerson, r.Sale, boolInt(r.RequireCard), s.now()); err != nil {
			return fmt.Errorf("ticket: create event: %w", err)
		}
		for _, c := range r.Classes {
			cid, err := s.newID("cls_")
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO seat_classes (id, event_id, name, price, capacity) VALUES ($1, $2, $3, $4, $5)`, cid, id, c.Name, c.Price, c.Capacity); err != nil {
				return fmt.Errorf("ticket: create seat class: %w", err)
			}
			ev.Classes = append(ev.Classes, SeatClass{ID: cid, Name: c.Name, Price: c.Price, Capacity: c.Capacity, Available: c.Capacity})
		}
		if r.Sale == SaleLottery {
			return s.commitRound(ctx, tx, id, 1, ev.ApplyCloses, ev.PayWindow)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.event(ctx, s.db.w, id)
}

// commitRound draws a seed for a lottery round and stores it with its hash. The pay window is
// kept as the deadline's offset until the round is drawn.
func (s *Service) commitRound(ctx context.Context, tx *sql.Tx, eventID string, round int, closes time.Time, payWindow time.Duration) error {
	seed := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, seed); err != nil {
		return fmt.Errorf("ticket: seed: %w", err)
	}
	h := sha256.Sum256(seed)
	_, err := tx.ExecContext(ctx, `INSERT INTO draws (event_id, round, seed, seed_hash, closes_at, pay_deadline) VALUES ($1, $2, $3, $4, $5, $6)`,
		eventID, round, seed, h[:], closes.UnixNano(), int64(payWindow))
	if err != nil {
		return fmt.Errorf("ticket: commit draw seed: %w", err)
	}
	return nil
}

// Event reads an event with its seat classes.
func (s *Service) Event(ctx context.Context, id string) (*Event, error) {
	return s.event(ctx, s.db.r, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *Service) event(ctx context.Context, q querier, id string) (*Event, error) {
	var ev Event
	var ident string
	var reqCard int
	err := q.QueryRowContext(ctx, `SELECT id, organiser_id, kind, name, venue, event_date, identity, min_age, residency, max_per_person, sale, require_card FROM events WHERE id = $1`, id).
		Scan(&ev.ID, &ev.Organiser, &ev.Kind, &ev.Name, &ev.Venue, &ev.Date, &ident, &ev.MinAge, &ev.Residency, &ev.MaxPerPerson, &ev.Sale, &reqCard)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errf(KindNotFound, "not-found", "no event %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: event: %w", err)
	}
	ev.Identity = Identity(ident)
	ev.RequireCard = reqCard != 0
	rows, err := q.QueryContext(ctx, `SELECT id, name, price, capacity, taken FROM seat_classes WHERE event_id = $1 ORDER BY price DESC, name`, id)
	if err != nil {
		return nil, fmt.Errorf("ticket: seat classes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c SeatClass
		var taken int64
		if err := rows.Scan(&c.ID, &c.Name, &c.Price, &c.Capacity, &taken); err != nil {
			return nil, fmt.Errorf("ticket: seat classes: %w", err)
		}
		c.Available = c.Capacity - taken
		ev.Classes = append(ev.Classes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: seat classes: %w", err)
	}
	if ev.Sale == SaleLottery {
		rs, err := s.rounds(ctx, q, id)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.n == 1 {
				ev.ApplyCloses, ev.PayWindow = r.closes.UTC(), r.window
			}
			ev.Draws = append(ev.Draws, DrawInfo{Round: r.n, SeedHash: hex.EncodeToString(r.hash), Closes: r.closes.UTC(), Drawn: r.drawn})
		}
	}
	return &ev, nil
}

// OrganiserEvents lists organiser o's events, newest first.
func (s *Service) OrganiserEvents(ctx context.Context, o *Organiser) ([]Event, error) {
	evs, err := s.Events(ctx)
	if err != nil {
		return nil, err
	}
	out := []Event{}
	for _, ev := range evs {
		if ev.Organiser == o.ID {
			out = append(out, ev)
		}
	}
	return out, nil
}

// Events lists the events, newest first.
func (s *Service) Events(ctx context.Context) ([]Event, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT id FROM events ORDER BY created_at DESC LIMIT 500`)
	if err != nil {
		return nil, fmt.Errorf("ticket: events: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := []Event{}
	for _, id := range ids {
		ev, err := s.Event(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *ev)
	}
	return out, nil
}

func (c *SeatClass) find(ev *Event, id string) bool {
	for _, x := range ev.Classes {
		if x.ID == id || x.Name == id {
			*c = x
			return true
		}
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

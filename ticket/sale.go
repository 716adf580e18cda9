package ticket

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// NoResaleNotice is printed on every ticket (チケット不正転売禁止法, 2019: a ticket whose
// terms forbid resale without the organiser's consent, naming the event, date, venue, seat and
// the holder, is a 特定興行入場券).
const NoResaleNotice = "本券の主催者の同意のない有償譲渡は禁止されています（特定興行入場券の不正転売の禁止等による興行入場券の適正な流通の確保に関する法律）。Resale without the organiser's consent is prohibited by the Ticket Resale Prohibition Act (2019); resell only on the official resale at face value."

// Ticket is a ticket with the fields the Ticket Resale Prohibition Act requires: the event, its
// date and venue, the seat, the holder's name and the no-resale notice.
type Ticket struct {
	ID         string     `json:"id"`
	EventID    string     `json:"event_id"`
	Event      string     `json:"event"`
	Date       string     `json:"date"`
	Venue      string     `json:"venue"`
	SeatClass  string     `json:"seat_class"`
	Seat       string     `json:"seat"`
	HolderName string     `json:"holder_name"`
	Price      int64      `json:"price"`
	Status     string     `json:"status"` // valid, listed (on the official resale), redeemed
	Notice     string     `json:"notice"`
	Voucher    string     `json:"voucher_code,omitempty"`
	Reverify   bool       `json:"needs_reverification"`
	AdmittedAt *time.Time `json:"admitted_at,omitempty"`
}

// holder returns the key that the event's per-person limit counts under for account a, and the
// name tickets carry: the person behind the account when the event checks identity (every
// account of theirs counts together), else the account.
func (s *Service) holder(ctx context.Context, q querier, a *Account, ev *Event) (string, string, error) {
	if ev.Identity == IdentityNone {
		return "acct:" + a.ID, a.Name, nil
	}
	var person sql.NullString
	if err := q.QueryRowContext(ctx, `SELECT person_sub FROM accounts WHERE id = $1`, a.ID).Scan(&person); err != nil {
		return "", "", fmt.Errorf("ticket: account: %w", err)
	}
	if !person.Valid {
		return "", "", errf(KindRefused, "verification-required", "this event needs a verification with the My Number Card first")
	}
	return s.eligible(ctx, q, ev, person.String)
}

// eligible checks that person sub may hold tickets of the event and returns its holder key and
// name.
func (s *Service) eligible(ctx context.Context, q querier, ev *Event, sub string) (string, string, error) {
	var el, rev int
	var why, name string
	err := q.QueryRowContext(ctx, `SELECT e.eligible, e.reason, p.name, p.needs_reverify FROM eligibility e JOIN persons p ON p.sub = e.sub WHERE e.event_id = $1 AND e.sub = $2`, ev.ID, sub).
		Scan(&el, &why, &name, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", errf(KindRefused, "verification-required", "verify with the My Number Card for this event first")
	}
	if err != nil {
		return "", "", fmt.Errorf("ticket: eligibility: %w", err)
	}
	if el != 1 {
		return "", "", errf(KindRefused, "not-eligible", "not eligible for this event: %s", why)
	}
	if rev == 1 {
		return "", "", errf(KindRefused, "reverify-required", "the card last used was revoked: verify again with the current card")
	}
	return "sub:" + sub, name, nil
}

// reserve adds n to what holder holds of the event, refusing past the event's limit. The
// CHECK (n <= max_n) of holdings is the last guard.
func reserve(ctx context.Context, tx *sql.Tx, ev *Event, holder string, n int) error {
	if n > ev.MaxPerPerson {
		return errf(KindRefused, "over-limit", "at most %d tickets per person for this event", ev.MaxPerPerson)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO holdings (event_id, holder, n, max_n) VALUES ($1, $2, $3, $4)
		ON CONFLICT (event_id, holder) DO UPDATE SET n = holdings.n + excluded.n WHERE holdings.n + excluded.n <= holdings.max_n`, ev.ID, holder, n, ev.MaxPerPerson)
	if isCheck(err) {
		return errf(KindRefused, "over-limit", "at most %d tickets per person for this event", ev.MaxPerPerson)
	}
	if err != nil {
		return fmt.Errorf("ticket: reserve: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return errf(KindRefused, "over-limit", "at most %d tickets per person for this event, across all of the person's accounts", ev.MaxPerPerson)
	}
	return nil
}

// take takes n seats of a class and returns the first seat number, or refuses when fewer are
// left: a conditional update, so no concurrency can sell past the capacity (and the CHECK
// taken <= capacity stands behind it).
func take(ctx context.Context, tx *sql.Tx, classID string, n int, issue bool) (int64, error) {
	q := `UPDATE seat_classes SET taken = taken + $1, issued = issued + $1 WHERE id = $2 AND taken + $1 <= capacity RETURNING issued`
	if !issue {
		q = `UPDATE seat_classes SET taken = taken + $1 WHERE id = $2 AND taken + $1 <= capacity RETURNING issued`
	}
	var issued int64
	err := tx.QueryRowContext(ctx, q, n, classID).Scan(&issued)
	if errors.Is(err, sql.ErrNoRows) || isCheck(err) {
		return 0, errf(KindRefused, "sold-out", "not enough seats left in this class")
	}
	if err != nil {
		return 0, fmt.Errorf("ticket: take seats: %w", err)
	}
	return issued - int64(n) + 1, nil
}

type newTicket struct {
	eventID, classID, orderID, holder, accountID, name string
	price                                              int64
	seat                                               int64
	voucher                                            bool
}

func (s *Service) insertTicket(ctx context.Context, tx *sql.Tx, t newTicket) (string, error) {
	id, err := s.newID("tkt_")
	if err != nil {
		return "", err
	}
	var code any
	if t.voucher {
		code = hashVoucher(s.voucherCode(id))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tickets (id, event_id, seat_class_id, seat_no, order_id, holder, account_id, holder_name, price, status, voucher_code, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'valid', $10, $11)`, id, t.eventID, t.classID, t.seat, t.orderID, t.holder, t.accountID, t.name, t.price, code, s.now()); err != nil {
		return "", fmt.Errorf("ticket: issue ticket: %w", err)
	}
	return id, nil
}

// Purchase buys qty seats of a class in a first-come sale. key makes it idempotent: a retry
// with the same key (after a lost answer, or a node that died) returns the same tickets and
// never buys twice.
func (s *Service) Purchase(ctx context.Context, a *Account, eventID, class string, qty int, key string) ([]Ticket, error) {
	if key == "" {
		k, err := s.newID("")
		if err != nil {
			return nil, err
		}
		key = k
	}
	if len(key) > 200 {
		return nil, errf(KindInvalid, "invalid-request", "the idempotency key is longer than 200 bytes")
	}
	if qty < 1 || qty > 100 {
		return nil, errf(KindInvalid, "invalid-request", "quantity must be 1 to 100")
	}
	ev, err := s.Event(ctx, eventID)
	if err != nil {
		return nil, err
	}
	if ev.Sale != SaleFirstCome {
		return nil, errf(KindConflict, "lottery-only", "this event is sold by lottery: apply instead")
	}
	var sc SeatClass
	if !sc.find(ev, class) {
		return nil, errf(KindNotFound, "not-found", "no seat class %q in this event", class)
	}
	if ids, err := s.orderTickets(ctx, s.db.r, a.ID, key); err != nil || len(ids) > 0 {
		if err != nil {
			return nil, err
		}
		return s.ticketsByID(ctx, ids)
	}
	holder, name, err := s.holder(ctx, s.db.r, a, ev)
	if err != nil {
		return nil, err
	}
	var ids []string
	err = s.db.inTx(ctx, func(tx *sql.Tx) error {
		oid, err := s.newID("ord_")
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO orders (id, account_id, idem_key, event_id, created_at) VALUES ($1, $2, $3, $4, $5)`, oid, a.ID, key, ev.ID, s.now())
		if isUnique(err) {
			return errAlreadyOrdered
		}
		if err != nil {
			return fmt.Errorf("ticket: order: %w", err)
		}
		if err := reserve(ctx, tx, ev, holder, qty); err != nil {
			return err
		}
		first, err := take(ctx, tx, sc.ID, qty, true)
		if err != nil {
			return err
		}
		for i := range int64(qty) {
			id, err := s.insertTicket(ctx, tx, newTicket{eventID: ev.ID, classID: sc.ID, orderID: oid, holder: holder, accountID: a.ID, name: name,
				price: sc.Price, seat: first + i, voucher: ev.Kind == "voucher"})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if errors.Is(err, errAlreadyOrdered) {
		if ids, err = s.orderTickets(ctx, s.db.w, a.ID, key); err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, errf(KindConflict, "order-in-progress", "an order with this idempotency key is being processed; retry")
		}
	} else if err != nil {
		return nil, err
	}
	return s.ticketsByID(ctx, ids)
}

var errAlreadyOrdered = errors.New("ticket: order exists")

func (s *Service) orderTickets(ctx context.Context, q querier, accountID, key string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT t.id FROM orders o JOIN tickets t ON t.order_id = o.id WHERE o.account_id = $1 AND o.idem_key = $2 ORDER BY t.seat_no`, accountID, key)
	if err != nil {
		return nil, fmt.Errorf("ticket: order: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

const ticketSelect = `SELECT t.id, t.event_id, e.name, e.event_date, e.venue, c.name, t.seat_no, t.holder_name, t.price, t.status, t.voucher_code, t.admitted_at,
	COALESCE(p.needs_reverify, 0) FROM tickets t JOIN events e ON e.id = t.event_id JOIN seat_classes c ON c.id = t.seat_class_id
	LEFT JOIN persons p ON p.sub = substr(t.holder, 5) `

// A voucher's code is derived from its id under the voucher key (kdf.TicketVouchers, which no
// gate holds), and only its hash is stored, so the database holds no code that could be
// redeemed: code = the first 16 characters of base32 (no padding) of HMAC-SHA256(voucher key,
// "mynagate-voucher-v1" 0x00 id).
func (s *Service) voucherCode(ticketID string) string {
	m := hmac.New(sha256.New, s.voucherKey)
	m.Write([]byte("mynagate-voucher-v1\x00"))
	m.Write([]byte(ticketID))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil))[:16]
}

func hashVoucher(code string) string {
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}

func (s *Service) scanTickets(rows *sql.Rows) ([]Ticket, error) {
	defer rows.Close()
	out := []Ticket{}
	for rows.Next() {
		var t Ticket
		var seat int64
		var code sql.NullString
		var adm sql.NullInt64
		var rev int
		if err := rows.Scan(&t.ID, &t.EventID, &t.Event, &t.Date, &t.Venue, &t.SeatClass, &seat, &t.HolderName, &t.Price, &t.Status, &code, &adm, &rev); err != nil {
			return nil, fmt.Errorf("ticket: tickets: %w", err)
		}
		t.Seat = fmt.Sprintf("%s-%d", t.SeatClass, seat)
		t.Reverify, t.Notice = rev == 1, NoResaleNotice
		if code.Valid {
			t.Voucher = s.voucherCode(t.ID)
		}
		if adm.Valid {
			at := time.Unix(0, adm.Int64).UTC()
			t.AdmittedAt = &at
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Service) ticketsByID(ctx context.Context, ids []string) ([]Ticket, error) {
	out := []Ticket{}
	for _, id := range ids {
		rows, err := s.db.w.QueryContext(ctx, ticketSelect+`WHERE t.id = $1`, id)
		if err != nil {
			return nil, fmt.Errorf("ticket: tickets: %w", err)
		}
		ts, err := s.scanTickets(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

// Tickets lists the tickets held by account a.
func (s *Service) Tickets(ctx context.Context, a *Account) ([]Ticket, error) {
	rows, err := s.db.r.QueryContext(ctx, ticketSelect+`WHERE t.account_id = $1 ORDER BY e.event_date, c.name, t.seat_no`, a.ID)
	if err != nil {
		return nil, fmt.Errorf("ticket: tickets: %w", err)
	}
	return s.scanTickets(rows)
}

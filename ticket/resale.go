package ticket

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Official resale at face value (公式リセール): the holder lists a ticket, a buyer who may hold
// it (verified, eligible, under their limit) buys it at the price printed on it, and the ticket
// is bound to the buyer: new holder, new name, next generation (the seller's codes stop at
// once). There is no price to set and no other transfer.

// Listing is a ticket on the official resale.
type Listing struct {
	Ticket    string `json:"ticket"`
	EventID   string `json:"event_id"`
	SeatClass string `json:"seat_class"`
	Seat      string `json:"seat"`
	Price     int64  `json:"price"` // the face value
}

// List puts a ticket of account a on the resale. A listed ticket has no entry code.
func (s *Service) List(ctx context.Context, a *Account, ticketID string) error {
	res, err := s.db.w.ExecContext(ctx, `UPDATE tickets SET status = 'listed' WHERE id = $1 AND account_id = $2 AND status = 'valid' AND admitted_at IS NULL
		AND voucher_code IS NULL`, ticketID, a.ID)
	if err != nil {
		return fmt.Errorf("ticket: list: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errf(KindConflict, "not-listable", "no unused ticket %q of this account to list (vouchers are not resold)", ticketID)
	}
	return nil
}

// Unlist takes a ticket of account a off the resale.
func (s *Service) Unlist(ctx context.Context, a *Account, ticketID string) error {
	res, err := s.db.w.ExecContext(ctx, `UPDATE tickets SET status = 'valid' WHERE id = $1 AND account_id = $2 AND status = 'listed'`, ticketID, a.ID)
	if err != nil {
		return fmt.Errorf("ticket: unlist: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errf(KindConflict, "not-listed", "ticket %q of this account is not listed", ticketID)
	}
	return nil
}

// Listings lists an event's tickets on the resale.
func (s *Service) Listings(ctx context.Context, eventID string) ([]Listing, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT t.id, t.event_id, c.name, t.seat_no, t.price FROM tickets t JOIN seat_classes c ON c.id = t.seat_class_id
		WHERE t.event_id = $1 AND t.status = 'listed' ORDER BY c.name, t.seat_no LIMIT 1000`, eventID)
	if err != nil {
		return nil, fmt.Errorf("ticket: listings: %w", err)
	}
	defer rows.Close()
	out := []Listing{}
	for rows.Next() {
		var l Listing
		var seat int64
		if err := rows.Scan(&l.Ticket, &l.EventID, &l.SeatClass, &seat, &l.Price); err != nil {
			return nil, err
		}
		l.Seat = fmt.Sprintf("%s-%d", l.SeatClass, seat)
		out = append(out, l)
	}
	return out, rows.Err()
}

// BuyResale buys a listed ticket at its face value for account a's person.
func (s *Service) BuyResale(ctx context.Context, a *Account, ticketID string) (*Ticket, error) {
	var eventID string
	err := s.db.r.QueryRowContext(ctx, `SELECT event_id FROM tickets WHERE id = $1`, ticketID).Scan(&eventID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errf(KindNotFound, "not-found", "no ticket %q", ticketID)
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: resale: %w", err)
	}
	ev, err := s.Event(ctx, eventID)
	if err != nil {
		return nil, err
	}
	buyer, name, err := s.holder(ctx, s.db.r, a, ev)
	if err != nil {
		return nil, err
	}
	err = s.db.inTx(ctx, func(tx *sql.Tx) error {
		var seller, status string
		if err := tx.QueryRowContext(ctx, `SELECT holder, status FROM tickets WHERE id = $1`, ticketID).Scan(&seller, &status); err != nil {
			return fmt.Errorf("ticket: resale: %w", err)
		}
		if status != "listed" {
			return errf(KindConflict, "not-listed", "the ticket is not on the resale (sold already?)")
		}
		if seller == buyer {
			return errf(KindConflict, "own-ticket", "this ticket is already yours")
		}
		// Holdings rows are touched in key order, so two resales the other way round cannot
		// deadlock.
		first, second := func() error { return reserve(ctx, tx, ev, buyer, 1) }, func() error {
			_, err := tx.ExecContext(ctx, `UPDATE holdings SET n = n - 1 WHERE event_id = $1 AND holder = $2`, ev.ID, seller)
			return err
		}
		if seller < buyer {
			first, second = second, first
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE tickets SET status = 'valid', holder = $1, account_id = $2, holder_name = $3, generation = generation + 1, resold = resold + 1
			WHERE id = $4 AND status = 'listed' AND holder = $5`, buyer, a.ID, name, ticketID, seller)
		if err != nil {
			return fmt.Errorf("ticket: resale: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errf(KindConflict, "not-listed", "the ticket was sold to someone else")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ts, err := s.ticketsByID(ctx, []string{ticketID})
	if err != nil {
		return nil, err
	}
	return &ts[0], nil
}

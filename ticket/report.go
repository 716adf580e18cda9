package ticket

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Holder is what an organiser sees of a ticket's holder: the name (to compare with the card at
// the entry lane), the seat and the ticket's state. Nothing else about the person.
type Holder struct {
	Ticket   string `json:"ticket"`
	Name     string `json:"name"`
	Seat     string `json:"seat"`
	Status   string `json:"status"`
	Reverify bool   `json:"needs_reverification"`
	Admitted bool   `json:"admitted"`
}

// ownEvent reads an event of organiser o.
func (s *Service) ownEvent(ctx context.Context, o *Organiser, eventID string) (*Event, error) {
	ev, err := s.Event(ctx, eventID)
	if err != nil {
		return nil, err
	}
	if ev.Organiser != o.ID {
		return nil, errf(KindNotFound, "not-found", "no event %q of this organiser", eventID)
	}
	return ev, nil
}

// Holders lists the tickets of an event with their holders' names.
func (s *Service) Holders(ctx context.Context, o *Organiser, eventID string) ([]Holder, error) {
	if _, err := s.ownEvent(ctx, o, eventID); err != nil {
		return nil, err
	}
	rows, err := s.db.r.QueryContext(ctx, ticketSelect+`WHERE t.event_id = $1 ORDER BY c.name, t.seat_no`, eventID)
	if err != nil {
		return nil, fmt.Errorf("ticket: holders: %w", err)
	}
	ts, err := s.scanTickets(rows)
	if err != nil {
		return nil, err
	}
	out := []Holder{}
	for _, t := range ts {
		out = append(out, Holder{Ticket: t.ID, Name: t.HolderName, Seat: t.Seat, Status: t.Status, Reverify: t.Reverify, Admitted: t.AdmittedAt != nil})
	}
	return out, nil
}

// Report is an organiser's summary of an event. It counts; it names nobody.
type Report struct {
	EventID      string `json:"event_id"`
	Applications int64  `json:"applications"`
	// DuplicatesPrevented counts applications refused because the person (through another
	// account, or as someone's companion) was in one already.
	DuplicatesPrevented int64 `json:"duplicates_prevented"`
	Winners             int64 `json:"winners"`
	Paid                int64 `json:"paid"`
	Expired             int64 `json:"expired"`
	TicketsSold         int64 `json:"tickets_sold"`
	Revenue             int64 `json:"revenue"`
	ResaleListed        int64 `json:"resale_listed"`
	ResaleSold          int64 `json:"resale_sold"`
	ResaleVolume        int64 `json:"resale_volume"` // yen, at face value
	Admitted            int64 `json:"admitted"`
	NoShows             int64 `json:"no_shows"` // valid tickets not admitted
	Redeemed            int64 `json:"vouchers_redeemed"`
	Reverify            int64 `json:"needs_reverification"`
}

// Report summarises an event of organiser o.
func (s *Service) Report(ctx context.Context, o *Organiser, eventID string) (*Report, error) {
	if _, err := s.ownEvent(ctx, o, eventID); err != nil {
		return nil, err
	}
	r := &Report{EventID: eventID}
	q := s.db.r
	err := q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN won_round IS NOT NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'paid' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'expired' THEN 1 ELSE 0 END), 0)
		FROM applications WHERE event_id = $1`, eventID).Scan(&r.Applications, &r.Winners, &r.Paid, &r.Expired)
	if err != nil {
		return nil, fmt.Errorf("ticket: report: %w", err)
	}
	err = q.QueryRowContext(ctx, `SELECT n FROM refusals WHERE event_id = $1 AND reason = 'duplicate'`, eventID).Scan(&r.DuplicatesPrevented)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("ticket: report: %w", err)
	}
	err = q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(t.price), 0),
		COALESCE(SUM(CASE WHEN t.status = 'listed' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN t.resold > 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(t.resold * t.price), 0),
		COALESCE(SUM(CASE WHEN t.admitted_at IS NOT NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN t.status = 'valid' AND t.admitted_at IS NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN t.status = 'redeemed' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN p.needs_reverify = 1 THEN 1 ELSE 0 END), 0)
		FROM tickets t LEFT JOIN persons p ON p.sub = substr(t.holder, 5) WHERE t.event_id = $1`, eventID).
		Scan(&r.TicketsSold, &r.Revenue, &r.ResaleListed, &r.ResaleSold, &r.ResaleVolume, &r.Admitted, &r.NoShows, &r.Redeemed, &r.Reverify)
	if err != nil {
		return nil, fmt.Errorf("ticket: report: %w", err)
	}
	return r, nil
}

// WriteReportCSV writes the report as CSV (one metric per row) followed by the holders (ticket,
// seat, name, status, admitted).
func (s *Service) WriteReportCSV(ctx context.Context, o *Organiser, eventID string, out io.Writer) error {
	r, err := s.Report(ctx, o, eventID)
	if err != nil {
		return err
	}
	hs, err := s.Holders(ctx, o, eventID)
	if err != nil {
		return err
	}
	w := csv.NewWriter(out)
	w.Write([]string{"metric", "value"})
	for _, m := range []struct {
		k string
		v int64
	}{{"applications", r.Applications}, {"duplicates_prevented", r.DuplicatesPrevented}, {"winners", r.Winners}, {"paid", r.Paid},
		{"expired", r.Expired}, {"tickets_sold", r.TicketsSold}, {"revenue", r.Revenue}, {"resale_listed", r.ResaleListed},
		{"resale_sold", r.ResaleSold}, {"resale_volume", r.ResaleVolume}, {"admitted", r.Admitted}, {"no_shows", r.NoShows},
		{"vouchers_redeemed", r.Redeemed}, {"needs_reverification", r.Reverify}} {
		w.Write([]string{m.k, strconv.FormatInt(m.v, 10)})
	}
	w.Write(nil)
	w.Write([]string{"ticket", "seat", "holder_name", "status", "admitted"})
	for _, h := range hs {
		w.Write([]string{h.Ticket, h.Seat, csvSafe(h.Name), h.Status, strconv.FormatBool(h.Admitted)})
	}
	w.Flush()
	return w.Error()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (CSV injection).
func csvSafe(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r') {
		return "'" + v
	}
	return v
}

// Redeem redeems a voucher by its code, once (organiser: the shop's terminal).
func (s *Service) Redeem(ctx context.Context, o *Organiser, code string) (*Ticket, error) {
	if len(strings.TrimSpace(code)) != 16 {
		return nil, errf(KindInvalid, "invalid-code", "a voucher code has 16 characters")
	}
	var id, eventID, status, org string
	err := s.db.w.QueryRowContext(ctx, `SELECT t.id, t.event_id, t.status, e.organiser_id FROM tickets t JOIN events e ON e.id = t.event_id WHERE t.voucher_code = $1`, hashVoucher(strings.ToUpper(strings.TrimSpace(code)))).
		Scan(&id, &eventID, &status, &org)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && org != o.ID) {
		return nil, errf(KindNotFound, "unknown-code", "no voucher with this code")
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: redeem: %w", err)
	}
	res, err := s.db.w.ExecContext(ctx, `UPDATE tickets SET status = 'redeemed', admitted_at = $1 WHERE id = $2 AND status = 'valid'`, s.now(), id)
	if err != nil {
		return nil, fmt.Errorf("ticket: redeem: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, errf(KindConflict, "already-redeemed", "this voucher was redeemed already (or is %s)", status)
	}
	ts, err := s.ticketsByID(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	return &ts[0], nil
}

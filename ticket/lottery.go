package ticket

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/ticket/draw"
)

// Lotteries (抽選): an application window, one application per person and event whichever
// account they use, companions who verify and count against their own limit, a draw anyone can
// re-run (package draw), a payment window, and a second round for the seats not paid for.
//
// Round 1's seed is committed when the event is created (its hash is public from then on) and
// drawn after the window closes. Drawing round 1 commits round 2's seed, which is drawn after the
// payment window, among round 1's losers, for the seats winners did not pay for.

// Application is a lottery application.
type Application struct {
	ID         string   `json:"id"`
	EventID    string   `json:"event_id"`
	SeatClass  string   `json:"seat_class"`
	Seats      int      `json:"seats"`      // for the applicant
	Companions []string `json:"companions"` // their names; one seat each
	Status     string   `json:"status"`     // applied, won, lost, paid, expired
	WonRound   int      `json:"won_round,omitempty"`
}

// Apply enters account a's person in a lottery for seats of a class, with companions: the ids of
// verifications this account ran for them (companion: true) for this event.
func (s *Service) Apply(ctx context.Context, a *Account, eventID, class string, seats int, companions []string) (*Application, error) {
	ev, err := s.Event(ctx, eventID)
	if err != nil {
		return nil, err
	}
	if ev.Sale != SaleLottery {
		return nil, errf(KindConflict, "not-a-lottery", "this event is sold first come: purchase instead")
	}
	if !s.clk.Now().Before(ev.ApplyCloses) {
		return nil, errf(KindConflict, "window-closed", "the application window closed at %s", ev.ApplyCloses.Format(time.RFC3339))
	}
	var sc SeatClass
	if !sc.find(ev, class) {
		return nil, errf(KindNotFound, "not-found", "no seat class %q in this event", class)
	}
	if seats < 1 || len(companions) > 20 {
		return nil, errf(KindInvalid, "invalid-request", "seats must be at least 1, companions at most 20")
	}
	holder, name, err := s.holder(ctx, s.db.r, a, ev)
	if err != nil {
		return nil, err
	}
	type member struct {
		sub, holder, name string
		seats             int
	}
	members := []member{{sub: holder[4:], holder: holder, name: name, seats: seats}}
	seen := map[string]bool{holder: true}
	for _, vid := range companions {
		var sub sql.NullString
		var status, evID string
		var comp int
		err := s.db.r.QueryRowContext(ctx, `SELECT sub, status, event_id, companion FROM verifications WHERE id = $1 AND account_id = $2`, vid, a.ID).Scan(&sub, &status, &evID, &comp)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errf(KindInvalid, "invalid-companion", "no companion verification %q of this account", vid)
		}
		if err != nil {
			return nil, fmt.Errorf("ticket: companion: %w", err)
		}
		if comp != 1 || status != "done" || evID != ev.ID {
			return nil, errf(KindInvalid, "invalid-companion", "verification %q is not a completed companion verification for this event", vid)
		}
		h, n, err := s.eligible(ctx, s.db.r, ev, sub.String)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Detail = "companion " + vid + ": " + e.Detail
			}
			return nil, err
		}
		if seen[h] {
			return nil, errf(KindInvalid, "invalid-companion", "companion %q is the applicant or another companion again", vid)
		}
		seen[h] = true
		members = append(members, member{sub: sub.String, holder: h, name: n, seats: 1})
	}
	id, err := s.newID("app_")
	if err != nil {
		return nil, err
	}
	err = s.db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO applications (id, event_id, seat_class_id, account_id, sub, seats, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'applied', $7)`,
			id, ev.ID, sc.ID, a.ID, members[0].sub, seats, s.now())
		if isUnique(err) {
			return errf(KindRefused, "already-applied", "this person has already applied for this event (one application per person, whichever account)")
		}
		if err != nil {
			return fmt.Errorf("ticket: apply: %w", err)
		}
		for i, m := range members {
			_, err := tx.ExecContext(ctx, `INSERT INTO application_members (application_id, event_id, sub, seats, name) VALUES ($1, $2, $3, $4, $5)`, id, ev.ID, m.sub, m.seats, m.name)
			if isUnique(err) {
				if i == 0 {
					return errf(KindRefused, "already-applied", "this person is already in an application for this event, as a companion")
				}
				return errf(KindRefused, "companion-already-applied", "companion %s is already in an application for this event", companions[i-1])
			}
			if err != nil {
				return fmt.Errorf("ticket: apply: %w", err)
			}
			if err := reserve(ctx, tx, ev, m.holder, m.seats); err != nil {
				if i > 0 {
					var e *Error
					if errors.As(err, &e) {
						return errf(KindRefused, "companion-over-limit", "companion %s: %s", companions[i-1], e.Detail)
					}
				}
				return err
			}
		}
		return nil
	})
	if r := ReasonOf(err); r == "already-applied" || r == "companion-already-applied" {
		// Counted for the organiser's report: duplicates prevented.
		s.db.w.ExecContext(ctx, `INSERT INTO refusals (event_id, reason, n) VALUES ($1, $2, 1) ON CONFLICT (event_id, reason) DO UPDATE SET n = refusals.n + 1`, ev.ID, "duplicate")
	}
	if err != nil {
		return nil, err
	}
	app := &Application{ID: id, EventID: ev.ID, SeatClass: sc.Name, Seats: seats, Companions: []string{}, Status: "applied"}
	for _, m := range members[1:] {
		app.Companions = append(app.Companions, m.name)
	}
	return app, nil
}

// Applications lists account a's applications.
func (s *Service) Applications(ctx context.Context, a *Account) ([]Application, error) {
	rows, err := s.db.r.QueryContext(ctx, `SELECT ap.id, ap.event_id, c.name, ap.seats, ap.status, COALESCE(ap.won_round, 0) FROM applications ap
		JOIN seat_classes c ON c.id = ap.seat_class_id WHERE ap.account_id = $1 ORDER BY ap.created_at`, a.ID)
	if err != nil {
		return nil, fmt.Errorf("ticket: applications: %w", err)
	}
	defer rows.Close()
	out := []Application{}
	for rows.Next() {
		var ap Application
		if err := rows.Scan(&ap.ID, &ap.EventID, &ap.SeatClass, &ap.Seats, &ap.Status, &ap.WonRound); err != nil {
			return nil, err
		}
		ap.Companions = []string{}
		out = append(out, ap)
	}
	return out, rows.Err()
}

type round struct {
	n        int
	seed     []byte
	hash     []byte
	closes   time.Time
	drawn    bool
	deadline time.Time // once drawn; before, the pay window
	window   time.Duration
	capacity map[string]int64
}

func (s *Service) rounds(ctx context.Context, q querier, eventID string) ([]round, error) {
	rows, err := q.QueryContext(ctx, `SELECT round, seed, seed_hash, closes_at, drawn_at, pay_deadline, capacity FROM draws WHERE event_id = $1 ORDER BY round`, eventID)
	if err != nil {
		return nil, fmt.Errorf("ticket: draws: %w", err)
	}
	defer rows.Close()
	var out []round
	for rows.Next() {
		var r round
		var closes, pay int64
		var drawn sql.NullInt64
		var capJSON sql.NullString
		if err := rows.Scan(&r.n, &r.seed, &r.hash, &closes, &drawn, &pay, &capJSON); err != nil {
			return nil, err
		}
		r.closes, r.drawn = time.Unix(0, closes), drawn.Valid
		if r.drawn {
			r.deadline = time.Unix(0, pay)
		} else {
			r.window = time.Duration(pay)
		}
		if capJSON.Valid {
			json.Unmarshal([]byte(capJSON.String), &r.capacity)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// entries returns the applications of a round, with their seats (the applicant's and one per
// companion), sorted by id. Round 1 draws every application; round 2 those not won in round 1.
func (s *Service) entries(ctx context.Context, q querier, eventID string, roundN int) ([]draw.Entry, error) {
	cond := ``
	if roundN > 1 {
		cond = ` AND (ap.won_round IS NULL OR ap.won_round >= 2)`
	}
	rows, err := q.QueryContext(ctx, `SELECT ap.id, c.name, (SELECT SUM(m.seats) FROM application_members m WHERE m.application_id = ap.id)
		FROM applications ap JOIN seat_classes c ON c.id = ap.seat_class_id WHERE ap.event_id = $1`+cond, eventID)
	if err != nil {
		return nil, fmt.Errorf("ticket: entries: %w", err)
	}
	defer rows.Close()
	out := []draw.Entry{}
	for rows.Next() {
		var e draw.Entry
		if err := rows.Scan(&e.ID, &e.Class, &e.Seats); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	draw.SortEntries(out)
	return out, rows.Err()
}

// DrawResult is what a draw did.
type DrawResult struct {
	Round   int `json:"round"`
	Entries int `json:"entries"`
	Winners int `json:"winners"`
	Expired int `json:"expired"` // round 2: unpaid wins of round 1 given back first
}

// Draw runs the next lottery round of an event whose window has closed (organiser). Round 2
// first gives back the seats of round 1's unpaid wins.
func (s *Service) Draw(ctx context.Context, o *Organiser, eventID string) (*DrawResult, error) {
	ev, err := s.ownEvent(ctx, o, eventID)
	if err != nil {
		return nil, err
	}
	if ev.Sale != SaleLottery {
		return nil, errf(KindConflict, "not-a-lottery", "this event has no lottery")
	}
	var res *DrawResult
	err = s.db.inTx(ctx, func(tx *sql.Tx) error {
		rs, err := s.rounds(ctx, tx, ev.ID)
		if err != nil {
			return err
		}
		var r *round
		for i := range rs {
			if !rs[i].drawn {
				r = &rs[i]
				break
			}
		}
		if r == nil {
			return errf(KindConflict, "already-drawn", "every round of this lottery has been drawn")
		}
		if s.clk.Now().Before(r.closes) {
			return errf(KindConflict, "window-open", "round %d can be drawn after %s", r.n, r.closes.UTC().Format(time.RFC3339))
		}
		// The drawn_at guard makes a draw happen once, whichever node runs it.
		now := s.clk.Now()
		deadline := now.Add(r.window)
		up, err := tx.ExecContext(ctx, `UPDATE draws SET drawn_at = $1, pay_deadline = $2 WHERE event_id = $3 AND round = $4 AND drawn_at IS NULL`, now.UnixNano(), deadline.UnixNano(), ev.ID, r.n)
		if err != nil {
			return fmt.Errorf("ticket: draw: %w", err)
		}
		if n, _ := up.RowsAffected(); n == 0 {
			return errf(KindConflict, "already-drawn", "round %d is being drawn", r.n)
		}
		res = &DrawResult{Round: r.n}
		if r.n > 1 {
			if res.Expired, err = s.expire(ctx, tx, ev); err != nil {
				return err
			}
		}
		capacity := map[string]int64{}
		rows, err := tx.QueryContext(ctx, `SELECT name, capacity - taken FROM seat_classes WHERE event_id = $1`, ev.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var n string
			var c int64
			rows.Scan(&n, &c)
			capacity[n] = c
		}
		rows.Close()
		entries, err := s.entries(ctx, tx, ev.ID, r.n)
		if err != nil {
			return err
		}
		winners, err := draw.Run(r.seed, capacity, entries)
		if err != nil {
			return err
		}
		cj, _ := json.Marshal(capacity)
		if _, err := tx.ExecContext(ctx, `UPDATE draws SET capacity = $1 WHERE event_id = $2 AND round = $3`, string(cj), ev.ID, r.n); err != nil {
			return err
		}
		won := map[string]bool{}
		for _, w := range winners {
			won[w] = true
		}
		final := r.n >= 2
		for _, e := range entries {
			if won[e.ID] {
				var classID string
				if err := tx.QueryRowContext(ctx, `SELECT seat_class_id FROM applications WHERE id = $1`, e.ID).Scan(&classID); err != nil {
					return err
				}
				if _, err := take(ctx, tx, classID, e.Seats, false); err != nil {
					return fmt.Errorf("ticket: draw took more seats than free: %w", err)
				}
				if _, err := tx.ExecContext(ctx, `UPDATE applications SET status = 'won', won_round = $1 WHERE id = $2`, r.n, e.ID); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE applications SET status = 'lost' WHERE id = $1`, e.ID); err != nil {
				return err
			}
			if final {
				if err := s.releaseMembers(ctx, tx, ev.ID, e.ID); err != nil {
					return err
				}
			}
		}
		res.Entries, res.Winners = len(entries), len(winners)
		if r.n == 1 {
			// Round 2's seed is committed now, drawn after the payment window.
			return s.commitRound(ctx, tx, ev.ID, 2, deadline, r.window)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// expire gives back the seats and the limits of wins not paid by their round's deadline.
func (s *Service) expire(ctx context.Context, tx *sql.Tx, ev *Event) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT ap.id, ap.seat_class_id FROM applications ap JOIN draws d ON d.event_id = ap.event_id AND d.round = ap.won_round
		WHERE ap.event_id = $1 AND ap.status = 'won' AND d.pay_deadline <= $2`, ev.ID, s.now())
	if err != nil {
		return 0, fmt.Errorf("ticket: expire: %w", err)
	}
	type app struct{ id, class string }
	var apps []app
	for rows.Next() {
		var a app
		rows.Scan(&a.id, &a.class)
		apps = append(apps, a)
	}
	rows.Close()
	for _, a := range apps {
		var seats int
		if err := tx.QueryRowContext(ctx, `SELECT SUM(seats) FROM application_members WHERE application_id = $1`, a.id).Scan(&seats); err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE applications SET status = 'expired' WHERE id = $1 AND status = 'won'`, a.id); err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE seat_classes SET taken = taken - $1 WHERE id = $2`, seats, a.class); err != nil {
			return 0, err
		}
		if err := s.releaseMembers(ctx, tx, ev.ID, a.id); err != nil {
			return 0, err
		}
	}
	return len(apps), nil
}

func (s *Service) releaseMembers(ctx context.Context, tx *sql.Tx, eventID, appID string) error {
	rows, err := tx.QueryContext(ctx, `SELECT sub, seats FROM application_members WHERE application_id = $1`, appID)
	if err != nil {
		return err
	}
	type m struct {
		sub   string
		seats int
	}
	var ms []m
	for rows.Next() {
		var x m
		rows.Scan(&x.sub, &x.seats)
		ms = append(ms, x)
	}
	rows.Close()
	for _, x := range ms {
		if _, err := tx.ExecContext(ctx, `UPDATE holdings SET n = n - $1 WHERE event_id = $2 AND holder = $3`, x.seats, eventID, "sub:"+x.sub); err != nil {
			return fmt.Errorf("ticket: release: %w", err)
		}
	}
	return nil
}

// Pay pays for a won application before its round's deadline and issues the tickets: the
// applicant's seats bound to the applicant, one bound to each companion. (Payment itself is out
// of scope: paying is the state change.)
func (s *Service) Pay(ctx context.Context, a *Account, appID string) ([]Ticket, error) {
	var ids []string
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		var eventID, classID, status string
		var wonRound sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT event_id, seat_class_id, status, won_round FROM applications WHERE id = $1 AND account_id = $2`, appID, a.ID).
			Scan(&eventID, &classID, &status, &wonRound)
		if errors.Is(err, sql.ErrNoRows) {
			return errf(KindNotFound, "not-found", "no application %q of this account", appID)
		}
		if err != nil {
			return err
		}
		if status != "won" {
			return errf(KindConflict, "not-payable", "the application is %s, not won", status)
		}
		res, err := tx.ExecContext(ctx, `UPDATE applications SET status = 'paid' WHERE id = $1 AND status = 'won'
			AND (SELECT pay_deadline FROM draws d WHERE d.event_id = applications.event_id AND d.round = applications.won_round) > $2`, appID, s.now())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errf(KindConflict, "payment-window-closed", "the payment window of this win has closed")
		}
		var price int64
		var kind string
		if err := tx.QueryRowContext(ctx, `SELECT c.price, e.kind FROM seat_classes c JOIN events e ON e.id = c.event_id WHERE c.id = $1`, classID).Scan(&price, &kind); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT sub, seats, name FROM application_members WHERE application_id = $1 ORDER BY seats DESC, sub`, appID)
		if err != nil {
			return err
		}
		type m struct {
			sub, name string
			seats     int
		}
		var ms []m
		total := 0
		for rows.Next() {
			var x m
			rows.Scan(&x.sub, &x.seats, &x.name)
			ms = append(ms, x)
			total += x.seats
		}
		rows.Close()
		first, err := issue(ctx, tx, classID, total)
		if err != nil {
			return err
		}
		for _, x := range ms {
			for range x.seats {
				id, err := s.insertTicket(ctx, tx, newTicket{eventID: eventID, classID: classID, orderID: appID, holder: "sub:" + x.sub, accountID: a.ID,
					name: x.name, price: price, seat: first, voucher: kind == "voucher"})
				if err != nil {
					return err
				}
				first++
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.ticketsByID(ctx, ids)
}

// DrawDocument returns the published record of a round: before the draw only its commitment
// (seed_hash, closing time); after it, everything needed to re-run it (package draw).
func (s *Service) DrawDocument(ctx context.Context, eventID string, roundN int) (*draw.Document, error) {
	rs, err := s.rounds(ctx, s.db.r, eventID)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.n != roundN {
			continue
		}
		d := &draw.Document{Format: draw.Format, Event: eventID, Round: r.n, SeedHash: hex.EncodeToString(r.hash), Entries: []draw.Entry{}, Winners: []string{}}
		if !r.drawn {
			return d, nil
		}
		d.Seed, d.Capacity = hex.EncodeToString(r.seed), r.capacity
		if d.Entries, err = s.entries(ctx, s.db.r, eventID, r.n); err != nil {
			return nil, err
		}
		// The winners in draw order are re-derived from the stored inputs, and checked against
		// the stored outcome, so the document never disagrees with what happened.
		if d.Winners, err = draw.Run(r.seed, r.capacity, d.Entries); err != nil {
			return nil, err
		}
		var stored int
		if err := s.db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM applications WHERE event_id = $1 AND won_round = $2`, eventID, r.n).Scan(&stored); err != nil {
			return nil, err
		}
		if stored != len(d.Winners) {
			return nil, fmt.Errorf("ticket: round %d of %s: %d stored winners, the draw gives %d", r.n, eventID, stored, len(d.Winners))
		}
		return d, nil
	}
	return nil, errf(KindNotFound, "not-found", "no round %d of event %q", roundN, eventID)
}

// issue gives out n seat numbers of seats already taken (a lottery win being paid).
func issue(ctx context.Context, tx *sql.Tx, classID string, n int) (int64, error) {
	var issued int64
	err := tx.QueryRowContext(ctx, `UPDATE seat_classes SET issued = issued + $1 WHERE id = $2 AND issued + $1 <= taken RETURNING issued`, n, classID).Scan(&issued)
	if err != nil {
		return 0, fmt.Errorf("ticket: issue seats: %w", err)
	}
	return issued - int64(n) + 1, nil
}

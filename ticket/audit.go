package ticket

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Audit is the state of an event's sale as the database holds it: what a rush must leave
// consistent.
type Audit struct {
	Tickets       int      // tickets of the event
	DistinctSeats int      // distinct (class, seat number) among them
	Taken         int64    // seats taken over all classes
	Capacity      int64    // seats over all classes
	OverLimit     int      // holders with more tickets than the event's limit
	Mismatched    int      // holdings rows disagreeing with the tickets held
	TicketIDs     []string // every ticket id
}

// Audit reads an event's sale.
func (d *DB) Audit(ctx context.Context, eventID string) (*Audit, error) {
	a := &Audit{}
	q := d.w
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT seat_class_id || ':' || CAST(seat_no AS TEXT)) FROM tickets WHERE event_id = $1`, eventID).Scan(&a.Tickets, &a.DistinctSeats); err != nil {
		return nil, fmt.Errorf("ticket: audit: %w", err)
	}
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(taken), 0), COALESCE(SUM(capacity), 0) FROM seat_classes WHERE event_id = $1`, eventID).Scan(&a.Taken, &a.Capacity); err != nil {
		return nil, fmt.Errorf("ticket: audit: %w", err)
	}
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT t.holder FROM tickets t JOIN events e ON e.id = t.event_id WHERE t.event_id = $1
		GROUP BY t.holder, e.max_per_person HAVING COUNT(*) > e.max_per_person) x`, eventID).Scan(&a.OverLimit); err != nil {
		return nil, fmt.Errorf("ticket: audit: %w", err)
	}
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM holdings h WHERE h.event_id = $1
		AND h.n != (SELECT COUNT(*) FROM tickets t WHERE t.event_id = h.event_id AND t.holder = h.holder)`, eventID).Scan(&a.Mismatched); err != nil {
		return nil, fmt.Errorf("ticket: audit: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT id FROM tickets WHERE event_id = $1`, eventID)
	if err != nil {
		return nil, fmt.Errorf("ticket: audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		a.TicketIDs = append(a.TicketIDs, id)
	}
	return a, rows.Err()
}

// InsertRate measures the database's bare write rate, the baseline of a rush: n single-row
// INSERTs, each its own transaction, from workers goroutines, into a scratch table that is
// dropped afterwards. It returns the time they took.
func (d *DB) InsertRate(ctx context.Context, n, workers int) (time.Duration, error) {
	if _, err := d.w.ExecContext(ctx, `CREATE TABLE bench_inserts (id BIGINT PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		return 0, fmt.Errorf("ticket: scratch table: %w", err)
	}
	defer d.w.ExecContext(context.WithoutCancel(ctx), `DROP TABLE bench_inserts`)
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, err := d.w.ExecContext(ctx, `INSERT INTO bench_inserts (id, v) VALUES ($1, $2)`, i, "x"); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), first
}

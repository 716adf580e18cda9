package ticket

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/mynagate/mynagate/ticket/rush"
)

// TestRushNoOversell: many concurrent purchase attempts over HTTP on loopback for fewer seats,
// on SQLite (one node) and PostgreSQL (two nodes on one database): exactly the capacity is
// sold, every ticket sold reached its buyer, nobody holds more than the per-person limit
// across their accounts, and seat numbers are unique. (`mynagate bench ticket` runs the full
// 10,000 attempts for 1,000 seats, with a node killed mid-rush.)
func TestRushNoOversell(t *testing.T) {
	for _, tc := range []struct {
		dialect string
		nodes   int
	}{{DialectSQLite, 1}, {DialectPostgres, 2}} {
		t.Run(tc.dialect, func(t *testing.T) {
			t.Parallel()
			const attempts, seats, persons, limit = 2000, 200, 150, 2
			w := newWorld(t, tc.dialect, tc.nodes)
			ev := w.event(EventRequest{Name: "TGC 2026 S/S", Venue: "国立代々木競技場第一体育館", Date: "2026-03-02", Identity: IdentityLogin,
				MaxPerPerson: limit, Classes: []SeatClass{{Name: "S", Price: 12000, Capacity: seats}}})
			var tokens []string
			for p := range persons {
				// Every person has two accounts, and uses both.
				for k := range 2 {
					a, tok := w.account(fmt.Sprintf("buyer %d %d", p, k))
					if _, err := w.verify(a, ev.ID, person{sub: fmt.Sprintf("sub-%d", p)}, false); err != nil {
						t.Fatal(err)
					}
					tokens = append(tokens, tok)
				}
			}
			var targets []string
			for _, n := range w.nodes {
				srv := httptest.NewServer(n.Handler())
				t.Cleanup(srv.Close)
				targets = append(targets, srv.URL)
			}
			res := rush.Run(ctx, rush.Config{Targets: targets, EventID: ev.ID, Class: "S", Tokens: tokens, Attempts: attempts, Concurrency: 32,
				Quantity: func(i int) int { return 1 + i%2 }})
			if res.Failed > 0 {
				t.Fatalf("%d attempts failed: %v", res.Failed, res.Errors)
			}
			if len(res.Tickets) != seats {
				t.Errorf("clients received %d tickets, want exactly %d (refused: %v)", len(res.Tickets), seats, res.Refused)
			}
			db := w.s().db.w
			var sold, distinctSeats, taken int
			db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT seat_no) FROM tickets WHERE event_id = $1`, ev.ID).Scan(&sold, &distinctSeats)
			db.QueryRow(`SELECT taken FROM seat_classes WHERE event_id = $1`, ev.ID).Scan(&taken)
			if sold != seats || distinctSeats != seats || taken != seats {
				t.Errorf("database: %d tickets on %d seats, taken %d; want %d", sold, distinctSeats, taken, seats)
			}
			rows, err := db.Query(`SELECT id FROM tickets WHERE event_id = $1`, ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				rows.Scan(&id)
				if _, ok := res.Tickets[id]; !ok {
					t.Errorf("ticket %s sold but no client received it", id)
				}
			}
			rows.Close()
			var over int
			db.QueryRow(`SELECT COUNT(*) FROM (SELECT holder FROM tickets WHERE event_id = $1 GROUP BY holder HAVING COUNT(*) > $2) x`, ev.ID, limit).Scan(&over)
			if over != 0 {
				t.Errorf("%d persons hold more than %d tickets", over, limit)
			}
			var mismatch int
			db.QueryRow(`SELECT COUNT(*) FROM holdings h WHERE h.event_id = $1 AND h.n != (SELECT COUNT(*) FROM tickets t WHERE t.event_id = h.event_id AND t.holder = h.holder)`, ev.ID).Scan(&mismatch)
			if mismatch != 0 {
				t.Errorf("%d holdings disagree with the tickets held", mismatch)
			}
			if res.Refused["sold-out"] == 0 || res.Refused["over-limit"] == 0 {
				t.Errorf("refusals %v: want both sold-out and over-limit among %d attempts", res.Refused, attempts)
			}
			t.Logf("%s, %d node(s): %d attempts in %v, p50 %v p99 %v, refused %v", tc.dialect, tc.nodes, attempts, res.Elapsed, res.Percentile(50), res.Percentile(99), res.Refused)
		})
	}
}

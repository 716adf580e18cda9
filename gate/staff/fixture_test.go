package staff_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/gate/staff"
	"github.com/mynagate/mynagate/internal/gatetest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
)

const token = "LANE-TOKEN-0123456789"

// lane is a gate with one holder's ticket, its board and its staff page on a test server.
type lane struct {
	clk   *clockwork.FakeClock
	g     *gate.Gate
	card  *jpki.CardFile
	board *staff.Board
	srv   *httptest.Server
}

// trust issues a card (山田 太郎) with the J-LIS simulator and returns the simulator's clock,
// the card, and the CA certificate and CRL a gate or kiosk is given.
func trust(t *testing.T) (*clockwork.FakeClock, *jpki.CardFile, []byte, []byte) {
	t.Helper()
	sim, clk, _ := testkit.Simulator(t)
	cf := testkit.Issue(t, sim, testkit.Taro()).Card
	ca, crl, _ := testkit.AuthTrust(t, sim)
	return clk, cf, ca, crl
}

func newLane(t *testing.T) *lane {
	t.Helper()
	clk, cf, caDER, crlDER := trust(t)
	now := clk.Now()
	m := &manifest.Manifest{Event: "ev1", EventName: "Spring Live", IssuedAt: now, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour),
		CommitKey: bytes.Repeat([]byte{9}, 32), CardKey: bytes.Repeat([]byte{8}, 32), CodeKey: bytes.Repeat([]byte{7}, 32), CACerts: [][]byte{caDER}, CRLs: [][]byte{crlDER}}
	m.Tickets = []manifest.Ticket{{ID: "t1", Event: "ev1", Seat: "A-12", Status: "valid", Name: "山田　太郎",
		Holder: m.HolderOf(cf.Auth.Cert)}}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	g, err := gate.New(gate.Config{Manifest: m, GateID: "g1", Lane: "1", Key: key, Clock: clk, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	l := &lane{clk: clk, g: g, card: cf, board: staff.NewBoard(clk)}
	s, err := staff.New(staff.Config{Board: l.board, Title: "Spring Live · 1", Token: token, Clock: clk, Rand: rand.Reader,
		Counts: func() []staff.Count { return []staff.Count{{Label: "count.admitted", N: g.Admitted()}} }})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = httptest.NewServer(s)
	t.Cleanup(l.srv.Close)
	return l
}

// tap has the card answer a fresh challenge of the gate, reads its face photo as the lane does
// with --face, and publishes the decision.
func (l *lane) tap(t *testing.T) gate.Decision {
	t.Helper()
	ch, err := l.g.NewChallenge()
	if err != nil {
		t.Fatal(err)
	}
	tp, facts := gatetest.TapCardWithFacts(t, l.card, ch, true)
	d := l.g.Decide(gate.Presentation{Tap: tp})
	e := staff.FromDecision(d)
	e.Photo, e.PhotoType = staff.BrowserPhoto(context.Background(), facts.Photo)
	l.board.Publish(e)
	return d
}

func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Package staff serves the staff page of a gate lane or a kiosk for a tablet: the last decision
// in large type (ADMIT or REJECT, the reason in Japanese and English, the holder's name and seat
// when known, the face photo when the card-face application gave one), the counters, and, for a
// kiosk, its exports. The page moves on by itself through server-sent events (polling, then a
// plain refresh, without script), on the shared foundation web/ui (layout, catalogs, sealed
// session, CSRF, CSP without inline script).
//
// It is served by the lane's own process and never calls anything else: it works with the
// network down like the gate. Staff sign in with the lane token (printed at start or read from a
// file) so that a passer-by on the same network can neither watch names nor download exports;
// failed sign-ins are throttled.
//
// A Board is the feed between the deciding code and the page: Publish an Entry per decision.
package staff

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/web/ui"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed assets/staff.css
var staffCSS []byte

// keep is how many decisions the board remembers for the page (the journal keeps them all).
const keep = 64

// MaxPhoto bounds a face photo shown on the page.
const MaxPhoto = 2 << 20

// Entry is one decision shown on the page.
type Entry struct {
	Seq   int64     // set by Publish
	At    time.Time // set by Publish from the board's clock when zero
	Admit bool
	// Reason is the gate's or the kiosk's reason code ("already-entered", "not-on-roster"), or
	// for a kiosk admission its kind ("arrive", "leave"); the catalog has its words.
	Reason string
	Detail string
	Name   string
	Seat   string
	// AgeBand is the age band a kiosk derived from the date of birth.
	AgeBand string
	// Source says where the name and age came from (roster, card-support-ap, manifest).
	Source string
	// Photo is the face photo and PhotoType its media type (image/png, image/jpeg, image/jp2).
	Photo     []byte
	PhotoType string
}

// Board is the feed of decisions of one lane or kiosk. It is safe for concurrent use.
type Board struct {
	clk     clockwork.Clock
	mu      sync.Mutex
	seq     int64
	entries []Entry
	wake    chan struct{} // closed and replaced at every Publish
}

// NewBoard returns an empty board on clk.
func NewBoard(clk clockwork.Clock) *Board {
	return &Board{clk: clk, wake: make(chan struct{})}
}

// Publish adds e, numbering it, and wakes the pages waiting for news.
func (b *Board) Publish(e Entry) Entry {
	if len(e.Photo) > MaxPhoto {
		e.Photo, e.PhotoType = nil, ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.Seq = b.seq
	if e.At.IsZero() {
		e.At = b.clk.Now()
	}
	b.entries = append(b.entries, e)
	if len(b.entries) > keep {
		b.entries = append([]Entry(nil), b.entries[len(b.entries)-keep:]...)
	}
	close(b.wake)
	b.wake = make(chan struct{})
	return e
}

// Latest returns the newest entry's number (0 when none) and a channel closed at the next Publish.
func (b *Board) Latest() (int64, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq, b.wake
}

// Get returns entry seq while the board still remembers it.
func (b *Board) Get(seq int64) (Entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.entries {
		if e.Seq == seq {
			return e, true
		}
	}
	return Entry{}, false
}

// Recent returns up to n entries, newest first.
func (b *Board) Recent(n int) []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Entry
	for i := len(b.entries) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, b.entries[i])
	}
	return out
}

// Count is one counter on the page: a catalog key and its number.
type Count struct {
	Label string
	N     int
}

// Download is an export offered to signed-in staff (a kiosk's CSV files).
type Download struct {
	Path  string // e.g. /export/arrivals.csv
	Label string // catalog key
	Serve http.HandlerFunc
}

// Config makes a Server.
type Config struct {
	Board *Board
	// Title is the event's or the site's name, shown above the decision.
	Title string
	// Kiosk heads the page as a check-in kiosk rather than an entry lane.
	Kiosk bool
	// Token is the lane token staff type to sign in (at least 8 characters).
	Token string
	// Counts are read at every page view (admitted so far, present now, ...).
	Counts    func() []Count
	Downloads []Download
	Clock     clockwork.Clock
	Rand      io.Reader
}

// Server is the staff page's http.Handler.
type Server struct {
	c     Config
	u     *ui.UI
	pages ui.Pages
	mux   *http.ServeMux

	mu       sync.Mutex
	failures []time.Time // failed sign-ins in the last minute
}

// Sign-in throttle: at most maxFailures failed tokens a minute, for the whole lane.
const (
	maxFailures   = 5
	failureWindow = time.Minute
)

// New returns the staff page for c.
func New(c Config) (*Server, error) {
	if c.Board == nil || c.Clock == nil || c.Rand == nil {
		return nil, errors.New("staff: Config needs a board, a clock and a random source")
	}
	if len(c.Token) < 8 {
		return nil, errors.New("staff: the lane token must have at least 8 characters")
	}
	if c.Counts == nil {
		c.Counts = func() []Count { return nil }
	}
	// The session key is fresh per process: a restarted lane asks staff to sign in again.
	key := make([]byte, 32)
	if _, err := io.ReadFull(c.Rand, key); err != nil {
		return nil, fmt.Errorf("staff: session key: %w", err)
	}
	u, err := ui.New(ui.Config{Key: key, CookieName: "mynagate_staff", Brand: "mynagate gate", Messages: catalog, Clock: c.Clock, Rand: c.Rand})
	if err != nil {
		return nil, err
	}
	ps, err := u.Parse(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s := &Server{c: c, u: u, pages: ps, mux: http.NewServeMux()}
	s.routes()
	return s, nil
}

// ServeHTTP serves the page, its stream and its assets.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	p := http.NewServeMux()
	p.HandleFunc("GET /{$}", s.staff(s.home))
	p.HandleFunc("GET /d/{seq}", s.staff(s.decision))
	p.HandleFunc("GET /events", s.staff(s.events))
	p.HandleFunc("GET /status.json", s.staff(s.status))
	p.HandleFunc("GET /photo/{seq}", s.staff(s.photo))
	p.HandleFunc("GET /login", s.loginForm)
	p.HandleFunc("POST /login", s.login)
	p.HandleFunc("POST /logout", s.logout)
	for _, d := range s.c.Downloads {
		p.HandleFunc("GET "+d.Path, s.staff(d.Serve))
	}
	s.mux.Handle("GET /ui/static/", s.u.Assets())
	s.mux.HandleFunc("GET /staff.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(staffCSS)
	})
	s.mux.Handle("/", s.u.Protect(p))
}

// staff lets signed-in staff through and sends anyone else to the sign-in page (403 for the
// stream, the status and the exports, which a browser does not navigate to).
func (s *Server) staff(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ui.SessionOf(r).Get("staff") != "1" {
			if r.URL.Path == "/" || len(r.URL.Path) > 3 && r.URL.Path[:3] == "/d/" {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			s.u.Error(w, r, http.StatusForbidden, ui.M("staff.signin.needed"))
			return
		}
		h(w, r)
	}
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.u.Render(w, r, s.pages["login.html"], http.StatusOK, &ui.Page{Form: ui.NewForm(), Data: s.c.Title})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	f := ui.ParseForm(r)
	f.Required("token")
	f.MaxLen("token", 256)
	if f.OK() {
		switch {
		case s.throttled():
			f.Fail("token", "staff.signin.throttled")
		case !tokenEqual(f.Raw("token"), s.c.Token):
			s.fail()
			f.Fail("token", "staff.signin.wrong")
		}
	}
	if !f.OK() {
		f.Set("token", "") // never echo a secret back
		s.u.Render(w, r, s.pages["login.html"], http.StatusUnprocessableEntity, &ui.Page{Form: f, Data: s.c.Title})
		return
	}
	sess := ui.SessionOf(r)
	sess.Renew()
	sess.Set("staff", "1")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	ui.SessionOf(r).Clear()
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// tokenEqual compares the typed token with the lane's in constant time (over HMACs, so that
// the lengths do not leak either).
func tokenEqual(typed, want string) bool {
	k := []byte("mynagate staff token")
	a, b := hmac.New(sha256.New, k), hmac.New(sha256.New, k)
	a.Write([]byte(typed))
	b.Write([]byte(want))
	return subtle.ConstantTimeCompare(a.Sum(nil), b.Sum(nil)) == 1
}

func (s *Server) throttled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.c.Clock.Now()
	kept := s.failures[:0]
	for _, t := range s.failures {
		if now.Sub(t) < failureWindow {
			kept = append(kept, t)
		}
	}
	s.failures = kept
	return len(s.failures) >= maxFailures
}

func (s *Server) fail() {
	s.mu.Lock()
	s.failures = append(s.failures, s.c.Clock.Now())
	s.mu.Unlock()
}

// view is what the decision page shows.
type view struct {
	Title     string
	Heading   string // catalog key
	Entry     *Entry
	Verdict   string // ADMIT / REJECT / ARRIVE / LEAVE, the big word
	Class     string // admit or reject
	ReasonJA  string
	ReasonEN  string
	Counts    []Count
	Recent    []Entry
	Downloads []Download
	Latest    int64
	HasPhoto  bool
	JST       *time.Location
}

var jst = time.FixedZone("JST", 9*3600)

func (s *Server) render(w http.ResponseWriter, r *http.Request, e *Entry) {
	latest, _ := s.c.Board.Latest()
	v := view{Title: s.c.Title, Entry: e, Counts: s.c.Counts(), Recent: s.c.Board.Recent(8), Downloads: s.c.Downloads, Latest: latest, JST: jst, Heading: "staff.title"}
	if s.c.Kiosk {
		v.Heading = "staff.title.kiosk"
	}
	if e != nil {
		v.Latest = e.Seq
		v.Class, v.Verdict = "reject", "REJECT"
		if e.Admit {
			v.Class, v.Verdict = "admit", "ADMIT"
		}
		v.ReasonJA, v.ReasonEN = s.reason("ja", e.Reason), s.reason("en", e.Reason)
		v.HasPhoto = len(e.Photo) > 0
	}
	s.u.Render(w, r, s.pages["staff.html"], http.StatusOK, &ui.Page{Data: v, LogoutURL: "/logout", User: s.u.T(ui.LangOf(r), "staff.user")})
}

func (s *Server) reason(lang, code string) string {
	if code == "" {
		return ""
	}
	if key := "reason." + code; s.u.Has(lang, key) {
		return s.u.T(lang, key)
	}
	return code
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	latest, _ := s.c.Board.Latest()
	if e, ok := s.c.Board.Get(latest); ok {
		s.render(w, r, &e)
		return
	}
	s.render(w, r, nil)
}

func (s *Server) decision(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	e, ok := s.c.Board.Get(seq)
	if err != nil || !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, &e)
}

func (s *Server) photo(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	e, ok := s.c.Board.Get(seq)
	if err != nil || !ok || len(e.Photo) == 0 {
		s.u.Error(w, r, http.StatusNotFound, ui.M("staff.photo.none"))
		return
	}
	w.Header().Set("Content-Type", e.PhotoType)
	w.Write(e.Photo)
}

// after reads ?after=N, the newest decision the page shows.
func after(r *http.Request) int64 {
	n, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	return n
}

// events streams a "go" event to the newest decision's page as soon as there is one newer than
// ?after, then ends (the page it opens starts a new stream).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	st, err := ui.NewStream(w, r)
	if err != nil {
		return
	}
	since := after(r)
	ping := s.c.Clock.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		latest, wake := s.c.Board.Latest()
		if latest > since {
			st.Send("go", "/d/"+strconv.FormatInt(latest, 10))
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-wake:
		case <-ping.Chan():
			if st.Ping() != nil {
				return
			}
		}
	}
}

// status is the polling fallback: {"go": "/d/N"} when there is news.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	latest, _ := s.c.Board.Latest()
	out := map[string]any{"latest": latest}
	if latest > after(r) {
		out["go"] = "/d/" + strconv.FormatInt(latest, 10)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// Token draws a fresh lane token: 20 characters of base32 (100 bits), easy to type on a tablet.
func Token(r io.Reader) (string, error) {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b), nil
}

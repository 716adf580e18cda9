// Package pages is the platform's own web pages, on the foundation of package web/ui: the
// relying-party console (/console: API keys, webhook endpoints and deliveries, usage, recent
// verifications, evidence lookup with its verification), the holder's pages (/holder: sign in
// with the card, the companies that verified you and what each learned, consents with revoke),
// the operator's pages (/operator: tenants, health) and the landing page (/).
//
// It calls the platform only through its Go API (package platform, and the evidence log the
// platform holds); it has no SQL and holds no keys but the session key it is given. Console
// users sign in with an email and a password (argon2id, platform.ConsoleLogin); holders sign in
// with their card through an ordinary login session of the platform's own portal tenant, which
// the holder's app (or `mynagate reader verify`) answers, while the page waits on server-sent
// events with a polling fallback.
package pages

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/web/ui"
)

// CAHealth is the freshness of one CA's CRL, for the operator's health page.
type CAHealth struct {
	Name       string
	Number     string    // CRL number, "" before the first CRL
	ThisUpdate time.Time // zero before the first CRL
	NextUpdate time.Time
	FetchedAt  time.Time
	Fresh      bool
	Error      string // the last fetch error, if any
}

// Demo is what the landing page tells a newcomer in `mynagate demo`.
type Demo struct {
	Accounts []Account
	Cards    []DemoCard
	// ReaderCommand is the terminal command that stands in for the phone app, with HOLDER_URL
	// where the holder URL goes.
	ReaderCommand string
	// PINs says the demo cards' PINs.
	PINs string
	// Apps are the demo's relying-party applications (their own sites).
	Apps []App
}

// App is a relying-party application of the demo, on a site of its own.
type App struct {
	Name, URL string
}

// Account is a demo sign-in.
type Account struct {
	Role, Email, Password, URL string
}

// DemoCard is a demo holder's card.
type DemoCard struct {
	Holder, Path string
}

// Config configures the pages. Key is required.
type Config struct {
	// Key seals the pages' session cookies (32 bytes or more, derived from the master secret).
	Key []byte
	// Health reports the CRL freshness per CA (nil: the health page says it is unknown).
	Health func(ctx context.Context) []CAHealth
	// Demo, when set, fills the landing page with the demo's accounts and cards.
	Demo *Demo
	// Poll is how often server-sent event streams look for news (default 500 ms).
	Poll time.Duration
	// OIDC is the platform's OpenID provider, for the console's OpenID clients page (nil: the
	// page says there is none).
	OIDC *oidc.Provider
	// Clock drives sessions, sign-in throttling and streams (default real).
	Clock clockwork.Clock
}

// Pages serves the HTML pages.
type Pages struct {
	p      *platform.Platform
	cfg    Config
	u      *ui.UI
	tmpl   ui.Pages
	clk    clockwork.Clock
	limits *throttle
	portal struct {
		sync.Mutex
		t *platform.Tenant
	}
	// card is the console's own client of the OpenID provider (card.go), found or registered
	// on first use.
	card struct {
		sync.Mutex
		clientID string
		provider *gooidc.Provider
	}
}

// New returns the pages of a platform.
func New(p *platform.Platform, cfg Config) (*Pages, error) {
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	u, err := ui.New(ui.Config{Key: cfg.Key, Messages: messages, Clock: cfg.Clock, Funcs: funcs})
	if err != nil {
		return nil, err
	}
	t, err := u.Parse(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Pages{p: p, cfg: cfg, u: u, tmpl: t, clk: cfg.Clock, limits: newThrottle(cfg.Clock)}, nil
}

// Routes adds the pages to a mux (web.WithRoutes(pages.Routes)).
func (pg *Pages) Routes(m *http.ServeMux) {
	m.Handle("GET /ui/static/", pg.u.Assets())
	h := func(pattern string, f http.HandlerFunc) { m.Handle(pattern, pg.u.Protect(f)) }
	h("GET /{$}", pg.landing)
	pg.consoleRoutes(h)
	pg.oidcRoutes(h)
	pg.cardRoutes(h)
	pg.holderRoutes(h)
	pg.operatorRoutes(h)
	for _, prefix := range []string{"/console/", "/holder/", "/operator/"} {
		h(prefix, func(w http.ResponseWriter, r *http.Request) {
			pg.u.Error(w, r, http.StatusNotFound, ui.M("err.notfound"))
		})
	}
}

// render renders a page.
func (pg *Pages) render(w http.ResponseWriter, r *http.Request, name string, status int, p *ui.Page) {
	if p.Flash.IsZero() {
		if s := ui.SessionOf(r); s != nil {
			if f := s.Get("flash"); f != "" {
				p.Flash = ui.M(f)
				s.Set("flash", "")
			}
		}
	}
	pg.u.Render(w, r, pg.tmpl[name], status, p)
}

// redirect sends the browser to path (303) with a message for the next page.
func redirect(w http.ResponseWriter, r *http.Request, path, flash string) {
	if flash != "" {
		ui.SessionOf(r).Set("flash", flash)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// fail answers an unexpected error: logged in full, shown as a generic page.
func (pg *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *platform.Error
	if errors.As(err, &pe) && pe.Kind == platform.KindNotFound {
		pg.u.Error(w, r, http.StatusNotFound, ui.M("err.notfound"))
		return
	}
	slog.ErrorContext(r.Context(), "pages: request failed", "path", r.URL.Path, "err", err)
	pg.u.Error(w, r, http.StatusInternalServerError, ui.M("err.internal"))
}

// funcs are the template helpers.
var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.In(jst).Format("2006-01-02 15:04:05 JST")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "—"
			}
			return v.In(jst).Format("2006-01-02 15:04:05 JST")
		}
		return fmt.Sprint(t)
	},
	"join": strings.Join,
	"has":  func(list []platform.Fact, f platform.Fact) bool { return slices.Contains(list, f) },
	"str":  func(v any) string { return fmt.Sprint(v) },
	// factlist names facts in the page's language, comma-separated.
	"factlist": func(p *ui.Page, fs []platform.Fact) string {
		var out []string
		for _, f := range fs {
			out = append(out, p.T("fact."+string(f)))
		}
		return strings.Join(out, ", ")
	},
	"in":  func(list []string, s string) bool { return slices.Contains(list, s) },
	"hex": func(b [32]byte) string { return fmt.Sprintf("%x", b[:]) },
}

var jst = time.FixedZone("JST", 9*3600)

// throttle refuses sign-ins for an email after 5 failures within 15 minutes (per node, bounded).
type throttle struct {
	mu   sync.Mutex
	clk  clockwork.Clock
	fail map[string][]time.Time
}

func newThrottle(clk clockwork.Clock) *throttle {
	return &throttle{clk: clk, fail: map[string][]time.Time{}}
}

const (
	throttleMax    = 5
	throttleWindow = 15 * time.Minute
	throttleKeys   = 10000
)

func (t *throttle) recent(key string) []time.Time {
	now := t.clk.Now()
	var keep []time.Time
	for _, at := range t.fail[key] {
		if now.Sub(at) < throttleWindow {
			keep = append(keep, at)
		}
	}
	if len(keep) == 0 {
		delete(t.fail, key)
	} else {
		t.fail[key] = keep
	}
	return keep
}

// blocked reports whether key has used up its failures.
func (t *throttle) blocked(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.recent(key)) >= throttleMax
}

// failed records a failure.
func (t *throttle) failed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.fail) >= throttleKeys {
		// Bounded: forget everything rather than grow (an attacker spraying emails gains one
		// window's worth of tries, no more than waiting would give).
		t.fail = map[string][]time.Time{}
	}
	t.fail[key] = append(t.recent(key), t.clk.Now())
}

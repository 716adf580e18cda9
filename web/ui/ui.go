package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/text/language"
)

// CSP is the Content-Security-Policy every page gets unless Config.CSP replaces it: only this
// origin's scripts, styles and images (plus data: images for QR codes), no plugins, no <base>, no
// framing, forms posting only here.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// MaxForm bounds a form body under Protect.
const MaxForm = 64 << 10

// Config configures a UI. Key is required; every other field has a usable zero value.
type Config struct {
	// Key seals the session cookies (at least 32 bytes of secret; derive it from the
	// deployment's master secret). OldKeys still open cookies sealed before a rotation.
	Key     []byte
	OldKeys [][]byte
	// CookieName names the session cookie ("mynagate"); on https it gets the __Host- prefix.
	CookieName string
	// SessionTTL is a session's absolute lifetime (12 hours).
	SessionTTL time.Duration
	// Messages add to (or override) the built-in catalogs, per language ("ja", "en").
	Messages map[string]map[string]string
	// Brand is the name in the header ("mynagate").
	Brand string
	// Home is where the brand links to ("/").
	Home string
	// AssetPrefix is where Assets is mounted ("/ui/static/").
	AssetPrefix string
	// CSP replaces the default policy (e.g. an OpenID provider whose form posts redirect to a
	// relying party must widen form-action). Keep script-src 'self'.
	CSP string
	// TrustedOrigins may post cross-origin (scheme://host[:port]); normally none.
	TrustedOrigins []string
	// Funcs are extra template functions for the app's pages.
	Funcs template.FuncMap
	// Clock and Rand are injected for tests (real clock, crypto/rand).
	Clock clockwork.Clock
	Rand  io.Reader
}

// UI holds the layout, the catalogs and the session sealer shared by every page of an app.
type UI struct {
	cfg     Config
	sealer  *sealer
	cop     *http.CrossOriginProtection
	msgs    map[string]map[string]string
	matcher language.Matcher
}

// Languages are the supported languages, the first being the default.
var Languages = []string{"ja", "en"}

// New validates cfg and returns a UI.
func New(cfg Config) (*UI, error) {
	if cfg.CookieName == "" {
		cfg.CookieName = "mynagate"
	}
	if strings.ContainsAny(cfg.CookieName, " ;,=\t\r\n\"") {
		return nil, fmt.Errorf("ui: cookie name %q is not a token", cfg.CookieName)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Brand == "" {
		cfg.Brand = "mynagate"
	}
	if cfg.Home == "" {
		cfg.Home = "/"
	}
	if cfg.AssetPrefix == "" {
		cfg.AssetPrefix = "/ui/static/"
	}
	if !strings.HasPrefix(cfg.AssetPrefix, "/") || !strings.HasSuffix(cfg.AssetPrefix, "/") {
		return nil, fmt.Errorf("ui: asset prefix %q must start and end with /", cfg.AssetPrefix)
	}
	if cfg.CSP == "" {
		cfg.CSP = CSP
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	u := &UI{cfg: cfg, cop: http.NewCrossOriginProtection(), msgs: map[string]map[string]string{}}
	for _, o := range cfg.TrustedOrigins {
		if err := u.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("ui: trusted origin: %w", err)
		}
	}
	u.cop.SetDenyHandler(http.HandlerFunc(u.refuseCSRF))
	var err error
	if u.sealer, err = newSealer(cfg.Key, cfg.OldKeys, cfg.CookieName); err != nil {
		return nil, err
	}
	u.sealer.u = u
	var tags []language.Tag
	for _, l := range Languages {
		tags = append(tags, language.MustParse(l))
		u.msgs[l] = map[string]string{}
		for k, v := range builtin[l] {
			u.msgs[l][k] = v
		}
		for k, v := range cfg.Messages[l] {
			u.msgs[l][k] = v
		}
	}
	u.matcher = language.NewMatcher(tags)
	return u, nil
}

type ctxKey int

const (
	keyState ctxKey = iota
)

// state is what Protect learned about a request.
type state struct {
	lang    string
	session *Session
	secure  bool
}

func stateOf(r *http.Request) *state {
	st, _ := r.Context().Value(keyState).(*state)
	return st
}

// SessionOf returns the request's session under Protect (nil outside it).
func SessionOf(r *http.Request) *Session {
	if st := stateOf(r); st != nil {
		return st.session
	}
	return nil
}

// LangOf returns the language chosen for the request ("ja" or "en").
func LangOf(r *http.Request) string {
	if st := stateOf(r); st != nil {
		return st.lang
	}
	return Languages[0]
}

// SecureRequest reports whether cookies for r must be Secure: always, except for plain http to a
// loopback host (a developer's machine or `mynagate demo`), where the browser would drop them.
func SecureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip == nil || !ip.IsLoopback()
}

// SetHeaders writes the security headers every page gets.
func (u *UI) SetHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", u.cfg.CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// Protect wraps an app's page handler: security headers, language, session, CSRF. See the
// package doc.
func (u *UI) Protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.SetHeaders(w)
		st := &state{secure: SecureRequest(r)}
		st.lang = u.pickLang(r)
		if l := r.URL.Query().Get("lang"); l != "" && r.Method == http.MethodGet {
			// The language switch: remember the choice, then show the same page without the
			// parameter. Changing someone's language is harmless, so a link will do.
			if known(l) {
				http.SetCookie(w, &http.Cookie{Name: "lang", Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
					HttpOnly: true, Secure: st.secure, SameSite: http.SameSiteLaxMode})
			}
			q := r.URL.Query()
			q.Del("lang")
			target := r.URL.Path
			if len(q) > 0 {
				target += "?" + q.Encode()
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		s, ok := u.sealer.open(r, u.cfg.Clock.Now())
		if !ok {
			s = u.newSession()
		}
		st.session = s
		r = r.WithContext(context.WithValue(r.Context(), keyState, st))
		sw := &sessionWriter{ResponseWriter: w, u: u, r: r, st: st}
		if unsafeMethod(r.Method) {
			if err := u.cop.Check(r); err != nil {
				u.refuseCSRF(w, r)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, MaxForm)
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" {
				tok = r.PostFormValue("csrf")
			}
			if !ok || tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) != 1 {
				u.refuseCSRF(w, r)
				return
			}
		}
		next.ServeHTTP(sw, r)
		sw.flushCookie()
	})
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// refuseCSRF answers a cross-site or token-less unsafe request: 403 with a page saying what to do.
func (u *UI) refuseCSRF(w http.ResponseWriter, r *http.Request) {
	u.SetHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	lang := u.pickLang(r)
	p := &Page{u: u, lang: lang, path: r.URL.Path, Title: u.T(lang, "ui.csrf.title"), Flash: M("ui.csrf.detail"), FlashErr: true}
	if err := errorPage.ExecuteTemplate(w, "error", p); err != nil {
		io.WriteString(w, "forbidden\n")
	}
}

// pickLang: the switch's cookie, then Accept-Language, then Japanese.
func (u *UI) pickLang(r *http.Request) string {
	if c, err := r.Cookie("lang"); err == nil && known(c.Value) {
		return c.Value
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return Languages[0]
	}
	_, i, conf := u.matcher.Match(tags...)
	if conf == language.No {
		return Languages[0]
	}
	return Languages[i]
}

func known(l string) bool {
	for _, k := range Languages {
		if k == l {
			return true
		}
	}
	return false
}

// sessionWriter writes the session cookie before the first header goes out if the handler
// changed the session.
type sessionWriter struct {
	http.ResponseWriter
	u       *UI
	r       *http.Request
	st      *state
	written bool
}

func (w *sessionWriter) flushCookie() {
	if w.written {
		return
	}
	w.written = true
	s := w.st.session
	if !s.dirty {
		return
	}
	s.dirty = false
	http.SetCookie(w.ResponseWriter, w.u.sealer.cookie(s, w.st.secure, w.u.cfg.Clock.Now()))
}

func (w *sessionWriter) WriteHeader(code int) { w.flushCookie(); w.ResponseWriter.WriteHeader(code) }
func (w *sessionWriter) Write(b []byte) (int, error) {
	w.flushCookie()
	return w.ResponseWriter.Write(b)
}
func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
func (w *sessionWriter) Flush() {
	w.flushCookie()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

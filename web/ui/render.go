package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// layout is the pristine layout every app's pages are cloned from (html/template cannot clone a
// template once executed); errorPage is a copy for the error and refusal pages.
var layout, errorPage = parseLayout(), parseLayout()

func parseLayout() *template.Template {
	return template.Must(template.New("layout.html").ParseFS(templateFS, "templates/*.html"))
}

// assetVersion is a hash of the embedded assets, appended to their URLs so a new build is never
// served a stale cached file.
var assetVersion = func() string {
	h := sha256.New()
	fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := assetFS.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// Assets serves ui.css and ui.js (mount it at Config.AssetPrefix, e.g. "GET /ui/static/").
func (u *UI) Assets() http.Handler {
	sub, _ := fs.Sub(assetFS, "assets")
	fsrv := http.StripPrefix(strings.TrimSuffix(u.cfg.AssetPrefix, "/"), http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", u.cfg.CSP)
		if r.URL.Query().Get("v") == assetVersion {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		fsrv.ServeHTTP(w, r)
	})
}

// Pages are an app's parsed page templates by file name.
type Pages map[string]*template.Template

// Parse parses each file matching pattern in fsys as a page on the layout; the files matching
// shared (partials) are parsed into every page. A page defines "title" and "main".
func (u *UI) Parse(fsys fs.FS, pattern string, shared ...string) (Pages, error) {
	files, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("ui: no page matches %s", pattern)
	}
	out := Pages{}
	for _, f := range files {
		t, err := layout.Clone()
		if err != nil {
			return nil, err
		}
		if u.cfg.Funcs != nil {
			t = t.Funcs(u.cfg.Funcs)
		}
		if len(shared) > 0 {
			if t, err = t.ParseFS(fsys, shared...); err != nil {
				return nil, fmt.Errorf("ui: %s: %w", f, err)
			}
		}
		if t, err = t.ParseFS(fsys, f); err != nil {
			return nil, fmt.Errorf("ui: %s: %w", f, err)
		}
		out[path.Base(f)] = t
	}
	return out, nil
}

// Link is an entry of the navigation.
type Link struct {
	Href    string
	Label   string // catalog key
	Current bool
}

// Page is what a page template sees: the app's Data plus what the layout needs.
type Page struct {
	Title     string // shown when the page defines no "title"
	Nav       []Link
	User      string // who is signed in, shown in the header
	LogoutURL string // a POST form to sign out, when set
	Flash     Msg    // one message at the top of main (role=status)
	FlashErr  bool   // Flash is an error (role=alert)
	Form      *Form
	Data      any

	u    *UI
	lang string
	csrf string
	path string
	q    string
}

// T translates key into the page's language.
func (p *Page) T(key string, args ...any) string { return p.u.T(p.lang, key, args...) }

// Msg translates a Msg.
func (p *Page) Msg(m Msg) string { return p.u.T(p.lang, m.Key, m.Args...) }

// Lang is the page's language.
func (p *Page) Lang() string { return p.lang }

// CSRF is the session's token for forms.
func (p *Page) CSRF() string { return p.csrf }

// Brand and Home name and link the app in the header.
func (p *Page) Brand() string { return p.u.cfg.Brand }
func (p *Page) Home() string  { return p.u.cfg.Home }

// Asset is the URL of an embedded asset.
func (p *Page) Asset(name string) string { return p.u.cfg.AssetPrefix + name + "?v=" + assetVersion }

// LangLink is an entry of the language switch.
type LangLink struct {
	Lang, Label, Href string
	Current           bool
}

// LangLinks are the language switch's links: the current page with ?lang=.
func (p *Page) LangLinks() []LangLink {
	var out []LangLink
	for _, l := range Languages {
		href := p.path + "?lang=" + l
		if p.q != "" {
			href += "&" + p.q
		}
		out = append(out, LangLink{Lang: l, Label: p.u.T(l, "ui.lang."+l), Href: href, Current: l == p.lang})
	}
	return out
}

// Field describes one form control for the "field" template.
type Field struct {
	Name, ID, Label, Type, Value, Error, Hint, Autocomplete string
	Required                                                bool
	Options                                                 []Option
}

// Option is a choice of a select or radio field.
type Option struct {
	Value, Label string
	Selected     bool
}

// Field builds a field from the page's form: its value as typed (never for passwords) and its
// message. typ is an input type, "textarea", or "select" (options from Select).
func (p *Page) Field(name, labelKey, typ string) Field {
	f := Field{Name: name, ID: "f-" + name, Label: p.T(labelKey), Type: typ}
	if p.Form != nil {
		if typ != "password" {
			f.Value = p.Form.Values.Get(name)
		}
		if m, ok := p.Form.Errors[name]; ok {
			f.Error = p.Msg(m)
		}
	}
	return f
}

// Select builds a select field whose option labels are labelKey+"."+value in the catalog.
func (p *Page) Select(name, labelKey string, values ...string) Field {
	return p.Choices(name, labelKey, values)
}

// Choices is Select with the values in a slice (templates cannot spread one).
func (p *Page) Choices(name, labelKey string, values []string) Field {
	f := p.Field(name, labelKey, "select")
	for _, v := range values {
		l := v
		if p.u.Has(p.lang, labelKey+"."+v) || p.u.Has("en", labelKey+"."+v) {
			l = p.T(labelKey + "." + v)
		}
		f.Options = append(f.Options, Option{Value: v, Label: l, Selected: v == f.Value})
	}
	return f
}

// Req marks a field required.
func (f Field) Req() Field { f.Required = true; return f }

// Auto sets the autocomplete token.
func (f Field) Auto(token string) Field { f.Autocomplete = token; return f }

// WithHint adds a hint shown under the label (already translated text).
func (f Field) WithHint(h string) Field { f.Hint = h; return f }

// ErrorList is the form's error summary, translated.
func (p *Page) ErrorList() []struct{ ID, Text string } {
	if p.Form == nil {
		return nil
	}
	var out []struct{ ID, Text string }
	for _, fe := range p.Form.Failed() {
		id := "f-" + fe.Field
		if fe.Field == "" {
			id = ""
		}
		out = append(out, struct{ ID, Text string }{id, p.Msg(fe.Msg)})
	}
	return out
}

// Render executes a page with the request's language and CSRF token and writes it with status.
// It renders into a buffer first, so a template error yields a clean 500, never half a page.
func (u *UI) Render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, p *Page) {
	if p == nil {
		p = &Page{}
	}
	p.u, p.lang, p.path = u, LangOf(r), r.URL.Path
	q := r.URL.Query()
	q.Del("lang")
	p.q = q.Encode()
	if s := SessionOf(r); s != nil {
		p.csrf = s.CSRF()
	}
	var buf bytes.Buffer
	name := "layout"
	if t == nil {
		t, name = errorPage, "error"
	}
	if err := t.ExecuteTemplate(&buf, name, p); err != nil {
		slog.ErrorContext(r.Context(), "ui: render", "path", r.URL.Path, "err", err)
		u.Error(w, r, http.StatusInternalServerError, M("ui.error.title"))
		return
	}
	u.SetHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Error renders the layout's error page with status and a message.
func (u *UI) Error(w http.ResponseWriter, r *http.Request, status int, m Msg) {
	title := "ui.error.title"
	if status == http.StatusNotFound {
		title = "ui.notfound.title"
	}
	p := &Page{u: u, lang: LangOf(r), path: r.URL.Path, Title: u.T(LangOf(r), title), Flash: m, FlashErr: true}
	if s := SessionOf(r); s != nil {
		p.csrf = s.CSRF()
	}
	u.SetHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := errorPage.ExecuteTemplate(w, "error", p); err != nil {
		slog.ErrorContext(r.Context(), "ui: error page", "err", err)
	}
}

// Package pages is the ticketing service's HTML: pages for buyers (events, sign-up and sign-in,
// verification with the card, purchase, lottery applications and payment, my tickets with the
// live entry code, the official resale) and for organisers (their events, holders by name,
// reports and CSV, the draw), in Japanese and English, on the shared foundation web/ui (layout,
// catalogs, sealed sessions, CSRF, CSP). It calls package ticket's service; it holds no state.
package pages

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/ticket"
	"github.com/mynagate/mynagate/web/ui"
)

//go:embed templates/*.html
var templates embed.FS

// Pages serves the HTML.
type Pages struct {
	s     *ticket.Service
	u     *ui.UI
	pages ui.Pages
	mux   *http.ServeMux
}

// New returns the pages of s. The session cookies are sealed under the kdf.TicketPages key of
// secret (32 bytes or more), which differs from every other use of the same secret.
func New(s *ticket.Service, secret []byte) (*Pages, error) {
	k, err := kdf.New(secret)
	if err != nil {
		return nil, fmt.Errorf("ticket pages: %w", err)
	}
	u, err := ui.New(ui.Config{Key: k.Key(kdf.TicketPages), CookieName: "mynagate_ticket", Brand: "mynagate ticket", Messages: catalog})
	if err != nil {
		return nil, err
	}
	ps, err := u.Parse(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &Pages{s: s, u: u, pages: ps, mux: http.NewServeMux()}
	p.routes()
	return p, nil
}

// ServeHTTP serves the pages and their assets.
func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

func (p *Pages) routes() {
	prot := http.NewServeMux()
	prot.HandleFunc("GET /{$}", p.home)
	prot.HandleFunc("GET /events/{id}", p.event)
	prot.HandleFunc("GET /signup", p.signupForm)
	prot.HandleFunc("POST /signup", p.signup)
	prot.HandleFunc("GET /login", p.loginForm)
	prot.HandleFunc("POST /login", p.login)
	prot.HandleFunc("POST /logout", p.logout)
	prot.HandleFunc("POST /events/{id}/verify", p.buyer(p.startVerify))
	prot.HandleFunc("POST /verifications/{id}/complete", p.buyer(p.completeVerify))
	prot.HandleFunc("POST /events/{id}/purchase", p.buyer(p.purchase))
	prot.HandleFunc("POST /events/{id}/apply", p.buyer(p.apply))
	prot.HandleFunc("GET /tickets", p.buyer(p.tickets))
	prot.HandleFunc("GET /tickets/{id}/qr.png", p.buyer(p.qr))
	prot.HandleFunc("POST /tickets/{id}/list", p.buyer(p.list))
	prot.HandleFunc("POST /tickets/{id}/unlist", p.buyer(p.unlist))
	prot.HandleFunc("POST /resale/{id}/buy", p.buyer(p.buyResale))
	prot.HandleFunc("POST /applications/{id}/pay", p.buyer(p.pay))
	prot.HandleFunc("GET /organiser", p.organiserHome)
	prot.HandleFunc("POST /organiser/login", p.organiserLogin)
	prot.HandleFunc("GET /organiser/events/new", p.organiser(p.newEventForm))
	prot.HandleFunc("POST /organiser/events", p.organiser(p.createEvent))
	prot.HandleFunc("GET /organiser/events/{id}", p.organiser(p.organiserEvent))
	prot.HandleFunc("GET /organiser/events/{id}/report.csv", p.organiser(p.reportCSV))
	prot.HandleFunc("POST /organiser/events/{id}/draw", p.organiser(p.draw))
	p.mux.Handle("GET /ui/static/", p.u.Assets())
	p.mux.Handle("/", p.u.Protect(prot))
}

// page renders a page with the navigation of who is signed in.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, name string, status int, pg *ui.Page) {
	sess := ui.SessionOf(r)
	pg.Nav = []ui.Link{{Href: "/", Label: "tk.nav.events", Current: r.URL.Path == "/"}}
	if sess.Get("buyer") != "" {
		pg.Nav = append(pg.Nav, ui.Link{Href: "/tickets", Label: "tk.nav.tickets", Current: r.URL.Path == "/tickets"})
		pg.User, pg.LogoutURL = sess.Get("email"), "/logout"
	} else if sess.Get("organiser") != "" {
		pg.Nav = append(pg.Nav, ui.Link{Href: "/organiser", Label: "tk.nav.organiser", Current: r.URL.Path == "/organiser"})
		pg.User, pg.LogoutURL = sess.Get("orgname"), "/logout"
	} else {
		pg.Nav = append(pg.Nav, ui.Link{Href: "/login", Label: "tk.nav.login"}, ui.Link{Href: "/signup", Label: "tk.nav.signup"})
	}
	p.u.Render(w, r, p.pages[name], status, pg)
}

// fail shows a service error: its reason in the page's language when the catalog has it, else
// its detail.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *ticket.Error
	if !errors.As(err, &e) {
		p.u.Error(w, r, http.StatusInternalServerError, ui.M("ui.error.title"))
		return
	}
	status := map[ticket.Kind]int{ticket.KindInvalid: 400, ticket.KindUnauthorized: 401, ticket.KindNotFound: 404, ticket.KindConflict: 409,
		ticket.KindRefused: 422, ticket.KindUnavailable: 502, ticket.KindTooMany: 429}[e.Kind]
	if status == 0 {
		status = 400
	}
	key := "tk.err." + e.Reason
	if !p.u.Has(ui.LangOf(r), key) {
		key = "tk.err.detail"
	}
	p.u.Error(w, r, status, ui.M(key, e.Detail))
}

func (p *Pages) buyer(f func(http.ResponseWriter, *http.Request, *ticket.Account)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := p.s.Account(r.Context(), ui.SessionOf(r).Get("buyer"))
		if err != nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		f(w, r, a)
	}
}

func (p *Pages) organiser(f func(http.ResponseWriter, *http.Request, *ticket.Organiser)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o, err := p.s.Organiser(r.Context(), ui.SessionOf(r).Get("organiser"))
		if err != nil {
			http.Redirect(w, r, "/organiser", http.StatusSeeOther)
			return
		}
		f(w, r, o)
	}
}

func (p *Pages) home(w http.ResponseWriter, r *http.Request) {
	evs, err := p.s.Events(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, "home.html", 200, &ui.Page{Data: evs})
}

type eventData struct {
	Event    *ticket.Event
	SignedIn bool
	Listings []ticket.Listing
	Verify   *ticket.Verification
	// Key is a one-time idempotency key of the purchase form: a double submit buys once.
	Key string
}

func (p *Pages) event(w http.ResponseWriter, r *http.Request) {
	ev, err := p.s.Event(r.Context(), r.PathValue("id"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	ls, err := p.s.Listings(r.Context(), ev.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	k := make([]byte, 16)
	rand.Read(k)
	p.render(w, r, "event.html", 200, &ui.Page{Data: eventData{Event: ev, SignedIn: ui.SessionOf(r).Get("buyer") != "", Listings: ls, Key: hex.EncodeToString(k)}})
}

func (p *Pages) signupForm(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, "signup.html", 200, &ui.Page{Form: ui.NewForm()})
}

func (p *Pages) signup(w http.ResponseWriter, r *http.Request) {
	f := ui.ParseForm(r)
	f.Required("name", "email", "password")
	f.MaxLen("name", 200)
	f.MaxLen("email", 254)
	if f.OK() {
		if _, err := p.s.CreateAccount(r.Context(), f.Get("email"), f.Raw("password"), f.Get("name")); err != nil {
			switch ticket.ReasonOf(err) {
			case "email-taken":
				f.Fail("email", "tk.err.email-taken")
			case "invalid-email":
				f.Fail("email", "tk.err.invalid-email")
			case "invalid-password":
				f.Fail("password", "tk.err.invalid-password")
			default:
				p.fail(w, r, err)
				return
			}
		}
	}
	if !f.OK() {
		f.Set("password", "")
		p.render(w, r, "signup.html", http.StatusUnprocessableEntity, &ui.Page{Form: f})
		return
	}
	p.signIn(w, r, f)
}

func (p *Pages) loginForm(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, "login.html", 200, &ui.Page{Form: ui.NewForm()})
}

func (p *Pages) login(w http.ResponseWriter, r *http.Request) {
	f := ui.ParseForm(r)
	f.Required("email", "password")
	if !f.OK() {
		p.render(w, r, "login.html", http.StatusUnprocessableEntity, &ui.Page{Form: f})
		return
	}
	p.signIn(w, r, f)
}

func (p *Pages) signIn(w http.ResponseWriter, r *http.Request, f *ui.Form) {
	tok, err := p.s.Login(r.Context(), f.Get("email"), f.Raw("password"))
	if err != nil {
		key := "tk.err.bad-credentials"
		if ticket.ReasonOf(err) == "locked" {
			key = "tk.err.locked"
		}
		f.Fail("password", key)
		f.Set("password", "")
		p.render(w, r, "login.html", http.StatusUnprocessableEntity, &ui.Page{Form: f})
		return
	}
	s := ui.SessionOf(r)
	s.Renew()
	s.Clear()
	s.Set("buyer", tok)
	s.Set("email", f.Get("email"))
	http.Redirect(w, r, "/tickets", http.StatusSeeOther)
}

func (p *Pages) logout(w http.ResponseWriter, r *http.Request) {
	s := ui.SessionOf(r)
	s.Clear()
	s.Renew()
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *Pages) startVerify(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	f := ui.ParseForm(r)
	var v *ticket.Verification
	var err error
	if f.Get("card") == "1" {
		// Register the card for the gate: a login verification after the identity one.
		v, err = p.s.StartCardRegistration(r.Context(), a, r.PathValue("id"))
	} else {
		v, err = p.s.StartVerification(r.Context(), a, r.PathValue("id"), f.Get("companion") == "1")
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.showVerify(w, r, v)
}

func (p *Pages) completeVerify(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	v, err := p.s.CompleteVerification(r.Context(), a, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.showVerify(w, r, v)
}

// showVerify shows a verification of the signed-in buyer with its event.
func (p *Pages) showVerify(w http.ResponseWriter, r *http.Request, v *ticket.Verification) {
	ev, err := p.s.Event(r.Context(), v.EventID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, "verify.html", 200, &ui.Page{Data: eventData{Event: ev, SignedIn: true, Verify: v}})
}

func (p *Pages) purchase(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	f := ui.ParseForm(r)
	q, _ := strconv.Atoi(f.Get("quantity"))
	// The form's one-time key makes a double submit buy once.
	if _, err := p.s.Purchase(r.Context(), a, r.PathValue("id"), f.Get("seat_class"), q, f.Get("key")); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/tickets", http.StatusSeeOther)
}

func (p *Pages) apply(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	f := ui.ParseForm(r)
	n, _ := strconv.Atoi(f.Get("seats"))
	var comps []string
	if c := f.Get("companion"); c != "" {
		comps = []string{c}
	}
	if _, err := p.s.Apply(r.Context(), a, r.PathValue("id"), f.Get("seat_class"), n, comps); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/tickets", http.StatusSeeOther)
}

type ticketsData struct {
	Tickets      []ticket.Ticket
	Codes        map[string]string
	Applications []ticket.Application
}

func (p *Pages) tickets(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	ts, err := p.s.Tickets(r.Context(), a)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	apps, err := p.s.Applications(r.Context(), a)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	codes := map[string]string{}
	for _, t := range ts {
		if c, _, err := p.s.Code(r.Context(), a, t.ID); err == nil {
			codes[t.ID] = c
		}
	}
	p.render(w, r, "tickets.html", 200, &ui.Page{Data: ticketsData{Tickets: ts, Codes: codes, Applications: apps}})
}

func (p *Pages) qr(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	code, _, err := p.s.Code(r.Context(), a, r.PathValue("id"))
	if err != nil {
		http.Error(w, "no code", http.StatusNotFound)
		return
	}
	png, err := ticket.QRPNG(code)
	if err != nil {
		http.Error(w, "no code", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
}

func (p *Pages) list(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	if err := p.s.List(r.Context(), a, r.PathValue("id")); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/tickets", http.StatusSeeOther)
}

func (p *Pages) unlist(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	if err := p.s.Unlist(r.Context(), a, r.PathValue("id")); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/tickets", http.StatusSeeOther)
}

func (p *Pages) buyResale(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	if _, err := p.s.BuyResale(r.Context(), a, r.PathValue("id")); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/tickets", http.StatusSeeOther)
}

func (p *Pages) pay(w http.ResponseWriter, r *http.Request, a *ticket.Account) {
	if _, err := p.s.Pay(r.Context(), a, r.PathValue("id")); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/tickets", http.StatusSeeOther)
}

func (p *Pages) organiserHome(w http.ResponseWriter, r *http.Request) {
	o, err := p.s.Organiser(r.Context(), ui.SessionOf(r).Get("organiser"))
	if err != nil {
		p.render(w, r, "organiser_login.html", 200, &ui.Page{Form: ui.NewForm()})
		return
	}
	evs, err := p.s.OrganiserEvents(r.Context(), o)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, "organiser.html", 200, &ui.Page{Data: evs})
}

func (p *Pages) organiserLogin(w http.ResponseWriter, r *http.Request) {
	f := ui.ParseForm(r)
	f.Required("token")
	o, err := p.s.Organiser(r.Context(), f.Get("token"))
	if err != nil && f.OK() {
		f.Fail("token", "tk.err.unauthorized")
	}
	if !f.OK() {
		f.Set("token", "")
		p.render(w, r, "organiser_login.html", http.StatusUnprocessableEntity, &ui.Page{Form: f})
		return
	}
	s := ui.SessionOf(r)
	s.Renew()
	s.Clear()
	s.Set("organiser", f.Get("token"))
	s.Set("orgname", o.Name)
	http.Redirect(w, r, "/organiser", http.StatusSeeOther)
}

type orgEventData struct {
	Event   *ticket.Event
	Report  *ticket.Report
	Holders []ticket.Holder
	Drawn   *ticket.DrawResult
}

func (p *Pages) organiserEvent(w http.ResponseWriter, r *http.Request, o *ticket.Organiser) {
	p.showOrgEvent(w, r, o, nil)
}

func (p *Pages) showOrgEvent(w http.ResponseWriter, r *http.Request, o *ticket.Organiser, drawn *ticket.DrawResult) {
	id := r.PathValue("id")
	rep, err := p.s.Report(r.Context(), o, id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	hs, err := p.s.Holders(r.Context(), o, id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	ev, err := p.s.Event(r.Context(), id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, "organiser_event.html", 200, &ui.Page{Data: orgEventData{Event: ev, Report: rep, Holders: hs, Drawn: drawn}})
}

func (p *Pages) reportCSV(w http.ResponseWriter, r *http.Request, o *ticket.Organiser) {
	if _, err := p.s.Report(r.Context(), o, r.PathValue("id")); err != nil {
		p.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="report-%s.csv"`, r.PathValue("id")))
	p.s.WriteReportCSV(r.Context(), o, r.PathValue("id"), w)
}

func (p *Pages) draw(w http.ResponseWriter, r *http.Request, o *ticket.Organiser) {
	res, err := p.s.Draw(r.Context(), o, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.showOrgEvent(w, r, o, res)
}

func (p *Pages) newEventForm(w http.ResponseWriter, r *http.Request, o *ticket.Organiser) {
	f := ui.NewForm()
	f.Set("max_per_person", "2")
	f.Set("min_age", "0")
	f.Set("pay_hours", "72")
	f.Set("require_card", "no")
	p.render(w, r, "organiser_new.html", 200, &ui.Page{Form: f})
}

func (p *Pages) createEvent(w http.ResponseWriter, r *http.Request, o *ticket.Organiser) {
	f := ui.ParseForm(r)
	f.Required("name", "date", "max_per_person", "class", "price", "capacity")
	num := func(name string) int64 {
		v := f.Get(name)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			f.Fail(name, "form.invalid")
		}
		return n
	}
	req := ticket.EventRequest{Kind: f.Get("kind"), Name: f.Get("name"), Venue: f.Get("venue"), Date: f.Get("date"), Identity: ticket.Identity(f.Get("identity")),
		MinAge: int(num("min_age")), Residency: f.Get("residency"), MaxPerPerson: int(num("max_per_person")), Sale: f.Get("sale"),
		PayWindow: time.Duration(num("pay_hours")) * time.Hour,
		Classes:   []ticket.SeatClass{{Name: f.Get("class"), Price: num("price"), Capacity: num("capacity")}}}
	switch f.Get("require_card") {
	case "", "no":
	case "yes":
		req.RequireCard = true
	default:
		f.Fail("require_card", "form.invalid")
	}
	if v := f.Get("apply_closes"); v != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", v, jst)
		if err != nil {
			f.Fail("apply_closes", "form.invalid")
		}
		req.ApplyCloses = t
	}
	if f.OK() {
		ev, err := p.s.CreateEvent(r.Context(), o, req)
		if err == nil {
			http.Redirect(w, r, "/organiser/events/"+ev.ID, http.StatusSeeOther)
			return
		}
		var e *ticket.Error
		if !errors.As(err, &e) || e.Kind != ticket.KindInvalid {
			p.fail(w, r, err)
			return
		}
		f.Fail("name", "tk.err.detail", e.Detail)
	}
	p.render(w, r, "organiser_new.html", http.StatusUnprocessableEntity, &ui.Page{Form: f})
}

var jst = time.FixedZone("JST", 9*3600)

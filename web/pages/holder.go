package pages

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/web/ui"
	"github.com/skip2/go-qrcode"
)

// holderTTL bounds a holder's signed-in time on the pages.
const holderTTL = 30 * time.Minute

func (pg *Pages) holderRoutes(h func(string, http.HandlerFunc)) {
	h("GET /holder", pg.holder)
	h("POST /holder/signin", pg.holderStart)
	h("GET /holder/signin", pg.holderWait)
	h("GET /holder/signin/events", pg.holderEvents)
	h("GET /holder/signin/status", pg.holderStatus)
	h("GET /holder/signin/done", pg.holderDone)
	h("POST /holder/consents/revoke", pg.holderRevoke)
	h("POST /holder/logout", pg.holderLogout)
}

// portalTenant is the platform's own tenant for holder sign-ins (cached; it never changes).
func (pg *Pages) portalTenant(r *http.Request) (*platform.Tenant, error) {
	pg.portal.Lock()
	defer pg.portal.Unlock()
	if pg.portal.t != nil {
		return pg.portal.t, nil
	}
	t, err := pg.p.PortalTenant(r.Context())
	if err != nil {
		return nil, err
	}
	pg.portal.t = t
	return t, nil
}

// person returns the signed-in holder's person id, or "".
func (pg *Pages) person(r *http.Request) string {
	s := ui.SessionOf(r)
	until, _ := strconv.ParseInt(s.Get("person_until"), 10, 64)
	if s.Get("person") == "" || pg.clk.Now().Unix() >= until {
		return ""
	}
	return s.Get("person")
}

func holderPage(data any) *ui.Page {
	return &ui.Page{Nav: []ui.Link{{Href: "/holder", Label: "nav.holder", Current: true}}, Data: data}
}

func (pg *Pages) holder(w http.ResponseWriter, r *http.Request) {
	person := pg.person(r)
	if person == "" {
		pg.render(w, r, "holder_signin.html", http.StatusOK, holderPage(nil))
		return
	}
	cs, err := pg.p.PersonCompanies(r.Context(), person)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	p := holderPage(struct{ Companies []platform.CompanyRecord }{cs})
	p.User = pg.u.T(ui.LangOf(r), "holder.you")
	p.LogoutURL = "/holder/logout"
	pg.render(w, r, "holder.html", http.StatusOK, p)
}

// holderStart opens a login session of the portal tenant for this browser.
func (pg *Pages) holderStart(w http.ResponseWriter, r *http.Request) {
	portal, err := pg.portalTenant(r)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	s, _, err := pg.p.CreateSession(r.Context(), portal, platform.SessionRequest{Purpose: platform.PurposeLogin})
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	ui.SessionOf(r).Set("hsess", s.ID)
	http.Redirect(w, r, "/holder/signin", http.StatusSeeOther)
}

type waitData struct {
	HolderURL string
	QR        template.URL // data: URL of a PNG made here (html/template would refuse a data: string)
	Expires   time.Time
	Failed    bool
	Expired   bool
}

func (pg *Pages) holderWait(w http.ResponseWriter, r *http.Request) {
	id := ui.SessionOf(r).Get("hsess")
	if id == "" {
		http.Redirect(w, r, "/holder", http.StatusSeeOther)
		return
	}
	portal, err := pg.portalTenant(r)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	s, err := pg.p.Session(r.Context(), portal, id)
	if err != nil {
		ui.SessionOf(r).Set("hsess", "")
		http.Redirect(w, r, "/holder", http.StatusSeeOther)
		return
	}
	d := waitData{Expires: s.ExpiresAt}
	switch {
	case s.Status == platform.SessionVerified:
		http.Redirect(w, r, "/holder/signin/done", http.StatusSeeOther)
		return
	case s.Status == platform.SessionFailed:
		d.Failed = true
	case !pg.p.Now().Before(s.ExpiresAt):
		d.Expired = true
	default:
		d.HolderURL = pg.p.HolderURL(s)
		png, err := qrcode.Encode(d.HolderURL, qrcode.Medium, 256)
		if err != nil {
			pg.fail(w, r, err)
			return
		}
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	pg.render(w, r, "holder_wait.html", http.StatusOK, holderPage(d))
}

// signinState says whether the browser's pending sign-in has ended.
func (pg *Pages) signinState(r *http.Request) (done bool) {
	id := ui.SessionOf(r).Get("hsess")
	portal, err := pg.portalTenant(r)
	if id == "" || err != nil {
		return true
	}
	s, err := pg.p.Session(r.Context(), portal, id)
	return err != nil || s.Status != platform.SessionPending || !pg.p.Now().Before(s.ExpiresAt)
}

// holderEvents streams "go" to the done page when the card has answered (or the session ended).
func (pg *Pages) holderEvents(w http.ResponseWriter, r *http.Request) {
	pg.streamGo(w, r, "/holder/signin/done", func() bool { return pg.signinState(r) })
}

// streamGo streams "go" with target once done reports true, asking done again every poll
// interval, for at most ten minutes; a ping every 20 polls notices a browser that has left.
func (pg *Pages) streamGo(w http.ResponseWriter, r *http.Request, target string, done func() bool) {
	st, err := ui.NewStream(w, r)
	if err != nil {
		return
	}
	tick := pg.clk.NewTicker(pg.cfg.Poll)
	defer tick.Stop()
	deadline := pg.clk.After(10 * time.Minute)
	for i := 0; ; i++ {
		if done() {
			st.Send("go", target)
			return
		}
		if i%20 == 19 && st.Ping() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-deadline:
			return
		case <-tick.Chan():
		}
	}
}

// holderStatus is the polling fallback of holderEvents.
func (pg *Pages) holderStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	out := map[string]string{}
	if pg.signinState(r) {
		out["go"] = "/holder/signin/done"
	}
	json.NewEncoder(w).Encode(out)
}

func (pg *Pages) holderDone(w http.ResponseWriter, r *http.Request) {
	s := ui.SessionOf(r)
	id := s.Get("hsess")
	portal, err := pg.portalTenant(r)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	if id == "" {
		http.Redirect(w, r, "/holder", http.StatusSeeOther)
		return
	}
	person, status, err := pg.p.SignedInPerson(r.Context(), portal, id)
	var pe *platform.Error
	if errors.As(err, &pe) && pe.Kind == platform.KindNotFound {
		s.Set("hsess", "")
		http.Redirect(w, r, "/holder", http.StatusSeeOther)
		return
	}
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	if status == platform.SessionPending {
		http.Redirect(w, r, "/holder/signin", http.StatusSeeOther)
		return
	}
	if person == "" {
		s.Set("hsess", "")
		redirect(w, r, "/holder", "holder.failed")
		return
	}
	s.Clear() // a new session id and CSRF token at sign-in
	s.Set("person", person)
	s.Set("person_until", strconv.FormatInt(pg.clk.Now().Add(holderTTL).Unix(), 10))
	redirect(w, r, "/holder", "holder.signedin")
}

var tenantIDPattern = regexp.MustCompile(`^t_[0-9a-f]{16}$`)

func (pg *Pages) holderRevoke(w http.ResponseWriter, r *http.Request) {
	person := pg.person(r)
	if person == "" {
		redirect(w, r, "/holder", "holder.expired")
		return
	}
	f := ui.ParseForm(r)
	tenant, scope := f.Get("tenant"), f.Get("scope")
	if !tenantIDPattern.MatchString(tenant) || !slices.Contains(platform.ConsentScopes, scope) {
		pg.u.Error(w, r, http.StatusUnprocessableEntity, ui.M("form.invalid"))
		return
	}
	n, err := pg.p.RevokePersonConsent(r.Context(), person, tenant, scope)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	if n == 0 {
		redirect(w, r, "/holder", "holder.nothing")
		return
	}
	redirect(w, r, "/holder", "holder.revoked")
}

func (pg *Pages) holderLogout(w http.ResponseWriter, r *http.Request) {
	ui.SessionOf(r).Clear()
	redirect(w, r, "/holder", "holder.out")
}

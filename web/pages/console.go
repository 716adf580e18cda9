package pages

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/web/ui"
)

func (pg *Pages) consoleRoutes(h func(string, http.HandlerFunc)) {
	h("GET /console/login", pg.loginPage)
	h("POST /console/login", pg.login)
	h("POST /console/logout", pg.logout)
	h("GET /console", pg.staff(pg.overview))
	h("POST /console/settings", pg.staff(pg.settings))
	h("GET /console/keys", pg.staff(pg.keys))
	h("POST /console/keys", pg.staff(pg.createKey))
	h("POST /console/keys/{id}/revoke", pg.staff(pg.revokeKey))
	h("GET /console/webhooks", pg.staff(pg.webhooks))
	h("POST /console/webhooks", pg.staff(pg.createWebhook))
	h("GET /console/webhooks/{id}", pg.staff(pg.webhook))
	h("POST /console/webhooks/{id}/rotate", pg.staff(pg.rotateWebhook))
	h("POST /console/webhooks/{id}/redeliver", pg.staff(pg.redeliver))
	h("POST /console/webhooks/{id}/disable", pg.staff(pg.disableWebhook))
	h("GET /console/usage", pg.staff(pg.usage))
	h("GET /console/verifications", pg.staff(pg.verifications))
	h("GET /console/verifications/events", pg.staff(pg.verificationEvents))
	h("GET /console/evidence", pg.staff(pg.evidence))
	h("GET /console/evidence/{id}/bundle.json", pg.staff(pg.evidenceDownload))
}

// who is the signed-in console user of a request.
type who struct {
	user   *platform.ConsoleUser
	tenant *platform.Tenant // staff only
}

// user returns the signed-in console user, or nil.
func (pg *Pages) user(r *http.Request) *platform.ConsoleUser {
	id := ui.SessionOf(r).Get("user")
	if id == "" {
		return nil
	}
	u, err := pg.p.ConsoleUser(r.Context(), id)
	if err != nil {
		return nil
	}
	return u
}

// staff wraps a console handler: a signed-in staff user of a tenant, else the login page.
func (pg *Pages) staff(next func(http.ResponseWriter, *http.Request, *who)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := pg.user(r)
		if u == nil {
			target := "/console/login"
			if r.Method == http.MethodGet {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if u.Role != platform.RoleStaff {
			http.Redirect(w, r, "/operator", http.StatusSeeOther)
			return
		}
		t, err := pg.p.Tenant(r.Context(), u.TenantID)
		if err != nil {
			pg.fail(w, r, err)
			return
		}
		next(w, r, &who{user: u, tenant: t})
	}
}

// consolePage is a console page with its navigation.
func (pg *Pages) consolePage(r *http.Request, wh *who, current string, data any) *ui.Page {
	nav := []ui.Link{
		{Href: "/console", Label: "nav.overview"},
		{Href: "/console/keys", Label: "nav.keys"},
		{Href: "/console/webhooks", Label: "nav.webhooks"},
		{Href: "/console/verifications", Label: "nav.verifications"},
		{Href: "/console/evidence", Label: "nav.evidence"},
		{Href: "/console/usage", Label: "nav.usage"},
		{Href: "/console/oidc", Label: "nav.oidc"},
	}
	for i := range nav {
		nav[i].Current = nav[i].Href == current
	}
	return &ui.Page{Nav: nav, User: wh.user.Email + " (" + wh.tenant.Name + ")", LogoutURL: "/console/logout", Data: data}
}

// safeNext keeps a post-login target on this site's console or operator pages.
func safeNext(next string) string {
	if (strings.HasPrefix(next, "/console") || strings.HasPrefix(next, "/operator")) && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return ""
}

func (pg *Pages) loginPage(w http.ResponseWriter, r *http.Request) {
	if u := pg.user(r); u != nil {
		http.Redirect(w, r, home(u), http.StatusSeeOther)
		return
	}
	f := ui.NewForm()
	f.Set("next", safeNext(r.URL.Query().Get("next")))
	pg.render(w, r, "login.html", http.StatusOK, &ui.Page{Form: f})
}

func home(u *platform.ConsoleUser) string {
	if u.Role == platform.RoleOperator {
		return "/operator"
	}
	return "/console"
}

func (pg *Pages) login(w http.ResponseWriter, r *http.Request) {
	f := ui.ParseForm(r)
	f.Required("email", "password")
	f.MaxLen("email", 254)
	f.MaxLen("password", platform.MaxPasswordLen)
	email := strings.ToLower(f.Get("email"))
	if f.OK() && pg.limits.blocked(email) {
		f.Fail("password", "login.throttled")
	}
	var u *platform.ConsoleUser
	if f.OK() {
		var err error
		u, err = pg.p.ConsoleLogin(r.Context(), email, f.Raw("password"))
		var pe *platform.Error
		switch {
		case errors.As(err, &pe) && pe.Kind == platform.KindUnauthorized:
			pg.limits.failed(email)
			f.Fail("password", "login.bad")
		case err != nil:
			pg.fail(w, r, err)
			return
		}
	}
	if !f.OK() {
		pg.render(w, r, "login.html", http.StatusUnprocessableEntity, &ui.Page{Form: f})
		return
	}
	s := ui.SessionOf(r)
	s.Clear() // a new session id and CSRF token at every sign-in
	s.Set("user", u.ID)
	target := safeNext(f.Get("next"))
	if target == "" || (u.Role == platform.RoleOperator) != strings.HasPrefix(target, "/operator") {
		target = home(u)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (pg *Pages) logout(w http.ResponseWriter, r *http.Request) {
	ui.SessionOf(r).Clear()
	redirect(w, r, "/console/login", "login.out")
}

func (pg *Pages) overview(w http.ResponseWriter, r *http.Request, wh *who) {
	f := ui.NewForm()
	f.Set("revocation", string(wh.tenant.RevocationPolicy()))
	for _, x := range wh.tenant.Facts {
		f.Values.Add("facts", string(x))
	}
	pg.overviewPage(w, r, wh, http.StatusOK, f)
}

func (pg *Pages) overviewPage(w http.ResponseWriter, r *http.Request, wh *who, status int, f *ui.Form) {
	keys, err := pg.p.APIKeys(r.Context(), wh.tenant.ID)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	eps, err := pg.p.WebhookEndpoints(r.Context(), wh.tenant)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	active := 0
	for _, k := range keys {
		if k.RevokedAt == nil {
			active++
		}
	}
	var policies []string
	for _, p := range platform.RevocationPolicies {
		policies = append(policies, string(p))
	}
	data := struct {
		Tenant     *platform.Tenant
		AllFacts   []platform.Fact
		Policies   []string
		Keys, Eps  int
		CardLinked bool
	}{wh.tenant, platform.AllFacts, policies, active, len(eps), wh.user.CardSub != ""}
	p := pg.consolePage(r, wh, "/console", data)
	p.Form = f
	pg.render(w, r, "overview.html", status, p)
}

// settings changes the tenant's own settings: its revocation policy, and its fact allowance,
// which staff may only narrow (the operator widens it).
func (pg *Pages) settings(w http.ResponseWriter, r *http.Request, wh *who) {
	f := ui.ParseForm(r)
	f.Required("revocation")
	policy := platform.RevocationPolicy(f.Get("revocation"))
	if f.OK() && !policy.Valid() {
		f.Fail("revocation", "form.invalid")
	}
	set := []platform.TenantSetting{platform.WithRevocationPolicy(policy)}
	// facts-shown marks a form that showed the allowance: none ticked then means none wanted.
	if f.Get("facts-shown") == "1" {
		var facts []platform.Fact
		for _, x := range f.Values["facts"] {
			switch {
			case !slices.Contains(platform.AllFacts, platform.Fact(x)):
				f.Fail("facts", "form.invalid")
			case !slices.Contains(wh.tenant.Facts, platform.Fact(x)):
				f.Fail("facts", "settings.facts.widen")
			default:
				facts = append(facts, platform.Fact(x))
			}
		}
		set = append(set, platform.NarrowFacts(facts))
	}
	if !f.OK() {
		pg.overviewPage(w, r, wh, http.StatusUnprocessableEntity, f)
		return
	}
	var pe *platform.Error
	_, err := pg.p.UpdateTenant(r.Context(), wh.tenant.ID, set...)
	if errors.As(err, &pe) && pe.Kind == platform.KindForbidden {
		// The allowance narrowed elsewhere since this page was drawn.
		f.Fail("facts", "settings.facts.widen")
		pg.overviewPage(w, r, wh, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	redirect(w, r, "/console", "settings.saved")
}

type keysData struct {
	Keys   []platform.APIKey
	NewKey string
	NewID  string
}

func (pg *Pages) keysPage(w http.ResponseWriter, r *http.Request, wh *who, status int, f *ui.Form, newKey, newID string) {
	keys, err := pg.p.APIKeys(r.Context(), wh.tenant.ID)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	slices.Reverse(keys)
	p := pg.consolePage(r, wh, "/console/keys", keysData{Keys: keys, NewKey: newKey, NewID: newID})
	p.Form = f
	pg.render(w, r, "keys.html", status, p)
}

func (pg *Pages) keys(w http.ResponseWriter, r *http.Request, wh *who) {
	pg.keysPage(w, r, wh, http.StatusOK, ui.NewForm(), "", "")
}

func (pg *Pages) createKey(w http.ResponseWriter, r *http.Request, wh *who) {
	f := ui.ParseForm(r)
	f.Required("name")
	f.MaxLen("name", 100)
	if !f.OK() {
		pg.keysPage(w, r, wh, http.StatusUnprocessableEntity, f, "", "")
		return
	}
	key, k, err := pg.p.CreateAPIKey(r.Context(), wh.tenant.ID, f.Get("name"))
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	// The key is shown on this response only: it is stored hashed.
	pg.keysPage(w, r, wh, http.StatusOK, ui.NewForm(), key, k.ID)
}

func (pg *Pages) revokeKey(w http.ResponseWriter, r *http.Request, wh *who) {
	err := pg.p.RevokeTenantAPIKey(r.Context(), wh.tenant, r.PathValue("id"))
	var pe *platform.Error
	switch {
	case errors.As(err, &pe) && pe.Type == "already-revoked":
		redirect(w, r, "/console/keys", "keys.already")
	case err != nil:
		pg.fail(w, r, err)
	default:
		redirect(w, r, "/console/keys", "keys.revoked")
	}
}

type webhooksData struct {
	Endpoints  []platform.WebhookEndpoint
	EventTypes []string
	NewSecret  string
	NewID      string
}

func (pg *Pages) webhooksPage(w http.ResponseWriter, r *http.Request, wh *who, status int, f *ui.Form, secret, id string) {
	eps, err := pg.p.WebhookEndpoints(r.Context(), wh.tenant)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	p := pg.consolePage(r, wh, "/console/webhooks", webhooksData{Endpoints: eps, EventTypes: platform.EventTypes, NewSecret: secret, NewID: id})
	p.Form = f
	pg.render(w, r, "webhooks.html", status, p)
}

func (pg *Pages) webhooks(w http.ResponseWriter, r *http.Request, wh *who) {
	pg.webhooksPage(w, r, wh, http.StatusOK, ui.NewForm(), "", "")
}

func (pg *Pages) createWebhook(w http.ResponseWriter, r *http.Request, wh *who) {
	f := ui.ParseForm(r)
	f.Required("url")
	f.MaxLen("url", 2000)
	f.MaxLen("description", 200)
	raw := f.Get("url")
	if u, err := url.Parse(raw); raw != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		f.Fail("url", "webhooks.badurl")
	}
	var types []string
	for _, t := range f.Values["events"] {
		if !slices.Contains(platform.EventTypes, t) {
			f.Fail("events", "form.invalid")
		}
		types = append(types, t)
	}
	if f.OK() {
		ep, secret, err := pg.p.CreateWebhookEndpoint(r.Context(), wh.tenant, platform.WebhookEndpointRequest{URL: raw, Description: f.Get("description"), EventTypes: types})
		var pe *platform.Error
		if errors.As(err, &pe) && pe.Kind == platform.KindInvalid {
			f.Fail("url", "webhooks.refused", pe.Detail)
		} else if err != nil {
			pg.fail(w, r, err)
			return
		} else {
			pg.webhooksPage(w, r, wh, http.StatusOK, ui.NewForm(), secret, ep.ID)
			return
		}
	}
	pg.webhooksPage(w, r, wh, http.StatusUnprocessableEntity, f, "", "")
}

type webhookData struct {
	Endpoint   *platform.WebhookEndpoint
	Deliveries []platform.Delivery
	NewSecret  string
	Until      time.Time
}

func (pg *Pages) webhookPage(w http.ResponseWriter, r *http.Request, wh *who, status int, f *ui.Form, secret string, until time.Time) {
	ep, err := pg.p.WebhookEndpoint(r.Context(), wh.tenant, r.PathValue("id"))
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	ds, err := pg.p.Deliveries(r.Context(), wh.tenant, platform.DeliveryQuery{EndpointID: ep.ID, Limit: 50})
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	p := pg.consolePage(r, wh, "/console/webhooks", webhookData{Endpoint: ep, Deliveries: ds, NewSecret: secret, Until: until})
	p.Form = f
	pg.render(w, r, "webhook.html", status, p)
}

func (pg *Pages) webhook(w http.ResponseWriter, r *http.Request, wh *who) {
	f := ui.NewForm()
	f.Set("grace", "24")
	pg.webhookPage(w, r, wh, http.StatusOK, f, "", time.Time{})
}

func (pg *Pages) rotateWebhook(w http.ResponseWriter, r *http.Request, wh *who) {
	f := ui.ParseForm(r)
	f.Required("grace")
	hours, ok := atoiRange(f.Get("grace"), 0, int(platform.MaxRotationGrace/time.Hour))
	if f.Get("grace") != "" && !ok {
		f.Fail("grace", "webhooks.badgrace", int(platform.MaxRotationGrace/time.Hour))
	}
	if !f.OK() {
		pg.webhookPage(w, r, wh, http.StatusUnprocessableEntity, f, "", time.Time{})
		return
	}
	secret, until, err := pg.p.RotateWebhookSecret(r.Context(), wh.tenant, r.PathValue("id"), time.Duration(hours)*time.Hour)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	f = ui.NewForm()
	f.Set("grace", "24")
	pg.webhookPage(w, r, wh, http.StatusOK, f, secret, until)
}

var eventIDPattern = regexp.MustCompile(`^evt_[0-9a-f]{32}$`)

func (pg *Pages) redeliver(w http.ResponseWriter, r *http.Request, wh *who) {
	id := r.PathValue("id")
	f := ui.ParseForm(r)
	event := f.Get("event")
	var n int
	var err error
	if event == "" {
		n, err = pg.p.RedeliverDead(r.Context(), wh.tenant, id)
	} else if !eventIDPattern.MatchString(event) {
		pg.u.Error(w, r, http.StatusUnprocessableEntity, ui.M("form.invalid"))
		return
	} else {
		n, err = pg.p.RedeliverEvent(r.Context(), wh.tenant, event, id)
	}
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	if n == 0 {
		redirect(w, r, "/console/webhooks/"+id, "webhooks.nothing")
		return
	}
	redirect(w, r, "/console/webhooks/"+id, "webhooks.requeued")
}

func (pg *Pages) disableWebhook(w http.ResponseWriter, r *http.Request, wh *who) {
	id := r.PathValue("id")
	if err := pg.p.DisableWebhookEndpoint(r.Context(), wh.tenant, id); err != nil {
		var pe *platform.Error
		if errors.As(err, &pe) && pe.Kind == platform.KindConflict {
			redirect(w, r, "/console/webhooks/"+id, "webhooks.disabled")
			return
		}
		pg.fail(w, r, err)
		return
	}
	redirect(w, r, "/console/webhooks/"+id, "webhooks.disabled")
}

func (pg *Pages) usage(w http.ResponseWriter, r *http.Request, wh *who) {
	now := pg.p.Now().In(jst)
	first := time.Date(now.Year(), now.Month()-5, 1, 0, 0, 0, 0, jst)
	var months []string
	for i := 0; i < 6; i++ {
		months = append(months, first.AddDate(0, i, 0).Format("2006-01"))
	}
	us, _, _, err := pg.p.Usage(r.Context(), wh.tenant, months[0], months[5])
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	pg.render(w, r, "usage.html", http.StatusOK, pg.consolePage(r, wh, "/console/usage", buildChart(months, us)))
}

func (pg *Pages) verifications(w http.ResponseWriter, r *http.Request, wh *who) {
	vs, err := pg.p.RecentVerifications(r.Context(), wh.tenant, 50)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	latest := ""
	if len(vs) > 0 {
		latest = vs[0].ID
	}
	data := struct {
		Verifications []platform.Verification
		Latest        string
	}{vs, latest}
	pg.render(w, r, "verifications.html", http.StatusOK, pg.consolePage(r, wh, "/console/verifications", data))
}

// verificationEvents tells the verifications page to reload when a newer verification than
// ?since= exists.
func (pg *Pages) verificationEvents(w http.ResponseWriter, r *http.Request, wh *who) {
	since := r.URL.Query().Get("since")
	pg.streamGo(w, r, "/console/verifications", func() bool {
		vs, err := pg.p.RecentVerifications(r.Context(), wh.tenant, 1)
		return err == nil && len(vs) > 0 && vs[0].ID != since
	})
}

var verificationIDPattern = regexp.MustCompile(`^v_[0-9a-f]{32}$`)

type evidenceData struct {
	ID       string
	Verified *evidence.Verified
	Problem  string
	LogKey   string
}

func (pg *Pages) evidence(w http.ResponseWriter, r *http.Request, wh *who) {
	f := ui.NewForm()
	id := strings.TrimSpace(r.URL.Query().Get("id"))
	f.Set("id", id)
	l := pg.p.Evidence()
	data := evidenceData{ID: id}
	if l != nil {
		data.LogKey = l.PublicKey().String()
	}
	status := http.StatusOK
	switch {
	case !r.URL.Query().Has("id"):
	case id == "":
		f.Fail("id", "form.required")
	case len(id) > 100 || !verificationIDPattern.MatchString(id):
		f.Fail("id", "evidence.badid")
	case l == nil:
		f.Fail("id", "evidence.nolog")
	default:
		b, err := pg.p.EvidenceBundle(r.Context(), wh.tenant, id)
		switch {
		case errors.Is(err, evidence.ErrNotFound):
			f.Fail("id", "evidence.notfound")
		case errors.Is(err, evidence.ErrNotIntegrated):
			f.Fail("id", "evidence.pending")
		case err != nil:
			pg.fail(w, r, err)
			return
		default:
			raw, err := b.Marshal()
			if err != nil {
				pg.fail(w, r, err)
				return
			}
			// Verified as anyone holding the bundle and the log's public key would: the
			// checkpoint's signature, the inclusion proof, the leaf and the disclosed data.
			v, err := evidence.VerifyBundle(raw, l.PublicKey())
			if err != nil {
				data.Problem = err.Error()
			} else {
				data.Verified = v
			}
		}
	}
	if !f.OK() {
		status = http.StatusUnprocessableEntity
	}
	p := pg.consolePage(r, wh, "/console/evidence", data)
	p.Form = f
	pg.render(w, r, "evidence.html", status, p)
}

func (pg *Pages) evidenceDownload(w http.ResponseWriter, r *http.Request, wh *who) {
	id := r.PathValue("id")
	l := pg.p.Evidence()
	if l == nil || !verificationIDPattern.MatchString(id) {
		pg.u.Error(w, r, http.StatusNotFound, ui.M("err.notfound"))
		return
	}
	b, err := pg.p.EvidenceBundle(r.Context(), wh.tenant, id)
	if err != nil {
		pg.u.Error(w, r, http.StatusNotFound, ui.M("evidence.notfound"))
		return
	}
	raw, err := b.Marshal()
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.evidence.json"`)
	w.Write(raw)
}

// atoiRange parses a decimal integer in [lo, hi].
func atoiRange(s string, lo, hi int) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= lo && n <= hi
}

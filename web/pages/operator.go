package pages

import (
	"errors"
	"net/http"
	"slices"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/web/ui"
)

func (pg *Pages) operatorRoutes(h func(string, http.HandlerFunc)) {
	h("GET /operator", pg.operator(pg.tenants))
	h("POST /operator/tenants", pg.operator(pg.createTenant))
	h("GET /operator/health", pg.operator(pg.health))
	h("GET /operator/tenants/{id}", pg.operator(pg.tenantEdit))
	h("POST /operator/tenants/{id}", pg.operator(pg.updateTenant))
}

// operator wraps an operator handler: a signed-in operator, else the login page (staff get a
// 403 page).
func (pg *Pages) operator(next func(http.ResponseWriter, *http.Request, *platform.ConsoleUser)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := pg.user(r)
		if u == nil {
			target := "/console/login"
			if r.Method == http.MethodGet {
				target += "?next=" + r.URL.Path
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if u.Role != platform.RoleOperator {
			pg.u.Error(w, r, http.StatusForbidden, ui.M("err.operatoronly"))
			return
		}
		next(w, r, u)
	}
}

func operatorPage(u *platform.ConsoleUser, current string, data any) *ui.Page {
	nav := []ui.Link{{Href: "/operator", Label: "nav.tenants"}, {Href: "/operator/health", Label: "nav.health"}}
	for i := range nav {
		nav[i].Current = nav[i].Href == current
	}
	return &ui.Page{Nav: nav, User: u.Email, LogoutURL: "/console/logout", Data: data}
}

type tenantsData struct {
	Tenants  []platform.Tenant
	AllFacts []platform.Fact
	Portal   string
	Created  *platform.Tenant
}

func (pg *Pages) tenantsPage(w http.ResponseWriter, r *http.Request, u *platform.ConsoleUser, status int, f *ui.Form, created *platform.Tenant) {
	ts, err := pg.p.Tenants(r.Context())
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	portal, err := pg.portalTenant(r)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	p := operatorPage(u, "/operator", tenantsData{Tenants: ts, AllFacts: platform.AllFacts, Portal: portal.ID, Created: created})
	p.Form = f
	pg.render(w, r, "tenants.html", status, p)
}

func (pg *Pages) tenants(w http.ResponseWriter, r *http.Request, u *platform.ConsoleUser) {
	pg.tenantsPage(w, r, u, http.StatusOK, ui.NewForm(), nil)
}

func (pg *Pages) createTenant(w http.ResponseWriter, r *http.Request, u *platform.ConsoleUser) {
	f := ui.ParseForm(r)
	f.Required("name")
	f.MaxLen("name", 200)
	facts := formFacts(f)
	if !f.OK() {
		pg.tenantsPage(w, r, u, http.StatusUnprocessableEntity, f, nil)
		return
	}
	t, err := pg.p.CreateTenant(r.Context(), f.Get("name"), facts)
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	pg.tenantsPage(w, r, u, http.StatusOK, ui.NewForm(), t)
}

// formFacts reads the ticked facts of a form; an unknown one fails the field.
func formFacts(f *ui.Form) []platform.Fact {
	var facts []platform.Fact
	for _, x := range f.Values["facts"] {
		if !slices.Contains(platform.AllFacts, platform.Fact(x)) {
			f.Fail("facts", "form.invalid")
			continue
		}
		facts = append(facts, platform.Fact(x))
	}
	return facts
}

type tenantEditData struct {
	Tenant   *platform.Tenant
	AllFacts []platform.Fact
}

func (pg *Pages) tenantEditPage(w http.ResponseWriter, r *http.Request, u *platform.ConsoleUser, status int, f *ui.Form) {
	t, err := pg.p.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	p := operatorPage(u, "/operator", tenantEditData{Tenant: t, AllFacts: platform.AllFacts})
	p.Form = f
	pg.render(w, r, "tenant.html", status, p)
}

// tenantEdit shows a tenant's fact allowance for the operator to change.
func (pg *Pages) tenantEdit(w http.ResponseWriter, r *http.Request, u *platform.ConsoleUser) {
	f := ui.NewForm()
	if t, err := pg.p.Tenant(r.Context(), r.PathValue("id")); err == nil {
		for _, x := range t.Facts {
			f.Values.Add("facts", string(x))
		}
	}
	pg.tenantEditPage(w, r, u, http.StatusOK, f)
}

// updateTenant sets a tenant's fact allowance, wider or narrower (platform.WithFacts).
func (pg *Pages) updateTenant(w http.ResponseWriter, r *http.Request, u *platform.ConsoleUser) {
	f := ui.ParseForm(r)
	facts := formFacts(f)
	if !f.OK() {
		pg.tenantEditPage(w, r, u, http.StatusUnprocessableEntity, f)
		return
	}
	if _, err := pg.p.UpdateTenant(r.Context(), r.PathValue("id"), platform.WithFacts(facts)); err != nil {
		pg.fail(w, r, err)
		return
	}
	redirect(w, r, "/operator", "tenant.saved")
}

type healthData struct {
	CAs        []CAHealth
	CAsKnown   bool
	Log        *evidence.StoredCheckpoint
	LogOrigin  string
	LogKey     string
	LogErr     string
	Backlog    int
	BacklogDue string
}

func (pg *Pages) health(w http.ResponseWriter, r *http.Request, u *platform.ConsoleUser) {
	var d healthData
	if pg.cfg.Health != nil {
		d.CAs, d.CAsKnown = pg.cfg.Health(r.Context()), true
	}
	if l := pg.p.Evidence(); l != nil {
		d.LogOrigin, d.LogKey = l.Origin(), l.PublicKey().String()
		cp, err := l.Checkpoint(r.Context())
		switch {
		case errors.Is(err, evidence.ErrNotFound):
			d.LogErr = "health.nocheckpoint"
		case err != nil:
			pg.fail(w, r, err)
			return
		default:
			d.Log = cp
		}
	}
	n, oldest, err := pg.p.WebhookBacklog(r.Context())
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	d.Backlog = n
	if !oldest.IsZero() {
		d.BacklogDue = oldest.In(jst).Format("2006-01-02 15:04:05 JST")
	}
	pg.render(w, r, "health.html", http.StatusOK, operatorPage(u, "/operator/health", d))
}

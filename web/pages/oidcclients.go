package pages

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/web/ui"
)

// The console's OpenID clients: a tenant registers the applications that log their users in
// with their card through the platform's OpenID provider (package oidc, which owns the rules).

func (pg *Pages) oidcRoutes(h func(string, http.HandlerFunc)) {
	h("GET /console/oidc", pg.staff(pg.oidcClients))
	h("POST /console/oidc", pg.staff(pg.createOIDCClient))
	h("POST /console/oidc/{id}/delete", pg.staff(pg.deleteOIDCClient))
}

type oidcData struct {
	Available bool
	Issuer    string
	Clients   []oidc.Client
	New       *oidc.Client
	Secret    string
}

func (pg *Pages) oidcPage(w http.ResponseWriter, r *http.Request, wh *who, status int, f *ui.Form, created *oidc.Client, secret string) {
	d := oidcData{Available: pg.cfg.OIDC != nil, New: created, Secret: secret}
	if pg.cfg.OIDC != nil {
		cs, err := pg.cfg.OIDC.Clients(r.Context(), wh.tenant.ID)
		if err != nil {
			pg.fail(w, r, err)
			return
		}
		for _, c := range cs {
			if c.DeletedAt == nil {
				d.Clients = append(d.Clients, c)
			}
		}
		d.Issuer = pg.cfg.OIDC.Issuer()
	}
	p := pg.consolePage(r, wh, "/console/oidc", d)
	p.Form = f
	pg.render(w, r, "oidc.html", status, p)
}

func (pg *Pages) oidcClients(w http.ResponseWriter, r *http.Request, wh *who) {
	pg.oidcPage(w, r, wh, http.StatusOK, ui.NewForm(), nil, "")
}

func (pg *Pages) createOIDCClient(w http.ResponseWriter, r *http.Request, wh *who) {
	if pg.cfg.OIDC == nil {
		pg.u.Error(w, r, http.StatusNotFound, ui.M("err.notfound"))
		return
	}
	f := ui.ParseForm(r)
	f.Required("name", "redirects")
	f.MaxLen("name", 200)
	f.MaxLen("redirects", 10*2000)
	var redirects []string
	for _, l := range strings.Split(f.Get("redirects"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			redirects = append(redirects, l)
		}
	}
	for _, u := range redirects {
		if p, err := url.Parse(u); err != nil || !p.IsAbs() {
			f.Fail("redirects", "oidc.badredirect", u)
		}
	}
	if len(redirects) > 10 {
		f.Fail("redirects", "oidc.toomany")
	}
	if f.OK() {
		c, secret, err := pg.cfg.OIDC.CreateClient(r.Context(), wh.tenant.ID, oidc.ClientRequest{Name: f.Get("name"), RedirectURIs: redirects, Public: f.Get("public") == "yes"})
		var pe *platform.Error
		switch {
		case errors.As(err, &pe) && pe.Kind == platform.KindInvalid:
			f.Fail("redirects", "oidc.refused", pe.Detail)
		case err != nil:
			pg.fail(w, r, err)
			return
		default:
			// The secret is shown on this response only: it is stored hashed.
			pg.oidcPage(w, r, wh, http.StatusOK, ui.NewForm(), c, secret)
			return
		}
	}
	pg.oidcPage(w, r, wh, http.StatusUnprocessableEntity, f, nil, "")
}

var clientIDPattern = regexp.MustCompile(`^c_[0-9a-f]{1,64}$`)

func (pg *Pages) deleteOIDCClient(w http.ResponseWriter, r *http.Request, wh *who) {
	id := r.PathValue("id")
	if pg.cfg.OIDC == nil || !clientIDPattern.MatchString(id) {
		pg.u.Error(w, r, http.StatusNotFound, ui.M("err.notfound"))
		return
	}
	if err := pg.cfg.OIDC.DeleteClient(r.Context(), wh.tenant.ID, id); err != nil {
		pg.fail(w, r, err)
		return
	}
	redirect(w, r, "/console/oidc", "oidc.deleted")
}

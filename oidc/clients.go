package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mynagate/mynagate/platform"
)

func invalid(format string, a ...any) *platform.Error {
	return &platform.Error{Kind: platform.KindInvalid, Type: "invalid-request", Detail: fmt.Sprintf(format, a...)}
}

// checkRedirect admits an absolute https URL, or http on a loopback host (a developer's or
// the demo's relying party), without fragment or user info. Matching is exact, so what is
// registered is all that is ever used.
func checkRedirect(raw string) error {
	if raw == "" || len(raw) > 2000 {
		return invalid("redirect URI %q must be 1 to 2000 characters", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return invalid("redirect URI %q is not an absolute URL", raw)
	}
	if u.Fragment != "" || u.User != nil {
		return invalid("redirect URI %q has a fragment or user info", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return invalid("redirect URI %q: http is allowed on loopback only; use https", raw)
	}
	return invalid("redirect URI %q: the scheme must be https (or http on loopback)", raw)
}

// ClientRequest registers a client.
type ClientRequest struct {
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	LogoutURIs   []string `json:"post_logout_redirect_uris,omitempty"`
	// Public registers a client without a secret (a browser or native app): PKCE with S256 is
	// then required.
	Public bool `json:"public,omitempty"`
}

// CreateClient registers a client for a tenant. The secret (empty for a public client) is
// returned once; only its hash is stored.
func (pr *Provider) CreateClient(ctx context.Context, tenantID string, req ClientRequest) (*Client, string, error) {
	if _, err := pr.p.Tenant(ctx, tenantID); err != nil {
		return nil, "", err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return nil, "", invalid("the client name must be 1 to 200 characters")
	}
	if len(req.RedirectURIs) == 0 || len(req.RedirectURIs) > 10 || len(req.LogoutURIs) > 10 {
		return nil, "", invalid("a client has 1 to 10 redirect URIs and at most 10 post-logout redirect URIs")
	}
	for _, u := range append(append([]string{}, req.RedirectURIs...), req.LogoutURIs...) {
		if err := checkRedirect(u); err != nil {
			return nil, "", err
		}
	}
	id, err := pr.randomToken(8)
	if err != nil {
		return nil, "", err
	}
	c := Client{ID: "c_" + id, TenantID: tenantID, Name: name, Redirects: req.RedirectURIs, Logouts: req.LogoutURIs, CreatedAt: pr.clk.Now().UTC()}
	secret := ""
	if !req.Public {
		s, err := pr.randomToken(32)
		if err != nil {
			return nil, "", err
		}
		secret = "mgs_" + s
		c.SecretHash = hashBytes(secret)
	}
	if err := pr.st.CreateOIDCClient(ctx, c); err != nil {
		return nil, "", &platform.Error{Kind: platform.KindInternal, Type: "internal", Detail: "internal error", Err: err}
	}
	return &c, secret, nil
}

// Clients lists a tenant's clients.
func (pr *Provider) Clients(ctx context.Context, tenantID string) ([]Client, error) {
	if _, err := pr.p.Tenant(ctx, tenantID); err != nil {
		return nil, err
	}
	return pr.st.OIDCClients(ctx, tenantID)
}

// DeleteClient deletes a tenant's client; its tokens stop working at once.
func (pr *Provider) DeleteClient(ctx context.Context, tenantID, id string) error {
	err := pr.st.DeleteOIDCClient(ctx, tenantID, id, pr.clk.Now().UTC())
	if errors.Is(err, platform.ErrNotFound) {
		return &platform.Error{Kind: platform.KindNotFound, Type: "not-found", Detail: fmt.Sprintf("client %s does not exist", id)}
	}
	return err
}

// ClientView is a client as the API shows it.
type ClientView struct {
	ID           string   `json:"client_id"`
	Name         string   `json:"name"`
	Public       bool     `json:"public"`
	RedirectURIs []string `json:"redirect_uris"`
	LogoutURIs   []string `json:"post_logout_redirect_uris"`
	Secret       string   `json:"client_secret,omitempty"` // at creation only
	Issuer       string   `json:"issuer"`
}

func (pr *Provider) view(c *Client, secret string) ClientView {
	return ClientView{ID: c.ID, Name: c.Name, Public: c.Public(), RedirectURIs: c.Redirects, LogoutURIs: nonNil(c.Logouts), Secret: secret, Issuer: pr.cfg.Issuer}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// APIRoutes adds the client registration routes of the API to m, behind a tenant's API key:
// POST /v1/oidc/clients, GET /v1/oidc/clients, DELETE /v1/oidc/clients/{id}. auth (package
// web's) authenticates the key and turns a returned error into a problem document.
func (pr *Provider) APIRoutes(m *http.ServeMux, auth func(func(http.ResponseWriter, *http.Request, *platform.Tenant) error) http.HandlerFunc) {
	m.HandleFunc("POST /v1/oidc/clients", auth(func(w http.ResponseWriter, r *http.Request, t *platform.Tenant) error {
		var req ClientRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return &platform.Error{Kind: platform.KindTooLarge, Type: "body-too-large", Detail: fmt.Sprintf("request bodies are at most %d bytes", mbe.Limit)}
			}
			return invalid("body is not the expected JSON object: %v", err)
		}
		if dec.More() {
			return invalid("body has data after the JSON object")
		}
		c, secret, err := pr.CreateClient(r.Context(), t.ID, req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, pr.view(c, secret))
		return nil
	}))
	m.HandleFunc("GET /v1/oidc/clients", auth(func(w http.ResponseWriter, r *http.Request, t *platform.Tenant) error {
		cs, err := pr.Clients(r.Context(), t.ID)
		if err != nil {
			return err
		}
		out := []ClientView{}
		for i := range cs {
			out = append(out, pr.view(&cs[i], ""))
		}
		writeJSON(w, http.StatusOK, map[string]any{"clients": out})
		return nil
	}))
	m.HandleFunc("DELETE /v1/oidc/clients/{id}", auth(func(w http.ResponseWriter, r *http.Request, t *platform.Tenant) error {
		if err := pr.DeleteClient(r.Context(), t.ID, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Package ui is the HTML foundation of mynagate's pages: a base layout, Japanese and English
// message catalogs, cookie sessions, CSRF protection, a strict Content-Security-Policy, form
// helpers and server-sent events. The platform's console, holder and operator pages, the OpenID
// provider's login pages and the relying-party apps (ticket, gate) all build on it.
//
// It owns presentation and browser security only. It does NOT import platform or store, holds no
// domain state and no SQL, so a relying-party app that reaches the platform only through client/
// can use it too.
//
// # How an app uses it
//
//	u, err := ui.New(ui.Config{Key: secret32, Messages: myCatalog})   // once
//	pages, err := u.Parse(myTemplatesFS, "templates/*.html")          // one set per page file
//	mux.Handle("GET /ui/static/", u.Assets())                         // ui.css, ui.js
//	mux.Handle("/console/", u.Protect(consoleMux))                    // every page route
//
// Protect sets the security headers (CSP, nosniff, frame denial, no-store), picks the language
// (a "lang" cookie set by the switch in the header, else Accept-Language, else Japanese), loads or
// starts the sealed cookie session, and refuses every unsafe method (POST, PUT, PATCH, DELETE)
// that does not come from the same origin (Sec-Fetch-Site / Origin, net/http's
// CrossOriginProtection) or does not carry the session's CSRF token (synchronizer token, in the
// form field "csrf" or the header "X-CSRF-Token"). Inside a handler:
//
//	s := ui.SessionOf(r)             // never nil under Protect
//	f := ui.ParseForm(r)             // bounded body; values kept for re-display
//	if f.Required("email", "form.required"); !f.OK() {
//		u.Render(w, r, pages["login.html"], http.StatusUnprocessableEntity, &ui.Page{Form: f})
//		return
//	}
//	s.Renew(); s.Set("user", id)     // new id and CSRF token at login; cookie rewritten on write
//
// A page template defines "title" and "main" (and may define "head" and "nav") and renders fields
// with {{template "field" .Field "email" "label.email" "email"}}: a label, the value typed, and
// the message next to the field (aria-invalid, aria-describedby). Text comes from {{.T "key"}},
// looked up in the request's language; the CSRF input is {{template "csrf" .}}.
//
// Live updates use Stream (text/event-stream); ui.js opens an EventSource on any element with
// data-sse and falls back to polling data-poll when the stream fails. No inline script or style
// is ever needed: the CSP forbids both.
//
// # What is written here and why
//
// Sessions are sealed with AES-256-GCM from the standard library (key derived with HKDF from the
// caller's secret, cookie name as additional data), because a cookie needs nothing more and the
// gorilla toolkit is not among the modules this project depends on. CSRF uses net/http's
// CrossOriginProtection for the origin checks and adds a per-session synchronizer token for
// browsers and proxies that strip Sec-Fetch-Site and Origin. Language matching uses
// golang.org/x/text/language.
package ui

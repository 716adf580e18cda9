package ticket

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
)

// Handler is the service's HTTP API (JSON; errors as RFC 9457 problem+json):
//
//	POST /api/accounts                     {email, password, name}
//	POST /api/login                        {email, password} → {token}
//	GET  /api/events, /api/events/{id}
//	POST /api/events/{id}/verifications    {companion, card} → holder_url to answer with the card (buyer)
//	POST /api/verifications/{id}/complete  (buyer)
//	POST /api/events/{id}/purchase         {seat_class, quantity}; Idempotency-Key (buyer)
//	GET  /api/tickets                      (buyer)
//	POST /api/organiser/events             (organiser)
//	GET  /api/organiser/events/{id}/holders names and seats only (organiser)
//
// Buyers send "Authorization: Bearer tkb_…", organisers "Bearer tko_…".
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/accounts", s.hCreateAccount)
	mux.HandleFunc("POST /api/login", s.hLogin)
	mux.HandleFunc("GET /api/events", s.hEvents)
	mux.HandleFunc("GET /api/events/{id}", s.hEvent)
	mux.HandleFunc("POST /api/events/{id}/verifications", s.buyer(s.hStartVerification))
	mux.HandleFunc("POST /api/verifications/{id}/complete", s.buyer(s.hCompleteVerification))
	mux.HandleFunc("POST /api/events/{id}/purchase", s.buyer(s.hPurchase))
	mux.HandleFunc("GET /api/tickets", s.buyer(s.hTickets))
	mux.HandleFunc("POST /api/organiser/events", s.organiser(s.hCreateEvent))
	mux.HandleFunc("GET /api/organiser/events/{id}/holders", s.organiser(s.hHolders))
	s.routes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.db.Ping(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

// maxBody bounds every request body.
const maxBody = 64 << 10

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		slog.ErrorContext(r.Context(), "ticket: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Kind: 0, Reason: "internal", Detail: "internal error"}
	}
	status := map[Kind]int{KindInvalid: 400, KindUnauthorized: 401, KindForbidden: 403, KindNotFound: 404, KindConflict: 409,
		KindRefused: 422, KindUnavailable: 502, KindTooMany: 429}[e.Kind]
	if status == 0 {
		status = 500
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "https://mynagate.example/problems/ticket/" + e.Reason, "title": e.Reason, "status": status, "detail": e.Detail})
}

// decode reads a JSON body strictly: application/json, bounded, no unknown fields, one value.
func decode(r *http.Request, v any) error { return decodeN(r, v, maxBody) }

// decodeN is decode with a body limit of n bytes.
func decodeN(r *http.Request, v any, n int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return errf(KindInvalid, "invalid-request", "the body must be application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, n))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errf(KindInvalid, "invalid-request", "malformed JSON body: %v", err)
	}
	if dec.More() {
		return errf(KindInvalid, "invalid-request", "the body holds more than one JSON value")
	}
	return nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (s *Service) buyer(f func(http.ResponseWriter, *http.Request, *Account)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.Account(r.Context(), bearer(r))
		if err != nil {
			writeErr(w, r, err)
			return
		}
		f(w, r, a)
	}
}

func (s *Service) organiser(f func(http.ResponseWriter, *http.Request, *Organiser)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o, err := s.Organiser(r.Context(), bearer(r))
		if err != nil {
			writeErr(w, r, err)
			return
		}
		f(w, r, o)
	}
}

func (s *Service) hCreateAccount(w http.ResponseWriter, r *http.Request) {
	var in struct{ Email, Password, Name string }
	if err := decode(r, &in); err != nil {
		writeErr(w, r, err)
		return
	}
	a, err := s.CreateAccount(r.Context(), in.Email, in.Password, in.Name)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 201, a)
}

func (s *Service) hLogin(w http.ResponseWriter, r *http.Request) {
	var in struct{ Email, Password string }
	if err := decode(r, &in); err != nil {
		writeErr(w, r, err)
		return
	}
	tok, err := s.Login(r.Context(), in.Email, in.Password)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]string{"token": tok})
}

func (s *Service) hEvents(w http.ResponseWriter, r *http.Request) {
	evs, err := s.Events(r.Context())
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"events": evs})
}

func (s *Service) hEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := s.Event(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, ev)
}

func (s *Service) hStartVerification(w http.ResponseWriter, r *http.Request, a *Account) {
	var in struct {
		Companion bool `json:"companion"`
		// Card registers the card of the account's person for the gate (a login verification
		// on an identity-grade event).
		Card bool `json:"card"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			writeErr(w, r, err)
			return
		}
	}
	var v *Verification
	var err error
	switch {
	case in.Card && in.Companion:
		err = errf(KindInvalid, "invalid-request", "a card is registered by its own holder, not for a companion")
	case in.Card:
		v, err = s.StartCardRegistration(r.Context(), a, r.PathValue("id"))
	default:
		v, err = s.StartVerification(r.Context(), a, r.PathValue("id"), in.Companion)
	}
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 201, v)
}

func (s *Service) hCompleteVerification(w http.ResponseWriter, r *http.Request, a *Account) {
	v, err := s.CompleteVerification(r.Context(), a, r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, v)
}

func (s *Service) hPurchase(w http.ResponseWriter, r *http.Request, a *Account) {
	var in struct {
		SeatClass string `json:"seat_class"`
		Quantity  int    `json:"quantity"`
	}
	if err := decode(r, &in); err != nil {
		writeErr(w, r, err)
		return
	}
	ts, err := s.Purchase(r.Context(), a, r.PathValue("id"), in.SeatClass, in.Quantity, r.Header.Get("Idempotency-Key"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"tickets": ts})
}

func (s *Service) hTickets(w http.ResponseWriter, r *http.Request, a *Account) {
	ts, err := s.Tickets(r.Context(), a)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"tickets": ts})
}

func (s *Service) hCreateEvent(w http.ResponseWriter, r *http.Request, o *Organiser) {
	var in EventRequest
	if err := decode(r, &in); err != nil {
		writeErr(w, r, err)
		return
	}
	ev, err := s.CreateEvent(r.Context(), o, in)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 201, ev)
}

func (s *Service) hHolders(w http.ResponseWriter, r *http.Request, o *Organiser) {
	hs, err := s.Holders(r.Context(), o, r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"holders": hs})
}

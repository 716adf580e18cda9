package ticket

import (
	"net/http"
	"strconv"
)

// routes adds the lottery, code, resale, webhook and report routes:
//
//	POST /api/events/{id}/applications          {seat_class, seats, companions: [verification ids]} (buyer)
//	GET  /api/applications                      (buyer)
//	POST /api/applications/{id}/pay             (buyer)
//	GET  /api/events/{id}/draws/{round}         the published draw: commitment, then everything to re-run it
//	POST /api/organiser/events/{id}/draw        (organiser)
func (s *Service) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/events/{id}/applications", s.buyer(s.hApply))
	mux.HandleFunc("GET /api/applications", s.buyer(s.hApplications))
	mux.HandleFunc("POST /api/applications/{id}/pay", s.buyer(s.hPay))
	mux.HandleFunc("GET /api/events/{id}/draws/{round}", s.hDrawDocument)
	mux.HandleFunc("POST /api/organiser/events/{id}/draw", s.organiser(s.hDraw))
	s.moreRoutes(mux)
}

func (s *Service) hApply(w http.ResponseWriter, r *http.Request, a *Account) {
	var in struct {
		SeatClass  string   `json:"seat_class"`
		Seats      int      `json:"seats"`
		Companions []string `json:"companions"`
	}
	if err := decode(r, &in); err != nil {
		writeErr(w, r, err)
		return
	}
	app, err := s.Apply(r.Context(), a, r.PathValue("id"), in.SeatClass, in.Seats, in.Companions)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 201, app)
}

func (s *Service) hApplications(w http.ResponseWriter, r *http.Request, a *Account) {
	apps, err := s.Applications(r.Context(), a)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"applications": apps})
}

func (s *Service) hPay(w http.ResponseWriter, r *http.Request, a *Account) {
	ts, err := s.Pay(r.Context(), a, r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"tickets": ts})
}

func (s *Service) hDrawDocument(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("round"))
	if err != nil || n < 1 || n > 100 {
		writeErr(w, r, errf(KindInvalid, "invalid-request", "round must be a positive number"))
		return
	}
	d, err := s.DrawDocument(r.Context(), r.PathValue("id"), n)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, d)
}

func (s *Service) hDraw(w http.ResponseWriter, r *http.Request, o *Organiser) {
	res, err := s.Draw(r.Context(), o, r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, res)
}

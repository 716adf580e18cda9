package ticket

import (
	"net/http"
	"time"

	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/skip2/go-qrcode"
)

// moreRoutes adds the routes of codes, resale, the gate, vouchers, reports and webhooks:
//
//	GET    /api/tickets/{id}/code               the current rotating code (buyer)
//	GET    /api/tickets/{id}/qr.png             the same as a QR code (buyer)
//	POST   /api/tickets/{id}/resale             list on the official resale (buyer)
//	DELETE /api/tickets/{id}/resale             take it off (buyer)
//	GET    /api/events/{id}/resale              listings, at face value
//	POST   /api/resale/{ticket}/buy             (buyer)
//	POST   /api/organiser/events/{id}/check     {code, admit} the gate (organiser)
//	POST   /api/organiser/vouchers/redeem       {code} (organiser)
//	PUT    /api/organiser/events/{id}/gates/{gate} {public_key} register a gate's Ed25519 key (organiser)
//	GET    /api/organiser/events/{id}/gate-manifest the signed offline manifest (organiser)
//	POST   /api/organiser/events/{id}/gate-sync {records} gates' signed admissions (organiser)
//	GET    /api/organiser/events/{id}/report    JSON; report.csv as CSV (organiser)
//	POST   /webhooks/platform                   the platform's signed webhooks
func (s *Service) moreRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/tickets/{id}/code", s.buyer(s.hCode))
	mux.HandleFunc("GET /api/tickets/{id}/qr.png", s.buyer(s.hQR))
	mux.HandleFunc("POST /api/tickets/{id}/resale", s.buyer(func(w http.ResponseWriter, r *http.Request, a *Account) {
		if err := s.List(r.Context(), a, r.PathValue("id")); err != nil {
			writeErr(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("DELETE /api/tickets/{id}/resale", s.buyer(func(w http.ResponseWriter, r *http.Request, a *Account) {
		if err := s.Unlist(r.Context(), a, r.PathValue("id")); err != nil {
			writeErr(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /api/events/{id}/resale", func(w http.ResponseWriter, r *http.Request) {
		ls, err := s.Listings(r.Context(), r.PathValue("id"))
		if err != nil {
			writeErr(w, r, err)
			return
		}
		writeJSON(w, 200, map[string]any{"listings": ls})
	})
	mux.HandleFunc("POST /api/resale/{ticket}/buy", s.buyer(func(w http.ResponseWriter, r *http.Request, a *Account) {
		t, err := s.BuyResale(r.Context(), a, r.PathValue("ticket"))
		if err != nil {
			writeErr(w, r, err)
			return
		}
		writeJSON(w, 200, t)
	}))
	mux.HandleFunc("POST /api/organiser/events/{id}/check", s.organiser(func(w http.ResponseWriter, r *http.Request, o *Organiser) {
		var in struct {
			Code  string `json:"code"`
			Admit bool   `json:"admit"`
		}
		if err := decode(r, &in); err != nil {
			writeErr(w, r, err)
			return
		}
		a, err := s.Check(r.Context(), o, r.PathValue("id"), in.Code, in.Admit)
		if err != nil {
			writeErr(w, r, err)
			return
		}
		writeJSON(w, 200, a)
	}))
	mux.HandleFunc("POST /api/organiser/vouchers/redeem", s.organiser(func(w http.ResponseWriter, r *http.Request, o *Organiser) {
		var in struct {
			Code string `json:"code"`
		}
		if err := decode(r, &in); err != nil {
			writeErr(w, r, err)
			return
		}
		t, err := s.Redeem(r.Context(), o, in.Code)
		if err != nil {
			writeErr(w, r, err)
			return
		}
		writeJSON(w, 200, t)
	}))
	mux.HandleFunc("GET /api/organiser/events/{id}/report", s.organiser(func(w http.ResponseWriter, r *http.Request, o *Organiser) {
		rep, err := s.Report(r.Context(), o, r.PathValue("id"))
		if err != nil {
			writeErr(w, r, err)
			return
		}
		writeJSON(w, 200, rep)
	}))
	mux.HandleFunc("GET /api/organiser/events/{id}/report.csv", s.organiser(func(w http.ResponseWriter, r *http.Request, o *Organiser) {
		if _, err := s.ownEvent(r.Context(), o, r.PathValue("id")); err != nil {
			writeErr(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="report.csv"`)
		if err := s.WriteReportCSV(r.Context(), o, r.PathValue("id"), w); err != nil {
			writeErr(w, r, err)
		}
	}))
	mux.HandleFunc("PUT /api/organiser/events/{id}/gates/{gate}", s.organiser(func(w http.ResponseWriter, r *http.Request, o *Organiser) {
		var in struct {
			PublicKey []byte `json:"public_key"`
		}
		if err := decode(r, &in); err != nil {
			writeErr(w, r, err)
			return
		}
		if err := s.RegisterGate(r.Context(), o, r.PathValue("id"), r.PathValue("gate"), in.PublicKey); err != nil {
			writeErr(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /api/organiser/events/{id}/gate-manifest", s.organiser(func(w http.ResponseWriter, r *http.Request, o *Organiser) {
		env, err := s.GateManifest(r.Context(), o, r.PathValue("id"))
		if err != nil {
			writeErr(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(env)
	}))
	mux.HandleFunc("POST /api/organiser/events/{id}/gate-sync", s.organiser(func(w http.ResponseWriter, r *http.Request, o *Organiser) {
		var in struct {
			Records []manifest.SignedRecord `json:"records"`
		}
		if err := decodeN(r, &in, maxSyncBody); err != nil {
			writeErr(w, r, err)
			return
		}
		rep, err := s.GateSync(r.Context(), o, r.PathValue("id"), in.Records)
		if err != nil {
			writeErr(w, r, err)
			return
		}
		writeJSON(w, 200, rep)
	}))
	mux.HandleFunc("POST /webhooks/platform", s.hWebhook)
}

func (s *Service) hCode(w http.ResponseWriter, r *http.Request, a *Account) {
	code, until, err := s.Code(r.Context(), a, r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"code": code, "valid_until": until.UTC().Format(time.RFC3339)})
}

func (s *Service) hQR(w http.ResponseWriter, r *http.Request, a *Account) {
	code, _, err := s.Code(r.Context(), a, r.PathValue("id"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	png, err := QRPNG(code)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

// QRPNG renders a code as a QR code image (PNG).
func QRPNG(code string) ([]byte, error) { return qrcode.Encode(code, qrcode.Medium, 256) }

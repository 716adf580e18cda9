package jlis

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// HandlerOption configures the HTTP handler.
type HandlerOption func(*handler)

// WithPlatformToken requires "Authorization: Bearer TOKEN" on the endpoints that only licensed
// platforms may use (status, renewal links, latest basic 4 facts). CA certificates, CRLs and
// OCSP stay open, as the simulator's stand-in for J-LIS's distribution points.
func WithPlatformToken(token string) HandlerOption { return func(h *handler) { h.token = token } }

type handler struct {
	s     *Simulator
	token string
	mux   *http.ServeMux
}

// maxJSONBody bounds request bodies of the JSON endpoints.
const maxJSONBody = 64 << 10

// Handler returns the simulator's HTTP interface:
//
//	GET  /healthz
//	GET  /ca                                    every CA generation, JSON (see CAList)
//	GET  /ca/{name}.cer | /ca/{name}.pem        CA certificate (name: sign, auth, sign-phone, auth-phone,
//	                                            or a later generation: sign-g2, auth-g3-phone, ...)
//	GET  /ocsp-responder/{name}.cer             the CA's delegated OCSP responder certificate
//	GET  /crl/{name}.crl                        full CRL, DER; ETag and Last-Modified for conditional GET
//	POST /ocsp/{name}                           OCSP (RFC 6960 §A.1), body application/ocsp-request
//	GET  /ocsp/{name}/{base64 request}          OCSP over GET
//	GET  /status/{ca}/{serial-hex}              certificate status (platform token)
//	GET  /links/{ca}/{serial-hex}               renewal links 新旧紐付け (platform token)
//	POST /basic4                                latest basic 4 facts (platform token), JSON
//	     {"ca": "sign", "serial": "hex", "requester": "...", "consent_ref": "..."}
//
// Errors are RFC 9457 problem+json documents.
func (s *Simulator) Handler(opts ...HandlerOption) http.Handler {
	h := &handler{s: s, mux: http.NewServeMux()}
	for _, o := range opts {
		o(h)
	}
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	h.mux.HandleFunc("GET /ca", h.caList)
	h.mux.HandleFunc("GET /ca/{file}", h.caCert)
	h.mux.HandleFunc("GET /ocsp-responder/{file}", h.responderCert)
	h.mux.HandleFunc("GET /crl/{file}", h.crl)
	h.mux.HandleFunc("POST /ocsp/{name}", h.ocspPost)
	h.mux.HandleFunc("GET /ocsp/{name}/{req...}", h.ocspGet)
	h.mux.HandleFunc("GET /status/{ca}/{serial}", h.platform(h.status))
	h.mux.HandleFunc("GET /links/{ca}/{serial}", h.platform(h.links))
	h.mux.HandleFunc("POST /basic4", h.platform(h.basic4))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "not-found", fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h.mux.ServeHTTP(rw, r)
	slog.Debug("jlis request", "method", r.Method, "path", r.URL.Path, "status", rw.status, "duration", time.Since(start))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, typ, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"type":   "https://mynagate.dev/problems/jlis/" + typ,
		"title":  http.StatusText(status),
		"status": status,
		"detail": detail,
	})
}

// fail maps an error of the simulator to a problem document.
func fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		problem(w, http.StatusNotFound, "not-found", err.Error())
	case errors.Is(err, ErrAlreadyRevoked):
		problem(w, http.StatusConflict, "already-revoked", err.Error())
	case errors.Is(err, ErrInvalid):
		problem(w, http.StatusBadRequest, "invalid-request", err.Error())
	default:
		slog.Error("jlis: internal error", "err", err)
		problem(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

func (h *handler) platform(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="jlis"`)
				problem(w, http.StatusUnauthorized, "unauthorized", "this endpoint needs the platform's bearer token")
				return
			}
		}
		next(w, r)
	}
}

func splitExt(file string, exts ...string) (string, string, bool) {
	for _, e := range exts {
		if name, ok := strings.CutSuffix(file, "."+e); ok {
			return name, e, true
		}
	}
	return "", "", false
}

func (h *handler) caCert(w http.ResponseWriter, r *http.Request) {
	name, ext, ok := splitExt(r.PathValue("file"), "cer", "pem")
	if !ok {
		problem(w, http.StatusNotFound, "not-found", "CA certificates are at /ca/{name}.cer or /ca/{name}.pem")
		return
	}
	c, err := h.s.CACertificate(name)
	if err != nil {
		fail(w, err)
		return
	}
	writeCert(w, c.Raw, ext)
}

// CAList is the answer of GET /ca: every generation of every CA J-LIS runs. Production J-LIS
// has rolled its roots over (three generations share one DN with different keys); a verifier
// needs all unexpired ones, and a platform that trusts one generation can accept the next by
// its link certificate.
type CAList struct {
	CAs []CAListEntry `json:"cas"`
}

// CAListEntry is one CA generation; certificates are DER, base64 in JSON.
type CAListEntry struct {
	Name       string `json:"name"`
	Base       string `json:"base"`
	Generation int    `json:"generation"`
	Issuing    bool   `json:"issuing"`
	Cert       []byte `json:"cert"`
	LinkCert   []byte `json:"link_cert,omitempty"` // NewWithOld, from the generation before
}

func (h *handler) caList(w http.ResponseWriter, r *http.Request) {
	var out CAList
	for _, g := range h.s.CAGenerations() {
		e := CAListEntry{Name: g.Name, Base: g.Base, Generation: g.Generation, Issuing: g.Issuing, Cert: g.Cert.Raw}
		if g.Link != nil {
			e.LinkCert = g.Link.Raw
		}
		out.CAs = append(out.CAs, e)
	}
	writeJSON(w, out)
}

func (h *handler) responderCert(w http.ResponseWriter, r *http.Request) {
	name, ext, ok := splitExt(r.PathValue("file"), "cer", "pem")
	if !ok {
		problem(w, http.StatusNotFound, "not-found", "responder certificates are at /ocsp-responder/{name}.cer or .pem")
		return
	}
	c, err := h.s.OCSPResponderCertificate(name)
	if err != nil {
		fail(w, err)
		return
	}
	writeCert(w, c.Raw, ext)
}

func writeCert(w http.ResponseWriter, der []byte, ext string) {
	if ext == "pem" {
		w.Header().Set("Content-Type", "application/x-pem-file")
		pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		return
	}
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.Write(der)
}

func (h *handler) crl(w http.ResponseWriter, r *http.Request) {
	name, _, ok := splitExt(r.PathValue("file"), "crl")
	if !ok {
		problem(w, http.StatusNotFound, "not-found", "CRLs are at /crl/{name}.crl")
		return
	}
	info, err := h.s.CRL(r.Context(), name)
	if err != nil {
		fail(w, err)
		return
	}
	f, err := os.Open(info.Path)
	if err != nil {
		fail(w, fmt.Errorf("jlis: open CRL: %w", err))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("ETag", fmt.Sprintf(`"%s-%d"`, name, info.Number))
	w.Header().Set("X-CRL-Number", strconv.FormatInt(info.Number, 10))
	w.Header().Set("Cache-Control", "max-age=60")
	http.ServeContent(w, r, info.CA+".crl", info.ThisUpdate, f)
}

func (h *handler) ocspPost(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOCSPRequest))
	if err != nil {
		problem(w, http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("OCSP requests are at most %d bytes", maxOCSPRequest))
		return
	}
	h.ocsp(w, r, body)
}

func (h *handler) ocspGet(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("req")
	if u, err := url.PathUnescape(raw); err == nil {
		raw = u
	}
	der, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(der) > maxOCSPRequest {
		h.ocsp(w, r, nil) // answered as malformedRequest
		return
	}
	h.ocsp(w, r, der)
}

func (h *handler) ocsp(w http.ResponseWriter, r *http.Request, der []byte) {
	resp, err := h.s.RespondOCSP(r.Context(), r.PathValue("name"), der)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(resp)
}

// parseRef reads {ca}/{serial-hex} path values.
func parseRef(r *http.Request) (CertRef, error) {
	serial, err := strconv.ParseInt(r.PathValue("serial"), 16, 64)
	if err != nil || serial <= 0 {
		return CertRef{}, invalidf("serial %q is not a positive hexadecimal number", r.PathValue("serial"))
	}
	return CertRef{CA: r.PathValue("ca"), Serial: serial}, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	ref, err := parseRef(r)
	if err != nil {
		fail(w, err)
		return
	}
	st, err := h.s.Status(r.Context(), ref)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, st)
}

func (h *handler) links(w http.ResponseWriter, r *http.Request) {
	ref, err := parseRef(r)
	if err != nil {
		fail(w, err)
		return
	}
	info, err := h.s.Links(r.Context(), ref)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, info)
}

// Basic4Request is the body of POST /basic4.
type Basic4Request struct {
	CA         string `json:"ca"`
	Serial     string `json:"serial"` // hexadecimal
	Requester  string `json:"requester"`
	ConsentRef string `json:"consent_ref"`
}

func (h *handler) basic4(w http.ResponseWriter, r *http.Request) {
	var req Basic4Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, invalidf("body is not a basic 4 request: %v", err))
		return
	}
	serial, err := strconv.ParseInt(req.Serial, 16, 64)
	if err != nil || serial <= 0 {
		fail(w, invalidf("serial %q is not a positive hexadecimal number", req.Serial))
		return
	}
	ans, err := h.s.LatestBasic4(r.Context(), CertRef{CA: req.CA, Serial: serial}, req.Requester, req.ConsentRef)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, ans)
}

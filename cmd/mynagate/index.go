package main

import (
	"encoding/json"
	"net/http"
)

// GET / of the servers the binary runs answers a small JSON index (what this is, where to go)
// instead of a 404. It is a fallback: withIndex answers only when the handler behind it has
// nothing at / (a page of its own there wins).

// serviceIndex is the JSON answer to GET /.
type serviceIndex struct {
	Service string            `json:"service"`
	Version string            `json:"version"`
	Docs    string            `json:"docs"`
	Links   map[string]string `json:"links"`
}

func jlisIndex() serviceIndex {
	return serviceIndex{Service: "mynagate J-LIS simulator", Version: readBuildInfo().Version,
		Docs: "https://github.com/mynagate/mynagate/blob/main/docs/design/jlis.md",
		Links: map[string]string{
			"health":           "/healthz",
			"ca_certificate":   "/ca/{sign,auth}.cer (or .pem)",
			"ocsp_responder":   "/ocsp-responder/{sign,auth}.cer",
			"crl":              "/crl/{sign,auth}.crl",
			"ocsp":             "POST /ocsp/{sign,auth}",
			"status":           "/status/{ca}/{serial-hex} (platform token)",
			"renewal_links":    "/links/{ca}/{serial-hex} (platform token)",
			"latest_basic4":    "POST /basic4 (platform token)",
			"phone_cas_if_any": "sign-phone, auth-phone in place of sign, auth",
		}}
}

func platformIndex() serviceIndex {
	return serviceIndex{Service: "mynagate platform", Version: readBuildInfo().Version,
		Docs: "https://github.com/mynagate/mynagate/blob/main/api/openapi.yaml",
		Links: map[string]string{
			"health":       "/healthz",
			"ready":        "/readyz",
			"sessions":     "POST /v1/sessions (tenant API key)",
			"evidence_key": "/v1/evidence/key",
		}}
}

// withIndex serves index at GET / when h answers 404 there, and h everywhere else.
func withIndex(h http.Handler, index serviceIndex) http.Handler {
	body, _ := json.MarshalIndent(index, "", "  ")
	body = append(body, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		c := &notFoundCatcher{ResponseWriter: w}
		h.ServeHTTP(c, r)
		if !c.caught {
			return
		}
		hd := w.Header()
		for k := range hd {
			delete(hd, k)
		}
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	})
}

// notFoundCatcher passes a response through unless its status is 404, which it swallows.
type notFoundCatcher struct {
	http.ResponseWriter
	caught, started bool
}

func (c *notFoundCatcher) WriteHeader(code int) {
	if !c.started && code == http.StatusNotFound {
		c.caught = true
	}
	c.started = true
	if !c.caught {
		c.ResponseWriter.WriteHeader(code)
	}
}

func (c *notFoundCatcher) Write(b []byte) (int, error) {
	if !c.started {
		c.WriteHeader(http.StatusOK)
	}
	if c.caught {
		return len(b), nil
	}
	return c.ResponseWriter.Write(b)
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// GET / answers the JSON index where the handler has nothing; every other path and a page of
// the handler's own at / pass through untouched.
func TestWithIndex(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"type":"not-found"}`)
	})
	srv := httptest.NewServer(withIndex(mux, jlisIndex()))
	defer srv.Close()
	get := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("GET", "/")
	var idx serviceIndex
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &idx) != nil || idx.Service != "mynagate J-LIS simulator" {
		t.Fatalf("GET /: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, body := get("GET", "/nope"); resp.StatusCode != 404 || body != `{"type":"not-found"}` {
		t.Errorf("GET /nope: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("POST", "/"); resp.StatusCode != 404 {
		t.Errorf("POST /: %d", resp.StatusCode)
	}
	if resp, body := get("GET", "/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("GET /healthz: %d %q", resp.StatusCode, body)
	}
	// A handler with a page of its own at / keeps it.
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<h1>mynagate</h1>") })
	srv2 := httptest.NewServer(withIndex(page, platformIndex()))
	defer srv2.Close()
	r2, err := http.Get(srv2.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if string(b) != "<h1>mynagate</h1>" {
		t.Errorf("the handler's own page at / was replaced: %q", b)
	}
}

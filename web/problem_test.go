package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/platform"
)

func TestStatusOfEveryKind(t *testing.T) {
	for k, want := range map[platform.Kind]int{
		platform.KindInvalid:          400,
		platform.KindUnauthorized:     401,
		platform.KindForbidden:        403,
		platform.KindNotFound:         404,
		platform.KindMethodNotAllowed: 405,
		platform.KindConflict:         409,
		platform.KindGone:             410,
		platform.KindTooLarge:         413,
		platform.KindUnsupportedMedia: 415,
		platform.KindRejected:         422,
		platform.KindTooManyRequests:  429,
		platform.KindInternal:         500,
		platform.KindUnavailable:      503,
	} {
		if got := statusOf(k); got != want {
			t.Errorf("statusOf(%v) = %d, want %d", k, got, want)
		}
	}
}

// problemOf writes err's problem for a request to path and decodes it.
func problemOf(t *testing.T, err error, vid string) (*httptest.ResponseRecorder, Problem) {
	t.Helper()
	w := httptest.NewRecorder()
	writeProblem(w, httptest.NewRequest("GET", "/v1/some/where", nil), err, vid)
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", w.Body, err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if p.Status != w.Code || p.Instance != "/v1/some/where" || p.Title != http.StatusText(w.Code) {
		t.Errorf("problem %+v does not match status %d and path", p, w.Code)
	}
	return w, p
}

func TestWriteProblemDocument(t *testing.T) {
	w, p := problemOf(t, &platform.Error{Kind: platform.KindRejected, Type: "signature-invalid", Detail: "the signature does not verify"}, "ver_1")
	if w.Code != 422 || p.Type != ProblemBase+"signature-invalid" || p.Detail != "the signature does not verify" || p.VerificationID != "ver_1" {
		t.Errorf("got %d %+v", w.Code, p)
	}
	// A wrapped platform error keeps its kind.
	w, p = problemOf(t, errors.Join(errors.New("context"), &platform.Error{Kind: platform.KindGone, Type: "session-expired", Detail: "gone"}), "")
	if w.Code != 410 || p.Type != ProblemBase+"session-expired" {
		t.Errorf("wrapped: got %d %+v", w.Code, p)
	}
}

func TestWriteProblemInternalHidesCause(t *testing.T) {
	w, p := problemOf(t, errors.New("pq: password authentication failed for user secret_db_user"), "")
	if w.Code != 500 || p.Type != ProblemBase+"internal" {
		t.Errorf("got %d %+v", w.Code, p)
	}
	if strings.Contains(w.Body.String(), "secret_db_user") || strings.Contains(w.Body.String(), "pq:") {
		t.Errorf("internal cause leaked into the answer: %s", w.Body)
	}
}

func TestWriteProblemHeaders(t *testing.T) {
	for _, c := range []struct {
		err          error
		header, want string
	}{
		{&platform.Error{Kind: platform.KindUnauthorized, Type: "unauthorized"}, "WWW-Authenticate", `Bearer realm="mynagate"`},
		{&platform.Error{Kind: platform.KindUnavailable, Type: "not-ready"}, "Retry-After", "5"},
		{&platform.Error{Kind: platform.KindTooManyRequests, Type: "rate-limited", RetryAfter: 1200 * time.Millisecond}, "Retry-After", "2"},
		{&platform.Error{Kind: platform.KindTooManyRequests, Type: "rate-limited", RetryAfter: 3 * time.Second}, "Retry-After", "3"},
		{&platform.Error{Kind: platform.KindTooManyRequests, Type: "rate-limited", RetryAfter: time.Millisecond}, "Retry-After", "1"},
		{&platform.Error{Kind: platform.KindTooManyRequests, Type: "rate-limited"}, "Retry-After", "1"},
		{&platform.Error{Kind: platform.KindUnsupportedMedia, Type: "unsupported-media-type"}, "Accept-Post", "application/json"},
		{&platform.Error{Kind: platform.KindNotFound, Type: "not-found"}, "Retry-After", ""},
		{&platform.Error{Kind: platform.KindNotFound, Type: "not-found"}, "WWW-Authenticate", ""},
	} {
		w, _ := problemOf(t, c.err, "")
		if got := w.Header().Get(c.header); got != c.want {
			t.Errorf("%v: %s = %q, want %q", c.err, c.header, got, c.want)
		}
	}
}

// writeProblem tells the request's recorder the problem type even through other wrappers.
func TestWriteProblemReachesRecorderThroughWrappers(t *testing.T) {
	rec := &recorder{ResponseWriter: httptest.NewRecorder()}
	w := &capture{ResponseWriter: rec}
	writeProblem(w, httptest.NewRequest("GET", "/", nil), invalid("bad %s", "thing"), "")
	if rec.problem != "invalid-request" || rec.status != 400 || w.status != 400 {
		t.Errorf("recorder problem %q status %d, capture status %d", rec.problem, rec.status, w.status)
	}
}

func TestBearer(t *testing.T) {
	for _, c := range []struct {
		vals []string
		key  string // "" means refused
	}{
		{[]string{"Bearer mgk_abc"}, "mgk_abc"},
		{[]string{"bearer mgk_abc"}, "mgk_abc"},
		{[]string{"BEARER mgk_abc"}, "mgk_abc"},
		{nil, ""},
		{[]string{"mgk_abc"}, ""},
		{[]string{"Basic mgk_abc"}, ""},
		{[]string{"Bearer "}, ""},
		{[]string{"Bearer  mgk_abc"}, ""},
		{[]string{"Bearer mgk_abc "}, ""},
		{[]string{"Bearer mgk\tabc"}, ""},
		{[]string{"Bearer mgk_abc", "Bearer mgk_abc"}, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		for _, v := range c.vals {
			r.Header.Add("Authorization", v)
		}
		key, err := bearer(r)
		if c.key != "" {
			if err != nil || key != c.key {
				t.Errorf("%q: got %q, %v; want %q", c.vals, key, err, c.key)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: accepted as %q", c.vals, key)
		} else if e := platform.AsError(err); e.Kind != platform.KindUnauthorized {
			t.Errorf("%q: kind %v, want unauthorized", c.vals, e.Kind)
		}
	}
}

func TestDecode(t *testing.T) {
	type body struct {
		Purpose string `json:"purpose"`
		Ref     string `json:"client_ref,omitempty"`
	}
	for _, c := range []struct {
		name, ct, body string
		kind           platform.Kind // 0: accepted
	}{
		{"ok", "application/json", `{"purpose":"login"}`, 0},
		{"charset", "application/json; charset=utf-8", `{"purpose":"login","client_ref":"x"}`, 0},
		{"no content type", "", `{"purpose":"login"}`, platform.KindUnsupportedMedia},
		{"form", "application/x-www-form-urlencoded", `purpose=login`, platform.KindUnsupportedMedia},
		{"text", "text/plain", `{"purpose":"login"}`, platform.KindUnsupportedMedia},
		{"unknown member", "application/json", `{"purpose":"login","admin":true}`, platform.KindInvalid},
		{"duplicate member", "application/json", `{"purpose":"login","purpose":"identity"}`, platform.KindInvalid},
		{"other case", "application/json", `{"Purpose":"login"}`, platform.KindInvalid},
		{"trailing data", "application/json", `{"purpose":"login"} {}`, platform.KindInvalid},
		{"invalid utf-8", "application/json", "{\"purpose\":\"\xff\"}", platform.KindInvalid},
		{"not an object", "application/json", `["login"]`, platform.KindInvalid},
		{"empty", "application/json", ``, platform.KindInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			if c.ct != "" {
				r.Header.Set("Content-Type", c.ct)
			}
			var b body
			err := decode(r, &b)
			if c.kind == 0 {
				if err != nil || b.Purpose != "login" {
					t.Fatalf("got %+v, %v", b, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", b)
			}
			if e := platform.AsError(err); e.Kind != c.kind {
				t.Fatalf("kind %v (%v), want %v", e.Kind, err, c.kind)
			}
		})
	}
}

func TestDecodeTooLarge(t *testing.T) {
	w := httptest.NewRecorder()
	big := `{"purpose":"` + strings.Repeat("a", MaxBody) + `"}`
	r := httptest.NewRequest("POST", "/", strings.NewReader(big))
	r.Header.Set("Content-Type", "application/json")
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	var b struct {
		Purpose string `json:"purpose"`
	}
	err := decode(r, &b)
	if e := platform.AsError(err); e.Kind != platform.KindTooLarge || e.Type != "body-too-large" {
		t.Fatalf("got %v", err)
	}
}

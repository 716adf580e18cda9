package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// seen is one request as the test server got it.
type seen struct {
	method, uri, auth, ct, idem, body string
}

// fakeAPI answers every request with status and body and records what it got.
func fakeAPI(t *testing.T, answer func(r *http.Request) (int, string)) (*httptest.Server, func() []seen) {
	t.Helper()
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key"), string(b)})
		mu.Unlock()
		status, body := answer(r)
		if status >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen { mu.Lock(); defer mu.Unlock(); return append([]seen(nil), got...) }
}

func TestCreateSessionRequest(t *testing.T) {
	srv, got := fakeAPI(t, func(*http.Request) (int, string) {
		return 201, `{"id":"s_1","purpose":"login","status":"pending","holder_url":"https://h/x"}`
	})
	c := New(srv.URL+"/", WithAPIKey("mgk_k"))
	s, err := c.CreateSession(context.Background(), SessionRequest{Purpose: "login", ClientRef: "order-9", IdempotencyKey: "idem-1"})
	if err != nil || s.ID != "s_1" || s.Status != "pending" || s.HolderURL != "https://h/x" {
		t.Fatalf("got %+v, %v", s, err)
	}
	if _, err := c.CreateSession(context.Background(), SessionRequest{Purpose: "login"}); err != nil {
		t.Fatal(err)
	}
	r := got()
	if r[0].method != "POST" || r[0].uri != "/v1/sessions" || r[0].auth != "Bearer mgk_k" || r[0].ct != "application/json" || r[0].idem != "idem-1" {
		t.Errorf("first request %+v", r[0])
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r[0].body), &body); err != nil || body["purpose"] != "login" || body["client_ref"] != "order-9" || len(body) != 2 {
		t.Errorf("body %s: the Idempotency-Key belongs in the header only", r[0].body)
	}
	if r[1].idem != "" {
		t.Errorf("no key given, but Idempotency-Key %q sent", r[1].idem)
	}
	if strings.Contains(r[1].body, "client_ref") {
		t.Errorf("empty client_ref sent: %s", r[1].body)
	}
}

func TestHolderRequestsCarryNoAPIKey(t *testing.T) {
	srv, got := fakeAPI(t, func(*http.Request) (int, string) { return 200, `{"id":"v_1"}` })
	if _, err := New(srv.URL).Verification(context.Background(), "v_1"); err != nil {
		t.Fatal(err)
	}
	if r := got()[0]; r.auth != "" || r.ct != "" || r.body != "" {
		t.Errorf("request without a key or body: %+v", r)
	}
}

func TestPathsAreEscaped(t *testing.T) {
	srv, got := fakeAPI(t, func(*http.Request) (int, string) { return 200, `{}` })
	c := New(srv.URL, WithAPIKey("k"))
	ctx := context.Background()
	c.Session(ctx, "../tenant")
	c.Watch(ctx, "a/b?c")
	c.StopWatching(ctx, "x y")
	c.Usage(ctx, "2026-01", "")
	c.Usage(ctx, "", "")
	c.RedeliverEvent(ctx, "ev_1", "ep&x=1")
	want := []string{
		"/v1/sessions/..%2Ftenant",
		"/v1/watches/a%2Fb%3Fc",
		"/v1/watches/x%20y",
		"/v1/usage?from=2026-01",
		"/v1/usage?",
		"/v1/events/ev_1/redeliver?endpoint=ep%26x%3D1",
	}
	r := got()
	if len(r) != len(want) {
		t.Fatalf("%d requests: %+v", len(r), r)
	}
	for i, w := range want {
		if r[i].uri != w {
			t.Errorf("request %d: %s, want %s", i, r[i].uri, w)
		}
	}
	if r[2].method != "DELETE" || r[5].method != "POST" {
		t.Errorf("methods %s %s", r[2].method, r[5].method)
	}
}

func TestProblemDecoding(t *testing.T) {
	srv, _ := fakeAPI(t, func(*http.Request) (int, string) {
		return 422, `{"type":"https://mynagate.dev/problems/cert-revoked","title":"Unprocessable Entity","status":422,"detail":"the certificate is revoked","request_id":"r1","verification_id":"v_9"}`
	})
	_, err := New(srv.URL).Verification(context.Background(), "v_9")
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %T %v is not a *Problem", err, err)
	}
	if p.Slug() != "cert-revoked" || p.Status != 422 || p.RequestID != "r1" || p.VerificationID != "v_9" {
		t.Errorf("problem %+v", p)
	}
	if !IsProblem(err, "cert-revoked") || IsProblem(err, "revoked") || IsProblem(errors.New("cert-revoked"), "cert-revoked") {
		t.Error("IsProblem matches wrongly")
	}
	if msg := err.Error(); !strings.Contains(msg, "cert-revoked") || !strings.Contains(msg, "422") || !strings.Contains(msg, "the certificate is revoked") {
		t.Errorf("message %q", msg)
	}
}

func TestErrorsThatAreNotProblems(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
	}{
		{502, "<html>Bad Gateway</html>"},
		{500, `{"error":"boom"}`},
		{404, ``},
	} {
		srv, _ := fakeAPI(t, func(*http.Request) (int, string) { return c.status, c.body })
		_, err := New(srv.URL).Session(context.Background(), "s_1")
		var p *Problem
		if err == nil || errors.As(err, &p) {
			t.Errorf("%d %q: got %v", c.status, c.body, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", c.status)) || !strings.Contains(err.Error(), "GET /v1/sessions/s_1") {
			t.Errorf("%d: message %q lacks the request", c.status, err)
		}
	}
	// A 2xx answer that is not the expected JSON is an error, not an empty value.
	srv, _ := fakeAPI(t, func(*http.Request) (int, string) { return 200, `not json` })
	if s, err := New(srv.URL).Session(context.Background(), "s_1"); err == nil {
		t.Errorf("undecodable answer accepted as %+v", s)
	}
	// A server that is not there.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := New(dead.URL).Session(context.Background(), "s_1"); err == nil {
		t.Error("no error from a closed server")
	}
}

func TestWithHTTPClient(t *testing.T) {
	srv, _ := fakeAPI(t, func(*http.Request) (int, string) { return 200, `{}` })
	called := false
	hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		called = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	if _, err := New(srv.URL, WithHTTPClient(hc)).CardKey(context.Background()); err != nil || !called {
		t.Fatalf("err %v, custom client called %v", err, called)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWaitSession(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	srv, _ := fakeAPI(t, func(*http.Request) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		polls++
		if polls < 3 {
			return 200, `{"id":"s_1","status":"pending"}`
		}
		return 200, `{"id":"s_1","status":"verified","verification":{"id":"v_1","decision":"accepted"}}`
	})
	s, err := New(srv.URL).WaitSession(context.Background(), "s_1", time.Millisecond)
	if err != nil || s.Status != "verified" || s.Verification == nil || s.Verification.ID != "v_1" || polls != 3 {
		t.Fatalf("got %+v, %v after %d polls", s, err, polls)
	}
}

func TestWaitSessionStopsWithContext(t *testing.T) {
	srv, _ := fakeAPI(t, func(*http.Request) (int, string) { return 200, `{"id":"s_1","status":"pending"}` })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := New(srv.URL).WaitSession(ctx, "s_1", time.Hour)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %+v, %v", s, err)
	}
}

func TestWaitSessionReturnsProblem(t *testing.T) {
	srv, _ := fakeAPI(t, func(*http.Request) (int, string) {
		return 404, `{"type":"https://mynagate.dev/problems/not-found","status":404}`
	})
	if _, err := New(srv.URL).WaitSession(context.Background(), "s_x", time.Millisecond); !IsProblem(err, "not-found") {
		t.Fatalf("got %v", err)
	}
}

func TestRotateSecretGrace(t *testing.T) {
	srv, got := fakeAPI(t, func(*http.Request) (int, string) {
		return 200, `{"secret":"whsec_new","previous_valid_until":"2026-04-02T09:00:00Z"}`
	})
	c := New(srv.URL, WithAPIKey("k"))
	sec, until, err := c.RotateSecret(context.Background(), "ep_1", 90*time.Minute)
	if err != nil || sec != "whsec_new" || !until.Equal(time.Date(2026, 4, 2, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %q %v %v", sec, until, err)
	}
	if _, _, err := c.RotateSecret(context.Background(), "ep_1", -1); err != nil {
		t.Fatal(err)
	}
	r := got()
	if r[0].uri != "/v1/webhooks/endpoints/ep_1/rotate" || r[0].body != `{"grace_seconds":5400}` {
		t.Errorf("with grace: %s %s", r[0].uri, r[0].body)
	}
	if r[1].body != `{}` {
		t.Errorf("negative grace must leave the server's default: %s", r[1].body)
	}
}

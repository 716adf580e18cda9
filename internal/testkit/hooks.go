package testkit

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/webhook"
)

// HookReceiver is a relying party's webhook endpoint for tests: it verifies every message
// against its current secrets on a clock (Standard Webhooks), records what it accepted in
// arrival order and how often each webhook-id was attempted, and can be told to be down, to fail
// the next requests, or to hold requests until released. It is safe for concurrent use.
type HookReceiver struct {
	t   testing.TB
	srv *httptest.Server
	clk clockwork.Clock

	mu       sync.Mutex
	secrets  []string
	down     bool          // answer 503 while set
	failNext int           // answer this many requests with 503
	hold     chan struct{} // when set, requests wait on it
	holding  int
	got      []HookMessage
	attempts map[string]int // webhook-id → requests seen
	refused  int            // requests whose signature did not verify
}

// HookMessage is an accepted message: its webhook-id, its type and data, and the exact body.
type HookMessage struct {
	ID   string
	Type string
	Data json.RawMessage
	Body []byte
}

// NewHookReceiver starts a receiver (stopped at the end of the test) that accepts messages signed
// with any of secrets ("whsec_…"); more can be given later with SetSecrets.
func NewHookReceiver(t testing.TB, clk clockwork.Clock, secrets ...string) *HookReceiver {
	r := &HookReceiver{t: t, clk: clk, secrets: secrets, attempts: map[string]int{}}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the receiver's base URL; every path reaches it.
func (r *HookReceiver) URL() string { return r.srv.URL }

func (r *HookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.attempts[req.Header.Get(webhook.HeaderID)]++
	hold := r.hold
	if hold != nil {
		r.holding++
	}
	r.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			r.mu.Lock()
			r.holding-- // the sender gave this request up (shutdown)
			r.mu.Unlock()
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	v, err := webhook.NewVerifier(r.secrets...)
	if err != nil {
		r.t.Errorf("webhook receiver secrets: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	m, err := v.Verify(req.Header, body, r.clk.Now())
	if err != nil {
		r.refused++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.down || r.failNext > 0 {
		if r.failNext > 0 {
			r.failNext--
		}
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	msg := HookMessage{ID: m.ID, Body: body}
	var ev struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		r.t.Errorf("webhook body %s: %v", body, err)
	}
	msg.Type, msg.Data = ev.Type, ev.Data
	r.got = append(r.got, msg)
	w.WriteHeader(http.StatusNoContent)
}

// SetSecrets replaces the secrets messages are verified against.
func (r *HookReceiver) SetSecrets(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = slices.Clone(secrets)
}

// AddSecret accepts one more secret.
func (r *HookReceiver) AddSecret(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, secret)
}

// Secrets returns the secrets accepted now.
func (r *HookReceiver) Secrets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.secrets)
}

// SetDown makes every verified request fail with 503 while down.
func (r *HookReceiver) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// FailNext makes the next n verified requests fail with 503.
func (r *HookReceiver) FailNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = n
}

// Hold makes requests wait until ch is closed (or their sender gives up); nil stops holding new
// requests.
func (r *HookReceiver) Hold(ch chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold = ch
}

// Holding is how many requests wait now.
func (r *HookReceiver) Holding() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holding
}

// Messages returns the accepted messages in arrival order.
func (r *HookReceiver) Messages() []HookMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// Since returns the accepted messages after the first skip, of the given types (all when none
// are given).
func (r *HookReceiver) Since(skip int, types ...string) []HookMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []HookMessage
	for _, m := range r.got[min(skip, len(r.got)):] {
		if len(types) == 0 || slices.Contains(types, m.Type) {
			out = append(out, m)
		}
	}
	return out
}

// Count is how many messages were accepted.
func (r *HookReceiver) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// Attempts returns how many requests each webhook-id came with.
func (r *HookReceiver) Attempts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.attempts)
}

// Refused is how many requests did not verify.
func (r *HookReceiver) Refused() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

// Forget drops the accepted messages and the refusal count (secrets and attempts stay).
func (r *HookReceiver) Forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got, r.refused = nil, 0
}

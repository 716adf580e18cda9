package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/webhook"
)

// syncBuffer is a bytes.Buffer safe for a command writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWebhookListen runs `mynagate webhook listen` and sends it messages signed as the platform
// signs them: verified events are printed once per webhook-id, forgeries are refused, and it
// exits after --count events.
func TestWebhookListen(t *testing.T) {
	key := bytes.Repeat([]byte{5}, webhook.KeySize)
	oldKey := bytes.Repeat([]byte{6}, webhook.KeySize)
	cmd := newWebhookCmd()
	var out, errOut syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"listen", "--secret", webhook.FormatSecret(key), "--addr", "127.0.0.1:0", "--count", "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var url string
	for url == "" {
		if m := regexp.MustCompile(`http://\S+/`).FindString(errOut.String()); m != "" {
			url = m
		}
		select {
		case err := <-done:
			t.Fatalf("listen ended: %v; stderr %s", err, errOut.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	send := func(id string, keys [][]byte, body string, at time.Time) int {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"hooks", strings.NewReader(body))
		webhook.SetHeaders(req.Header, keys, id, at, []byte(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now()
	ev := func(typ string) string {
		return `{"type":"` + typ + `","timestamp":"2026-04-01T01:00:00Z","data":{"sub":"abc"}}`
	}
	for _, tt := range []struct {
		name   string
		id     string
		keys   [][]byte
		body   string
		at     time.Time
		status int
	}{
		{"signed", "evt_1", [][]byte{key}, ev("certificate.revoked"), now, http.StatusNoContent},
		{"a retry of the same id", "evt_1", [][]byte{key}, ev("certificate.revoked"), now, http.StatusNoContent},
		{"another secret", "evt_2", [][]byte{oldKey}, ev("certificate.revoked"), now, http.StatusBadRequest},
		{"stale", "evt_3", [][]byte{key}, ev("certificate.revoked"), now.Add(-time.Hour), http.StatusBadRequest},
		{"during a rotation", "evt_4", [][]byte{oldKey, key}, ev("person.basic4_updated"), now, http.StatusNoContent},
	} {
		if got := send(tt.id, tt.keys, tt.body, tt.at); got != tt.status {
			t.Errorf("%s: HTTP %d, want %d", tt.name, got, tt.status)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("listen did not exit after --count events")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("printed %q, want two events", out.String())
	}
	var first struct{ ID, Type string }
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.ID != "evt_1" || first.Type != "certificate.revoked" {
		t.Errorf("first line %s (%v)", lines[0], err)
	}
	if !strings.Contains(lines[1], `"evt_4"`) || strings.Count(errOut.String(), "refused") != 2 {
		t.Errorf("second line %s; stderr %s", lines[1], errOut.String())
	}
}

func TestWebhookListenNeedsASecret(t *testing.T) {
	t.Setenv("MYNAGATE_WEBHOOK_SECRET", "")
	cmd := newWebhookCmd()
	cmd.SetArgs([]string{"listen", "--addr", "127.0.0.1:0"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("listen without a secret: %v", err)
	}
}

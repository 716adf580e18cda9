package webhook_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/webhook"
)

// The example of the Standard Webhooks specification (and of its reference libraries' tests).
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSpecVector(t *testing.T) {
	key, err := webhook.ParseSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := webhook.Sign(key, specID, time.Unix(specTS, 0), []byte(specBody)); got != specSig {
		t.Fatalf("Sign = %s, want %s", got, specSig)
	}
	v, err := webhook.NewVerifier(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, specID)
	h.Set(webhook.HeaderTimestamp, "1614265330")
	h.Set(webhook.HeaderSignature, specSig)
	m, err := v.Verify(h, []byte(specBody), time.Unix(specTS+10, 0))
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != specID || m.Timestamp.Unix() != specTS {
		t.Errorf("message %+v", m)
	}
}

func TestVerify(t *testing.T) {
	zero := bytes.Repeat([]byte{0}, webhook.KeySize)
	oldSecret, err := webhook.NewSecret(bytes.NewReader(zero))
	if err != nil {
		t.Fatal(err)
	}
	newSecret, err := webhook.NewSecret(bytes.NewReader(bytes.Repeat([]byte{1}, webhook.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	otherSecret := webhook.FormatSecret(bytes.Repeat([]byte{2}, webhook.KeySize))
	oldKey, _ := webhook.ParseSecret(oldSecret)
	newKey, _ := webhook.ParseSecret(newSecret)
	now := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"certificate.revoked"}`)
	signed := func(keys ...[]byte) http.Header {
		h := http.Header{}
		webhook.SetHeaders(h, keys, "evt_1", now, body)
		return h
	}
	tests := []struct {
		name    string
		secrets []string
		header  http.Header
		body    []byte
		at      time.Time
		want    error
	}{
		{"signed with the secret", []string{oldSecret}, signed(oldKey), body, now, nil},
		{"rotation: receiver knows only the new secret", []string{newSecret}, signed(newKey, oldKey), body, now, nil},
		{"rotation: receiver knows only the old secret", []string{oldSecret}, signed(newKey, oldKey), body, now, nil},
		{"receiver knows both", []string{newSecret, oldSecret}, signed(oldKey), body, now.Add(-4 * time.Minute), nil},
		{"another secret", []string{otherSecret}, signed(oldKey), body, now, webhook.ErrNoMatch},
		{"changed body", []string{oldSecret}, signed(oldKey), []byte(`{"type":"certificate.revoked "}`), now, webhook.ErrNoMatch},
		{"too old", []string{oldSecret}, signed(oldKey), body, now.Add(6 * time.Minute), webhook.ErrStale},
		{"from the future", []string{oldSecret}, signed(oldKey), body, now.Add(-6 * time.Minute), webhook.ErrStale},
		{"no signature", []string{oldSecret}, func() http.Header { h := signed(oldKey); h.Del(webhook.HeaderSignature); return h }(), body, now, webhook.ErrMissingHeader},
		{"no id", []string{oldSecret}, func() http.Header { h := signed(oldKey); h.Del(webhook.HeaderID); return h }(), body, now, webhook.ErrMissingHeader},
		{"bad timestamp", []string{oldSecret}, func() http.Header { h := signed(oldKey); h.Set(webhook.HeaderTimestamp, "1e9"); return h }(), body, now, webhook.ErrBadTimestamp},
		{"another id", []string{oldSecret}, func() http.Header { h := signed(oldKey); h.Set(webhook.HeaderID, "evt_2"); return h }(), body, now, webhook.ErrNoMatch},
		{"only an unknown version", []string{oldSecret}, func() http.Header {
			h := signed(oldKey)
			h.Set(webhook.HeaderSignature, strings.Replace(h.Get(webhook.HeaderSignature), "v1,", "v2,", 1))
			return h
		}(), body, now, webhook.ErrNoMatch},
		{"garbage beside a good signature", []string{oldSecret}, func() http.Header {
			h := signed(oldKey)
			h.Set(webhook.HeaderSignature, "v1,!!! v1a,xyz "+h.Get(webhook.HeaderSignature))
			return h
		}(), body, now, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := webhook.NewVerifier(tt.secrets...)
			if err != nil {
				t.Fatal(err)
			}
			m, err := v.Verify(tt.header, tt.body, tt.at)
			if tt.want == nil {
				if err != nil || m.ID != "evt_1" {
					t.Fatalf("Verify = %+v, %v", m, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error %v, want %v", err, tt.want)
			}
			var we *webhook.Error
			if !errors.As(err, &we) || !webhook.IsWebhookError(err) {
				t.Fatalf("error %T is not a *webhook.Error", err)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	for _, bad := range []string{"", "whsec_", "whsec_!!!", "whsec_" + strings.Repeat("A", 16), webhook.FormatSecret(make([]byte, 65))} {
		if _, err := webhook.ParseSecret(bad); !errors.Is(err, webhook.ErrBadSecret) {
			t.Errorf("ParseSecret(%q) = %v, want bad secret", bad, err)
		}
	}
	if _, err := webhook.NewVerifier(); !errors.Is(err, webhook.ErrBadSecret) {
		t.Errorf("NewVerifier() = %v", err)
	}
	s, err := webhook.NewSecret(bytes.NewReader(bytes.Repeat([]byte{9}, 40)))
	if err != nil || !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("NewSecret = %q, %v", s, err)
	}
	// Without the prefix too, as some senders show it.
	if _, err := webhook.ParseSecret(strings.TrimPrefix(s, "whsec_")); err != nil {
		t.Error(err)
	}
	if _, err := webhook.NewSecret(bytes.NewReader(nil)); err == nil {
		t.Error("NewSecret from an empty reader succeeded")
	}
}

func BenchmarkSign(b *testing.B) {
	key := bytes.Repeat([]byte{1}, webhook.KeySize)
	body := bytes.Repeat([]byte("x"), 400)
	at := time.Unix(1_800_000_000, 0)
	for b.Loop() {
		webhook.Sign(key, "evt_0123456789abcdef0123456789abcdef", at, body)
	}
}

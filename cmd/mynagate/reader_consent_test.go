package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/jpki"
)

// TestReaderConsentRefusesForeignChallenges points `reader consent list` and `revoke` at fake
// platforms serving the consent challenges an attacker would — one relayed from the real
// platform, an expired one, one for another purpose, a session challenge, an opaque blob — and
// checks that each is refused with a clear error before the card is touched (no APDU) and that
// no request is sent; a well-formed challenge of the platform asked is signed and sent.
func TestReaderConsentRefusesForeignChallenges(t *testing.T) {
	now := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "auth.pin")
	if err := os.WriteFile(pinFile, []byte(cardtest.AuthPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := cardtest.CardFile(t, jpki.MediumCard)
	b64 := func(n byte) string { return base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{n}, 16)) }
	text := func(origin, purpose string, exp time.Time) []byte {
		return []byte("mynagate-holder-challenge/v1\norigin=" + origin + "\npurpose=" + purpose + "\nexpires=" +
			exp.UTC().Format(time.RFC3339) + "\nnonce=" + b64(1) + "\nmac=" + b64(2) + "\n")
	}
	type served struct {
		challenge []byte
		expires   time.Time
	}
	run := func(serve func(origin string) served, args ...string) (string, *recordingTransport, int, error) {
		var requests int
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/v1/holder/consents/challenge" {
				s := serve(srv.URL)
				json.NewEncoder(w).Encode(map[string]any{"challenge": s.challenge, "expires_at": s.expires})
				return
			}
			requests++
			json.NewEncoder(w).Encode(map[string]any{"consents": []any{}, "revoked": 0})
		}))
		defer srv.Close()
		out, rec, err := runReader(cf, now, append(append([]string{"consent"}, args...), "--pin-file", pinFile, "--platform", srv.URL)...)
		return out, rec, requests, err
	}
	exp := now.Add(5 * time.Minute)
	commands := [][]string{{"list"}, {"revoke", "--tenant", "t_1"}}

	for _, args := range commands {
		out, rec, requests, err := run(func(origin string) served { return served{text(origin, "consents", exp), exp} }, args...)
		if err != nil || rec == nil || rec.signs() != 1 || requests != 1 {
			t.Fatalf("genuine consent challenge, %v: %v (requests %d)\n%s", args, err, requests, out)
		}
	}

	cases := []struct {
		name  string
		serve func(origin string) served
		want  string
	}{
		{"relayed from the real platform", func(string) served {
			return served{text("https://real-platform.example", "consents", exp), exp}
		}, "is for https://real-platform.example"},
		{"expired", func(origin string) served {
			return served{text(origin, "consents", now.Add(-time.Second)), now.Add(-time.Second)}
		}, "expired at 2026-04-01T00:59:59Z"},
		{"another purpose", func(origin string) served { return served{text(origin, "login", exp), exp} }, `is for "login"`},
		{"the JSON's expiry differs", func(origin string) served {
			return served{text(origin, "consents", exp), exp.Add(time.Hour)}
		}, "not a mynagate consent challenge"},
		{"a session challenge", func(origin string) served {
			return served{[]byte("mynagate-challenge/v1\norigin=" + origin + "\nsession=s_1\n"), exp}
		}, "not a mynagate consent challenge"},
		{"an opaque blob (a contract's hash)", func(string) served { return served{bytes.Repeat([]byte{7}, 40), exp} }, "not a mynagate consent challenge"},
	}
	for _, c := range cases {
		for _, args := range commands {
			t.Run(c.name+"/"+args[0], func(t *testing.T) {
				out, rec, requests, err := run(c.serve, args...)
				if err == nil || !strings.Contains(err.Error(), "refusing to sign") || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("got %v, want a refusal naming %q\n%s", err, c.want, out)
				}
				if rec != nil {
					t.Errorf("the card was opened (%d APDUs, %d signatures)", len(rec.apdus), rec.signs())
				}
				if requests != 0 {
					t.Errorf("a consent request was sent")
				}
			})
		}
	}
}

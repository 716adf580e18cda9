package ticket

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/webhook"
)

func do(t *testing.T, srv *httptest.Server, method, path, token, ctype, body string, hdr http.Header) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(data, &out)
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s %s: HTTP %d with %s, want problem+json", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, out
}

// TestHTTPHostileInput: missing and wrong credentials, the other role's token, another
// organiser's event, malformed, unknown-field, wrongly typed and oversized bodies.
func TestHTTPHostileInput(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	srv := httptest.NewServer(w.s().Handler())
	defer srv.Close()
	ev := w.event(EventRequest{Name: "TGC", Venue: "Yoyogi", Date: "2026-03-02", Identity: IdentityNone, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}})
	_, buyerTok := w.account("Taro")
	_, org2Tok, _ := w.s().CreateOrganiser(ctx, "Other")
	const j = "application/json"
	for _, c := range []struct {
		name, method, path, token, ctype, body string
		want                                   int
		reason                                 string
	}{
		{"no auth", "GET", "/api/tickets", "", "", "", 401, "unauthorized"},
		{"organiser token as buyer", "GET", "/api/tickets", w.orgTk, "", "", 401, "unauthorized"},
		{"buyer token as organiser", "POST", "/api/organiser/events", buyerTok, j, `{}`, 401, "unauthorized"},
		{"unknown token", "GET", "/api/tickets", "tkb_00", "", "", 401, "unauthorized"},
		{"other organiser's event", "GET", "/api/organiser/events/" + ev.ID + "/holders", org2Tok, "", "", 404, "not-found"},
		{"other organiser's report", "GET", "/api/organiser/events/" + ev.ID + "/report.csv", org2Tok, "", "", 404, "not-found"},
		{"malformed JSON", "POST", "/api/events/" + ev.ID + "/purchase", buyerTok, j, `{"seat_class":`, 400, "invalid-request"},
		{"unknown field", "POST", "/api/events/" + ev.ID + "/purchase", buyerTok, j, `{"seat_class":"S","quantity":1,"price":1}`, 400, "invalid-request"},
		{"two values", "POST", "/api/events/" + ev.ID + "/purchase", buyerTok, j, `{"seat_class":"S","quantity":1}{}`, 400, "invalid-request"},
		{"form body", "POST", "/api/login", "", "application/x-www-form-urlencoded", `email=a&password=b`, 400, "invalid-request"},
		{"oversized", "POST", "/api/accounts", "", j, `{"email":"` + strings.Repeat("a", 70<<10) + `"}`, 400, "invalid-request"},
		{"negative quantity", "POST", "/api/events/" + ev.ID + "/purchase", buyerTok, j, `{"seat_class":"S","quantity":-1}`, 400, "invalid-request"},
		{"unknown class", "POST", "/api/events/" + ev.ID + "/purchase", buyerTok, j, `{"seat_class":"Z","quantity":1}`, 404, "not-found"},
		{"unknown event", "GET", "/api/events/evt_nope", "", "", "", 404, "not-found"},
		{"bad round", "GET", "/api/events/" + ev.ID + "/draws/x", "", "", "", 400, "invalid-request"},
		{"bad password", "POST", "/api/login", "", j, `{"email":"nobody@example.jp","password":"wrongwrong"}`, 401, "bad-credentials"},
		{"event with bad date", "POST", "/api/organiser/events", w.orgTk, j, `{"name":"x","venue":"v","date":"2026-13-01","identity":"none","max_per_person":1,"seat_classes":[{"name":"S","price":1,"capacity":1}]}`, 400, "invalid-event"},
		{"age rule without identity", "POST", "/api/organiser/events", w.orgTk, j, `{"name":"x","venue":"v","date":"2026-12-01","identity":"login","min_age":20,"max_per_person":1,"seat_classes":[{"name":"S","price":1,"capacity":1}]}`, 400, "invalid-event"},
		{"webhooks not configured", "POST", "/webhooks/platform", "", j, `{}`, 404, "not-found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, out := do(t, srv, c.method, c.path, c.token, c.ctype, c.body, nil)
			if status != c.want || out["title"] != c.reason {
				t.Fatalf("HTTP %d %v, want %d %s", status, out, c.want, c.reason)
			}
		})
	}
	// Nothing was sold or created by any of it.
	var n int
	w.s().db.w.QueryRow(`SELECT COUNT(*) FROM tickets`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d tickets after hostile requests", n)
	}
}

// TestWebhookRevocation: a signed certificate.revoked marks the person for re-verification
// (no code, gate refuses) once; unsigned, forged and stale messages change nothing; verifying
// again clears it.
func TestWebhookRevocation(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	secret, _ := webhook.NewSecret(bytes.NewReader(bytes.Repeat([]byte{9}, 32)))
	w.s().webhookSecret = secret
	srv := httptest.NewServer(w.s().Handler())
	defer srv.Close()
	ev := w.event(EventRequest{Name: "TGC", Venue: "Yoyogi", Date: "2026-03-02", Identity: IdentityFull, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}})
	a := w.buyer(ev, "Taro", taro())
	ts, err := w.s().Purchase(ctx, a, ev.ID, "S", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	code, _, _ := w.s().Code(ctx, a, ts[0].ID)
	body := `{"type":"certificate.revoked","timestamp":"2026-01-12T10:00:00Z","data":{"sub":"sub-taro","reason":"keyCompromise","reason_code":1}}`
	key, _ := webhook.ParseSecret(secret)
	signed := func(id string, at time.Time, k []byte) http.Header {
		h := http.Header{}
		webhook.SetHeaders(h, [][]byte{k}, id, at, []byte(body))
		return h
	}
	for name, h := range map[string]http.Header{
		"unsigned": {},
		"forged":   signed("msg_1", w.clk.Now(), bytes.Repeat([]byte{1}, 32)),
		"stale":    signed("msg_1", w.clk.Now().Add(-time.Hour), key),
	} {
		if status, _ := do(t, srv, "POST", "/webhooks/platform", "", "application/json", body, h); status != 401 {
			t.Fatalf("%s webhook: HTTP %d, want 401", name, status)
		}
	}
	if _, _, err := w.s().Code(ctx, a, ts[0].ID); err != nil {
		t.Fatalf("a refused webhook changed the ticket: %v", err)
	}
	if status, _ := do(t, srv, "POST", "/webhooks/platform", "", "application/json", body, signed("msg_1", w.clk.Now(), key)); status != 204 {
		t.Fatalf("signed webhook: HTTP %d", status)
	}
	if _, _, err := w.s().Code(ctx, a, ts[0].ID); ReasonOf(err) != "reverify-required" {
		t.Fatalf("code after revocation: %v, want reverify-required", err)
	}
	if adm, _ := w.s().Check(ctx, w.org, ev.ID, code, false); adm.OK || adm.Reason != "reverify-required" {
		t.Fatalf("gate after revocation: %+v", adm)
	}
	if _, err := w.s().Purchase(ctx, a, ev.ID, "S", 1, ""); ReasonOf(err) != "reverify-required" {
		t.Fatalf("purchase after revocation: %v", err)
	}
	// Verifying again (with the new card: the same pairwise id) clears it; a replay of the
	// same message does not set it again.
	if _, err := w.verify(a, ev.ID, taro(), false); err != nil {
		t.Fatal(err)
	}
	if status, _ := do(t, srv, "POST", "/webhooks/platform", "", "application/json", body, signed("msg_1", w.clk.Now(), key)); status != 204 {
		t.Fatalf("replayed webhook: HTTP %d", status)
	}
	if _, _, err := w.s().Code(ctx, a, ts[0].ID); err != nil {
		t.Fatalf("code after re-verification and a replay: %v", err)
	}
}

// TestLoginThrottle: five wrong passwords lock the account for 15 minutes, on every node; the
// right password does not get in meanwhile; afterwards it does.
func TestLoginThrottle(t *testing.T) {
	w := newWorld(t, DialectSQLite, 2)
	w.account("Taro")
	email := fmt.Sprintf("taro-%d@example.jp", nAccounts)
	for i := range MaxFailedLogins {
		if _, err := w.nodes[i%2].Login(ctx, email, "wrong password"); ReasonOf(err) != "bad-credentials" {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	if _, err := w.nodes[1].Login(ctx, email, "correct horse"); ReasonOf(err) != "locked" {
		t.Fatalf("right password while locked: %v, want locked", err)
	}
	w.clk.Advance(LockFor + time.Second)
	if _, err := w.nodes[0].Login(ctx, email, "correct horse"); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}

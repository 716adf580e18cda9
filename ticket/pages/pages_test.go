package pages

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/ticket"
	"github.com/mynagate/mynagate/ticket/tickettest"
	"golang.org/x/crypto/bcrypt"
)

var ctx = context.Background()

type browser struct {
	t    *testing.T
	c    *http.Client
	base string
	lang string
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	req.Header.Set("Accept-Language", b.lang)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form from page (for its CSRF token), as a same-origin browser does.
func (b *browser) post(page, path string, form url.Values) (int, string) {
	b.t.Helper()
	_, html := b.get(page)
	if m := csrfRE.FindStringSubmatch(html); m != nil && form.Get("csrf") == "" {
		form.Set("csrf", m[1])
	}
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Accept-Language", b.lang)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestBuyerAndOrganiserPages walks the pages: sign up, verify with the (stand-in) platform,
// buy, see the ticket with its code and the legally required fields, in Japanese and English;
// the organiser sees the holder's name and the report; a form without its CSRF token is refused.
func TestBuyerAndOrganiserPages(t *testing.T) {
	s, plat, srv, orgTok, ev := newShop(t)
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, c: &http.Client{Jar: jar}, base: srv.URL, lang: "ja"}

	if code, html := b.get("/"); code != 200 || !strings.Contains(html, "Sake Night") || !strings.Contains(html, "マイナンバーカードで本人確認") {
		t.Fatalf("home: %d %s", code, html)
	}
	if code, html := b.post("/signup", "/signup", url.Values{"name": {"Taro"}, "email": {"taro@example.jp"}, "password": {"short"}}); code != 422 || !strings.Contains(html, "8〜72文字") || !strings.Contains(html, `value="taro@example.jp"`) {
		t.Fatalf("short password: %d %s", code, html)
	}
	if code, html := b.post("/signup", "/signup", url.Values{"name": {"Taro"}, "email": {"taro@example.jp"}, "password": {"correct horse"}}); code != 200 || !strings.Contains(html, "マイチケット") {
		t.Fatalf("sign up: %d %s", code, html)
	}
	// A form without the CSRF token is refused.
	if code, _ := b.post("/tickets", "/events/"+ev.ID+"/verify", url.Values{"csrf": {"forged"}}); code != 403 {
		t.Fatalf("forged CSRF token: HTTP %d", code)
	}
	code, html := b.post("/events/"+ev.ID, "/events/"+ev.ID+"/verify", url.Values{})
	m := regexp.MustCompile(`mynagate reader verify '([^']+)'`).FindStringSubmatch(html)
	if code != 200 || m == nil {
		t.Fatalf("verify page: %d %s", code, html)
	}
	holderURL := strings.ReplaceAll(m[1], "&amp;", "&")
	if err := plat.Answer(holderURL, "sub-taro", map[string]string{"name": "山田　太郎", "birthdate": "1985-04-02", "address": "東京都千代田区"}); err != nil {
		t.Fatal(err)
	}
	vid := regexp.MustCompile(`/verifications/([^/]+)/complete`).FindStringSubmatch(html)[1]
	if code, html := b.post("/events/"+ev.ID, "/verifications/"+vid+"/complete", url.Values{}); code != 200 || !strings.Contains(html, "確認できました: 山田　太郎") {
		t.Fatalf("complete: %d %s", code, html)
	}
	if code, html := b.post("/events/"+ev.ID, "/events/"+ev.ID+"/purchase", url.Values{"seat_class": {"GA"}, "quantity": {"2"}}); code != 200 || !strings.Contains(html, "GA-1") {
		t.Fatalf("purchase: %d %s", code, html)
	}
	code, html = b.get("/tickets")
	if code != 200 {
		t.Fatalf("my tickets: HTTP %d", code)
	}
	for _, want := range []string{"Sake Night", "2026-03-02", "Shibuya", "GA-2", "山田　太郎", "不正転売", "/qr.png", `http-equiv="refresh"`} {
		if !strings.Contains(html, want) {
			t.Errorf("my tickets lack %q", want)
		}
	}
	qr := regexp.MustCompile(`src="(/tickets/[^"]+/qr.png)"`).FindStringSubmatch(html)
	if qr == nil {
		t.Fatal("no QR image")
	}
	if resp, err := b.c.Get(srv.URL + qr[1]); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR image: %v %v", resp, err)
	}
	b.lang = "en"
	if _, html := b.get("/tickets"); !strings.Contains(html, "My tickets") || !strings.Contains(html, "changes every 15 seconds") {
		t.Fatalf("English tickets page: %s", html)
	}
	// Over the limit: a clear refusal.
	if code, html := b.post("/events/"+ev.ID, "/events/"+ev.ID+"/purchase", url.Values{"seat_class": {"GA"}, "quantity": {"1"}}); code != 422 || !strings.Contains(html, "Over the limit per person") {
		t.Fatalf("over the limit: %d %s", code, html)
	}
	b.post("/tickets", "/logout", url.Values{})

	// The organiser: token sign-in, the holder's name and the report, no facts.
	if code, _ := b.post("/organiser", "/organiser/login", url.Values{"token": {"tko_wrong"}}); code != 422 {
		t.Fatalf("wrong organiser token: %d", code)
	}
	b.post("/organiser", "/organiser/login", url.Values{"token": {orgTok}})
	code, html = b.get("/organiser/events/" + ev.ID)
	if code != 200 || !strings.Contains(html, "山田　太郎") || strings.Contains(html, "1985") || strings.Contains(html, "千代田") {
		t.Fatalf("organiser event page: %d %s", code, html)
	}
	if resp, err := b.c.Get(srv.URL + "/organiser/events/" + ev.ID + "/report.csv"); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV: %v %v", resp, err)
	}
	// A new lottery from the form; a rule the service refuses comes back on the form.
	if code, html := b.post("/organiser/events/new", "/organiser/events", url.Values{"kind": {"event"}, "name": {"Night"}, "venue": {"Hall"}, "date": {"2026-09-01"},
		"identity": {"login"}, "min_age": {"20"}, "max_per_person": {"2"}, "sale": {"first_come"}, "class": {"A"}, "price": {"1000"}, "capacity": {"5"}}); code != 422 || !strings.Contains(html, "identity-grade") {
		t.Fatalf("an age rule without identity-grade verification: %d %s", code, html)
	}
	if code, html := b.post("/organiser/events/new", "/organiser/events", url.Values{"kind": {"event"}, "name": {"Spring Lottery"}, "venue": {"Hall"}, "date": {"2026-09-01"},
		"identity": {"identity"}, "min_age": {"0"}, "max_per_person": {"2"}, "sale": {"lottery"}, "apply_closes": {"2099-08-01T18:00"}, "pay_hours": {"72"},
		"class": {"A"}, "price": {"1000"}, "capacity": {"5"}}); code != 200 || !strings.Contains(html, "Spring Lottery") || !strings.Contains(html, "Draw the next round") {
		t.Fatalf("create a lottery: %d %s", code, html)
	}
	other, _, _ := s.CreateOrganiser(ctx, "Other")
	oev, _ := s.CreateEvent(ctx, other, ticket.EventRequest{Name: "x", Venue: "y", Date: "2026-03-02", Identity: ticket.IdentityNone, MaxPerPerson: 1, Classes: []ticket.SeatClass{{Name: "A", Price: 1, Capacity: 1}}})
	if code, _ := b.get("/organiser/events/" + oev.ID); code != 404 {
		t.Fatalf("another organiser's event page: HTTP %d", code)
	}
}

// newShop serves the pages over a fresh service with a stand-in platform, an organiser (and its
// token) and an over-20 event limited to two tickets a person.
func newShop(t *testing.T) (*ticket.Service, *tickettest.Platform, *httptest.Server, string, *ticket.Event) {
	t.Helper()
	db, err := ticket.OpenDB(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	plat := tickettest.NewPlatform()
	key := bytes.Repeat([]byte{5}, 32)
	s, err := ticket.New(db, plat, key, ticket.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(s, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	org, orgTok, err := s.CreateOrganiser(ctx, "W TOKYO")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.CreateEvent(ctx, org, ticket.EventRequest{Name: "Sake Night", Venue: "Shibuya", Date: "2026-03-02", Identity: ticket.IdentityFull, MinAge: 20,
		MaxPerPerson: 2, Classes: []ticket.SeatClass{{Name: "GA", Price: 4000, Capacity: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	return s, plat, srv, orgTok, ev
}

// The organiser's form sets require_card (refused on an event without verification); the buyer
// of an identity-grade event registers their card for the gate from the event page, only after
// verifying their identity.
func TestRequireCardAndCardRegistrationPages(t *testing.T) {
	s, plat, srv, orgTok, ev := newShop(t)
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, c: &http.Client{Jar: jar}, base: srv.URL, lang: "en"}
	b.post("/signup", "/signup", url.Values{"name": {"Taro"}, "email": {"taro@example.jp"}, "password": {"correct horse"}})
	code, html := b.get("/events/" + ev.ID)
	if code != 200 || !strings.Contains(html, `name="card" value="1"`) || !strings.Contains(html, "Register my card for the gate") {
		t.Fatalf("event page without the card registration button: %d %s", code, html)
	}
	if code, html := b.post("/events/"+ev.ID, "/events/"+ev.ID+"/verify", url.Values{"card": {"1"}}); code != 409 {
		t.Fatalf("card registration before verifying: %d %s", code, html)
	}
	_, html = b.post("/events/"+ev.ID, "/events/"+ev.ID+"/verify", url.Values{})
	m := regexp.MustCompile(`mynagate reader verify '([^']+)'`).FindStringSubmatch(html)
	if err := plat.Answer(strings.ReplaceAll(m[1], "&amp;", "&"), "sub-taro", map[string]string{"name": "山田　太郎", "birthdate": "1985-04-02", "address": "東京都千代田区"}); err != nil {
		t.Fatal(err)
	}
	vid := regexp.MustCompile(`/verifications/([^/]+)/complete`).FindStringSubmatch(html)[1]
	b.post("/events/"+ev.ID, "/verifications/"+vid+"/complete", url.Values{})
	code, html = b.post("/events/"+ev.ID, "/events/"+ev.ID+"/verify", url.Values{"card": {"1"}})
	m = regexp.MustCompile(`mynagate reader verify '([^']+)'`).FindStringSubmatch(html)
	if code != 200 || m == nil {
		t.Fatalf("card registration page: %d %s", code, html)
	}
	if err := plat.AnswerCard(strings.ReplaceAll(m[1], "&amp;", "&"), "sub-taro", []byte("the card's authentication certificate")); err != nil {
		t.Fatal(err)
	}
	vid = regexp.MustCompile(`/verifications/([^/]+)/complete`).FindStringSubmatch(html)[1]
	if code, html = b.post("/events/"+ev.ID, "/verifications/"+vid+"/complete", url.Values{}); code != 200 || !strings.Contains(html, "Verified: 山田　太郎") {
		t.Fatalf("card registration completed: %d %s", code, html)
	}
	b.post("/tickets", "/logout", url.Values{})

	b.post("/organiser", "/organiser/login", url.Values{"token": {orgTok}})
	form := func(identity, requireCard string) url.Values {
		return url.Values{"kind": {"event"}, "name": {"Gate Night " + identity}, "venue": {"Hall"}, "date": {"2026-09-01"}, "identity": {identity}, "require_card": {requireCard},
			"min_age": {"0"}, "max_per_person": {"2"}, "sale": {"first_come"}, "class": {"A"}, "price": {"1000"}, "capacity": {"5"}}
	}
	if code, html := b.post("/organiser/events/new", "/organiser/events", form("none", "yes")); code != 422 || !strings.Contains(html, "require_card needs an event with identity") {
		t.Fatalf("require_card without verification: %d %s", code, html)
	}
	if code, html := b.post("/organiser/events/new", "/organiser/events", form("login", "maybe")); code != 422 || !strings.Contains(html, "Gate Night login") {
		t.Fatalf("a require_card that is neither yes nor no: %d %s", code, html)
	}
	if code, html := b.post("/organiser/events/new", "/organiser/events", form("identity", "yes")); code != 200 || !strings.Contains(html, "Gate Night identity") {
		t.Fatalf("create an event requiring the card: %d %s", code, html)
	}
	_, home := b.get("/")
	id := regexp.MustCompile(`/events/(evt_[0-9a-f]+)"[^>]*>Gate Night identity`).FindStringSubmatch(home)
	if id == nil {
		t.Fatalf("the new event is not listed: %s", home)
	}
	created, err := s.Event(ctx, id[1])
	if err != nil || !created.RequireCard {
		t.Fatalf("require_card not kept: %+v %v", created, err)
	}
	if _, html := b.get("/events/" + id[1]); !strings.Contains(html, "Required: the holder taps their My Number Card") {
		t.Errorf("the event page does not say the card is required: %s", html)
	}
}

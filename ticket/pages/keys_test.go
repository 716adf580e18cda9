package pages

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/ticket"
	"github.com/mynagate/mynagate/ticket/tickettest"
	"github.com/mynagate/mynagate/web/ui"
	"golang.org/x/crypto/bcrypt"
)

// TestManifestKeySignsNoSession: a session cookie carrying a buyer's valid login, sealed under a
// key made from a gate manifest's code_key (as the pages' secret, or as the cookie key itself), is
// no session: the tickets page sends the browser to sign in. The same cookie sealed under the
// service's own pages key shows the buyer's tickets, so the refusal is the key's doing.
func TestManifestKeySignsNoSession(t *testing.T) {
	db, err := ticket.OpenDB(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	caDER, crlDER := gateTrust(t)
	gatePub, gateKey, _ := ed25519.GenerateKey(rand.Reader)
	secret := bytes.Repeat([]byte{5}, 32)
	s, err := ticket.New(db, tickettest.NewPlatform(), secret, ticket.WithPasswordCost(bcrypt.MinCost),
		ticket.WithGate(gateKey, func(context.Context) ([][]byte, [][]byte, error) { return [][]byte{caDER}, [][]byte{crlDER}, nil }, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(s, secret)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	org, _, err := s.CreateOrganiser(ctx, "W TOKYO")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.CreateEvent(ctx, org, ticket.EventRequest{Name: "Sake Night", Venue: "Shibuya", Date: time.Now().Format(time.DateOnly), Identity: ticket.IdentityNone,
		MaxPerPerson: 2, Classes: []ticket.SeatClass{{Name: "GA", Price: 4000, Capacity: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, "taro@example.jp", "correct horse", "Taro")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purchase(ctx, a, ev.ID, "GA", 1, ""); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Login(ctx, "taro@example.jp", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	env, err := s.GateManifest(ctx, org, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Open(env, gatePub, ev.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// seal makes the cookie of a session signed in with tok, under the cookie key key.
	seal := func(key []byte) *http.Cookie {
		t.Helper()
		u, err := ui.New(ui.Config{Key: key, CookieName: "mynagate_ticket"})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		u.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ui.SessionOf(r).Set("buyer", tok)
			w.WriteHeader(http.StatusNoContent)
		})).ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/", nil)) // loopback: the cookie without __Host-, as srv serves it
		for _, c := range rec.Result().Cookies() {
			if c.Name == "mynagate_ticket" {
				return c
			}
		}
		t.Fatal("no session cookie sealed")
		return nil
	}
	tickets := func(c *http.Cookie) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/tickets", nil)
		req.AddCookie(c)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location") + string(b)
	}
	pagesKey := func(secret []byte) []byte {
		k, err := kdf.New(secret)
		if err != nil {
			t.Fatal(err)
		}
		return k.Key(kdf.TicketPages)
	}

	if code, body := tickets(seal(pagesKey(secret))); code != 200 || !strings.Contains(body, "Sake Night") {
		t.Fatalf("a cookie under the service's pages key: HTTP %d, want the buyer's tickets", code)
	}
	for name, key := range map[string][]byte{"the manifest key as the pages' secret": pagesKey(m.CodeKey), "the manifest key as the cookie key": m.CodeKey} {
		if code, body := tickets(seal(key)); code != http.StatusSeeOther || !strings.HasPrefix(body, "/login") {
			t.Errorf("%s: HTTP %d %.80q, want a redirect to /login", name, code, body)
		}
	}
}

// gateTrust makes a CA certificate and its empty CRL, valid for a day, for gate manifests.
func gateTrust(t *testing.T) (caDER, crlDER []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	if caDER, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key); err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	if crlDER, err = x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour)}, ca, key); err != nil {
		t.Fatal(err)
	}
	return caDER, crlDER
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/ticket"
)

// The demo's ticketing service: a tenant of the demo platform of its own ("Demo Tickets",
// allowed the name, date of birth and address and nothing else), one organiser and three
// offers, on SQLite in the demo's directory. It reaches the platform over HTTP like any relying
// party.

// demoTicket starts the demo's ticketing service on ln and returns the function serving it.
func demoTicket(ctx context.Context, w io.Writer, p *platform.Platform, data, platformURL string, ln net.Listener) (func(context.Context) error, error) {
	keyFile := filepath.Join(data, "ticket-api-key.txt")
	key, err := os.ReadFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		t, err := p.CreateTenant(ctx, "Demo Tickets", []platform.Fact{platform.FactName, platform.FactBirth, platform.FactAddress})
		if err != nil {
			return nil, err
		}
		k, _, err := p.CreateAPIKey(ctx, t.ID, "ticket")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyFile, []byte(k+"\n"), 0o600); err != nil {
			return nil, err
		}
		key = []byte(k)
	} else if err != nil {
		return nil, err
	}
	// The platform's revocation webhooks go to the service (the demo allows loopback targets).
	secretFile := filepath.Join(data, "ticket-webhook-secret.txt")
	secret, err := os.ReadFile(secretFile)
	if errors.Is(err, fs.ErrNotExist) {
		t, err := p.Authenticate(ctx, strings.TrimSpace(string(key)))
		if err != nil {
			return nil, err
		}
		_, sec, err := p.CreateWebhookEndpoint(ctx, t, platform.WebhookEndpointRequest{URL: "http://" + ln.Addr().String() + "/webhooks/platform",
			Description: "demo ticketing: revoked cards", EventTypes: []string{"certificate.revoked"}})
		if err != nil {
			return nil, fmt.Errorf("webhook endpoint of the ticketing service: %w", err)
		}
		if err := os.WriteFile(secretFile, []byte(sec+"\n"), 0o600); err != nil {
			return nil, err
		}
		secret = []byte(sec)
	} else if err != nil {
		return nil, err
	}
	s, h, err := startTicket(ctx, ticketConfig{db: "sqlite:" + filepath.Join(data, "ticket.db"), platformURL: platformURL,
		apiKey: strings.TrimSpace(string(key)), codeKeyFile: filepath.Join(data, "ticket-code.key"), webhookSecret: strings.TrimSpace(string(secret))})
	if err != nil {
		return nil, err
	}
	orgFile := filepath.Join(data, "ticket-organiser-token.txt")
	if _, err := os.Stat(orgFile); errors.Is(err, fs.ErrNotExist) {
		o, tok, err := s.CreateOrganiser(ctx, "W TOKYO (demo)")
		if err != nil {
			return nil, err
		}
		closes := time.Now().Add(7 * 24 * time.Hour).Truncate(time.Hour)
		for _, r := range []ticket.EventRequest{
			{Name: "Girls Collection 2027 S/S", Venue: "国立代々木競技場第一体育館", Date: closes.AddDate(0, 1, 0).Format("2006-01-02"), Identity: ticket.IdentityFull,
				MaxPerPerson: 2, Sale: ticket.SaleLottery, ApplyCloses: closes, PayWindow: 72 * time.Hour,
				Classes: []ticket.SeatClass{{Name: "SS", Price: 15800, Capacity: 100}, {Name: "S", Price: 9800, Capacity: 400}}},
			{Name: "Sake Night (20+)", Venue: "Shibuya Hall", Date: closes.Format("2006-01-02"), Identity: ticket.IdentityFull, MinAge: 20,
				MaxPerPerson: 2, Classes: []ticket.SeatClass{{Name: "GA", Price: 4000, Capacity: 300}}},
			{Kind: "voucher", Name: "千代田区プレミアム商品券", Date: closes.AddDate(0, 3, 0).Format("2006-01-02"), Identity: ticket.IdentityFull,
				Residency: "東京都千代田区", MaxPerPerson: 1, Classes: []ticket.SeatClass{{Name: "10000円券", Price: 8000, Capacity: 1000}}},
		} {
			if _, err := s.CreateEvent(ctx, o, r); err != nil {
				return nil, fmt.Errorf("demo event %s: %w", r.Name, err)
			}
		}
		if err := os.WriteFile(orgFile, []byte(tok+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(w, `
Ticketing (a relying party of the platform, tenant "Demo Tickets") at %[1]s (pages for buyers, and
for organisers at %[1]s/organiser with the token in %[2]s), or through its API:
  curl -s %[1]s/api/events
  curl -s -H 'Content-Type: application/json' -d '{"email":"taro@example.jp","password":"correct horse","name":"Taro"}' %[1]s/api/accounts
  TOK=$(curl -s -H 'Content-Type: application/json' -d '{"email":"taro@example.jp","password":"correct horse"}' %[1]s/api/login | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s -H "Authorization: Bearer $TOK" -X POST %[1]s/api/events/EVENT_ID/verifications    # → holder_url
  mynagate reader verify --card %[3]s/taro.json 'HOLDER_URL'
  curl -s -H "Authorization: Bearer $TOK" -X POST %[1]s/api/verifications/VERIFICATION_ID/complete
  curl -s -H 'Content-Type: application/json' -H "Authorization: Bearer $TOK" -d '{"seat_class":"GA","quantity":2}' %[1]s/api/events/EVENT_ID/purchase
`, base, orgFile, filepath.Join(data, "cards"))
	return func(ctx context.Context) error {
		defer s.DB().Close()
		return serveUntilDone(ctx, ln, h)
	}, nil
}

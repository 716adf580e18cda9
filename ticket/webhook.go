package ticket

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/mynagate/mynagate/webhook"
)

// WithWebhookSecret sets the secret (whsec_…) of the platform's webhook endpoint that sends
// this service certificate.revoked events.
func WithWebhookSecret(secret string) Option { return func(s *Service) { s.webhookSecret = secret } }

// The platform's webhooks: a certificate.revoked event (a card lost, stolen, or replaced) marks
// the person's tickets for re-verification: they get no entry code and the gate refuses them
// until the person verifies again with their current card (which the platform ties to the same
// pairwise id), and their card is no longer registered for the gate (a re-issued card has a new
// certificate, so a new card id: the person registers it again). Messages are verified with package webhook (Standard Webhooks, the platform's
// signing secret) and processed once per webhook-id.

func (s *Service) hWebhook(w http.ResponseWriter, r *http.Request) {
	if s.webhookSecret == "" {
		writeErr(w, r, errf(KindNotFound, "not-found", "no platform webhooks configured"))
		return
	}
	v, err := webhook.NewVerifier(s.webhookSecret)
	if err != nil {
		writeErr(w, r, fmt.Errorf("ticket: webhook secret: %w", err))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeErr(w, r, errf(KindInvalid, "invalid-request", "the body is unreadable or larger than 1 MiB"))
		return
	}
	msg, err := v.Verify(r.Header, body, s.clk.Now())
	if err != nil {
		writeErr(w, r, errf(KindUnauthorized, "bad-signature", "the message is not signed by the platform: %v", err))
		return
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Sub string `json:"sub"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		writeErr(w, r, errf(KindInvalid, "invalid-request", "the event is not JSON: %v", err))
		return
	}
	err = s.db.inTx(r.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(r.Context(), `INSERT INTO webhooks_seen (id, received_at) VALUES ($1, $2)`, msg.ID, s.now())
		if isUnique(err) {
			return errSeen
		}
		if err != nil {
			return err
		}
		if ev.Type == "certificate.revoked" && ev.Data.Sub != "" {
			_, err = tx.ExecContext(r.Context(), `UPDATE persons SET needs_reverify = 1, card_id = NULL WHERE sub = $1`, ev.Data.Sub)
		}
		return err
	})
	if err != nil && err != errSeen {
		writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

var errSeen = fmt.Errorf("ticket: webhook seen")

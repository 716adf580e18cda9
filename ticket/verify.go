package ticket

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mynagate/mynagate/client"
)

// Verification is a verification of a person for an event through the platform: the buyer (or
// their companion) answers its holder URL with their card (mynagate reader verify HOLDER_URL).
type Verification struct {
	ID        string `json:"id"`
	EventID   string `json:"event_id"`
	Purpose   string `json:"purpose"`
	Companion bool   `json:"companion"`
	HolderURL string `json:"holder_url,omitempty"`
	Status    string `json:"status"` // pending, done, failed
	// Eligible and Reason are the decision on the event's rules once done. Reason says which
	// rule refused, never the fact itself.
	Eligible bool   `json:"eligible"`
	Reason   string `json:"reason,omitempty"`
	// Name is the verified name (identity-grade), shown to the verifier's own account.
	Name string `json:"name,omitempty"`
}

// StartVerification opens a platform session to verify the person behind account a (or, when
// companion is set, a companion of theirs) for an event.
func (s *Service) StartVerification(ctx context.Context, a *Account, eventID string, companion bool) (*Verification, error) {
	ev, err := s.Event(ctx, eventID)
	if err != nil {
		return nil, err
	}
	purpose := "identity"
	switch ev.Identity {
	case IdentityNone:
		return nil, errf(KindConflict, "no-verification", "this event checks no identity")
	case IdentityLogin:
		purpose = "login"
	}
	return s.startVerification(ctx, a, ev, purpose, companion)
}

// StartCardRegistration opens a login verification (利用者認証, the card's authentication
// certificate) by which the person behind account a registers their card for the gate of an
// identity-grade event they verified for: the platform gives the service its card id of the
// certificate, which the gate manifests commit to (docs/design/gate.md). On a login-grade
// event the ordinary verification registers the card already.
func (s *Service) StartCardRegistration(ctx context.Context, a *Account, eventID string) (*Verification, error) {
	ev, err := s.Event(ctx, eventID)
	if err != nil {
		return nil, err
	}
	if ev.Identity != IdentityFull {
		return nil, errf(KindConflict, "no-card-registration", "only an identity-grade event registers the card apart; on this event the verification itself does")
	}
	if a.Person == "" {
		return nil, errf(KindConflict, "identity-first", "verify your identity for the event first; the card registered must be that person's")
	}
	return s.startVerification(ctx, a, ev, "login", false)
}

func (s *Service) startVerification(ctx context.Context, a *Account, ev *Event, purpose string, companion bool) (*Verification, error) {
	id, err := s.newID("ver_")
	if err != nil {
		return nil, err
	}
	ps, err := s.plat.CreateSession(ctx, client.SessionRequest{Purpose: purpose, ClientRef: id, IdempotencyKey: id})
	if err != nil {
		return nil, &Error{Kind: KindUnavailable, Reason: "platform-unavailable", Detail: "the identity platform did not open a session: " + err.Error()}
	}
	comp := 0
	if companion {
		comp = 1
	}
	if _, err := s.db.w.ExecContext(ctx, `INSERT INTO verifications (id, account_id, event_id, platform_session, purpose, companion, status, holder_url, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)`, id, a.ID, ev.ID, ps.ID, purpose, comp, ps.HolderURL, s.now()); err != nil {
		return nil, fmt.Errorf("ticket: record verification: %w", err)
	}
	return &Verification{ID: id, EventID: ev.ID, Purpose: purpose, Companion: companion, HolderURL: ps.HolderURL, Status: "pending"}, nil
}

// CompleteVerification reads the platform session of a verification and, when the person
// verified, decides the event's rules from the facts and keeps only the decision and the name:
// the date of birth and the address are not stored. An account verified for itself is bound to
// the person for good; an account cannot become another person.
func (s *Service) CompleteVerification(ctx context.Context, a *Account, id string) (*Verification, error) {
	var v Verification
	var platSession string
	var comp int
	var sub sql.NullString
	err := s.db.w.QueryRowContext(ctx, `SELECT id, event_id, purpose, companion, status, platform_session, sub FROM verifications WHERE id = $1 AND account_id = $2`, id, a.ID).
		Scan(&v.ID, &v.EventID, &v.Purpose, &comp, &v.Status, &platSession, &sub)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errf(KindNotFound, "not-found", "no verification %q of this account", id)
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: verification: %w", err)
	}
	v.Companion = comp == 1
	switch v.Status {
	case "done":
		return s.verificationResult(ctx, &v, sub.String)
	case "failed":
		return nil, errf(KindRefused, "verification-failed", "the verification failed; start a new one")
	}
	ps, err := s.plat.Session(ctx, platSession)
	if err != nil {
		return nil, &Error{Kind: KindUnavailable, Reason: "platform-unavailable", Detail: "the identity platform did not answer: " + err.Error()}
	}
	if ps.Status == "pending" {
		return nil, errf(KindConflict, "verification-pending", "the card has not answered yet: run mynagate reader verify with the holder URL")
	}
	pv := ps.Verification
	if ps.Status != "verified" || pv == nil || pv.Decision != "accepted" || pv.Sub == "" || pv.Purpose != v.Purpose {
		s.db.w.ExecContext(ctx, `UPDATE verifications SET status = 'failed' WHERE id = $1 AND status = 'pending'`, id)
		reason := ps.Status
		if pv != nil && pv.Reason != "" {
			reason = pv.Reason
		}
		return nil, errf(KindRefused, "verification-failed", "the platform did not verify the person (%s)", reason)
	}
	ev, err := s.Event(ctx, v.EventID)
	if err != nil {
		return nil, err
	}
	if ev.Identity == IdentityFull && v.Purpose == "login" {
		return s.completeCardRegistration(ctx, a, &v, pv)
	}
	name := a.Name
	eligible, why := true, ""
	if v.Purpose == "identity" {
		d, err := decide(ev, pv.Facts)
		if err != nil {
			return nil, err
		}
		name, eligible, why = d.name, d.eligible, d.reason
	}
	// From here on only the decision and the name exist; pv.Facts goes out of scope.
	now := s.now()
	err = s.db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE verifications SET status = 'done', sub = $1 WHERE id = $2 AND status = 'pending'`, pv.Sub, id)
		if err != nil {
			return fmt.Errorf("ticket: complete verification: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // completed concurrently; the result is read below
		}
		if v.Purpose == "identity" {
			_, err = tx.ExecContext(ctx, `INSERT INTO persons (sub, name, verified_at, needs_reverify) VALUES ($1, $2, $3, 0)
				ON CONFLICT (sub) DO UPDATE SET name = excluded.name, verified_at = excluded.verified_at, needs_reverify = 0`, pv.Sub, name, now)
		} else {
			// A login verification is made with the card's authentication certificate: its card
			// id is the person's card at the gate from now on.
			_, err = tx.ExecContext(ctx, `INSERT INTO persons (sub, name, verified_at, needs_reverify, card_id) VALUES ($1, $2, $3, 0, $4)
				ON CONFLICT (sub) DO UPDATE SET verified_at = excluded.verified_at, needs_reverify = 0, card_id = excluded.card_id`, pv.Sub, name, now, nullIfEmpty(pv.CardID))
		}
		if err != nil {
			return fmt.Errorf("ticket: record person: %w", err)
		}
		if !v.Companion {
			res, err := tx.ExecContext(ctx, `UPDATE accounts SET person_sub = $1 WHERE id = $2 AND (person_sub IS NULL OR person_sub = $1)`, pv.Sub, a.ID)
			if err != nil {
				return fmt.Errorf("ticket: bind account: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errf(KindRefused, "other-person", "this account belongs to another person; the card presented is not theirs")
			}
		}
		el := 0
		if eligible {
			el = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO eligibility (event_id, sub, eligible, reason, decided_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (event_id, sub) DO UPDATE SET eligible = excluded.eligible, reason = excluded.reason, decided_at = excluded.decided_at`, ev.ID, pv.Sub, el, why, now); err != nil {
			return fmt.Errorf("ticket: record eligibility: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !v.Companion {
		a.Person = pv.Sub
	}
	v.Status = "done"
	return s.verificationResult(ctx, &v, pv.Sub)
}

// completeCardRegistration records the card id of a login verification made for an
// identity-grade event: the person must be the account's own, already verified for the event
// (its eligibility decided by the identity verification, which this one does not change).
// needs_reverify is left as it is: after a revocation the person verifies their identity
// again.
func (s *Service) completeCardRegistration(ctx context.Context, a *Account, v *Verification, pv *client.Verification) (*Verification, error) {
	if v.Companion || a.Person == "" || pv.Sub != a.Person {
		s.db.w.ExecContext(ctx, `UPDATE verifications SET status = 'failed' WHERE id = $1 AND status = 'pending'`, v.ID)
		return nil, errf(KindRefused, "other-person", "the card presented is not the account's person's: register the card you verified your identity with")
	}
	if pv.CardID == "" {
		return nil, errf(KindUnavailable, "platform-unavailable", "the platform gave no card id for the login verification")
	}
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM eligibility WHERE event_id = $1 AND sub = $2`, v.EventID, pv.Sub).Scan(&n); err != nil {
			return fmt.Errorf("ticket: card registration: %w", err)
		}
		if n == 0 {
			return errf(KindConflict, "identity-first", "verify your identity for the event first")
		}
		res, err := tx.ExecContext(ctx, `UPDATE verifications SET status = 'done', sub = $1 WHERE id = $2 AND status = 'pending'`, pv.Sub, v.ID)
		if err != nil {
			return fmt.Errorf("ticket: complete verification: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // completed concurrently
		}
		if _, err := tx.ExecContext(ctx, `UPDATE persons SET card_id = $1 WHERE sub = $2`, pv.CardID, pv.Sub); err != nil {
			return fmt.Errorf("ticket: record card: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.Status = "done"
	return s.verificationResult(ctx, v, pv.Sub)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Service) verificationResult(ctx context.Context, v *Verification, sub string) (*Verification, error) {
	var el int
	err := s.db.w.QueryRowContext(ctx, `SELECT e.eligible, e.reason, p.name FROM eligibility e JOIN persons p ON p.sub = e.sub WHERE e.event_id = $1 AND e.sub = $2`, v.EventID, sub).
		Scan(&el, &v.Reason, &v.Name)
	if err != nil {
		return nil, fmt.Errorf("ticket: verification result: %w", err)
	}
	v.Eligible = el == 1
	return v, nil
}

type decision struct {
	name     string
	eligible bool
	reason   string
}

// decide applies an event's rules to the facts of an identity verification. The reason names
// the rule, not the fact.
func decide(ev *Event, facts map[string]string) (decision, error) {
	d := decision{name: strings.TrimSpace(facts["name"]), eligible: true}
	if d.name == "" {
		return d, errf(KindRefused, "facts-missing", "the platform returned no name: the service's tenant must be allowed the name fact")
	}
	if ev.MinAge > 0 {
		birth, err := time.Parse("2006-01-02", facts["birthdate"])
		if err != nil {
			return d, errf(KindRefused, "facts-missing", "the platform returned no date of birth for the age rule")
		}
		day, _ := time.Parse("2006-01-02", ev.Date)
		if AgeOn(birth, day) < ev.MinAge {
			d.eligible, d.reason = false, fmt.Sprintf("under the minimum age of %d on the event day", ev.MinAge)
		}
	}
	if ev.Residency != "" && d.eligible {
		addr := facts["address"]
		if addr == "" {
			return d, errf(KindRefused, "facts-missing", "the platform returned no address for the residency rule")
		}
		if !strings.HasPrefix(addr, ev.Residency) {
			d.eligible, d.reason = false, "not resident in "+ev.Residency
		}
	}
	return d, nil
}

// AgeOn is the age on day of someone born on birth, as Japanese law reckons it (年齢計算ニ関ス
// ル法律 with Civil Code art. 143): a year of age is completed at the end of the day before the
// birthday, and someone born on 29 February completes it at the end of 28 February in a common
// year, so is a year older from 1 March.
func AgeOn(birth, day time.Time) int {
	age := day.Year() - birth.Year()
	m, d := birth.Month(), birth.Day()
	if m == time.February && d == 29 && !isLeap(day.Year()) {
		m, d = time.March, 1
	}
	if day.Month() < m || (day.Month() == m && day.Day() < d) {
		age--
	}
	return age
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

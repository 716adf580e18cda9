package jlis

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

// Smartphone credentials (スマホ用電子証明書) are issued from a card through the holder's app:
// the phone gets key pairs and certificates of its own for the same resident, linked to the card
// they came from, valid no longer than the card's certificates. One phone per person and per OS
// is active; issuing another revokes the previous one. The holder can suspend (certificateHold)
// and resume a phone credential, or revoke it. Docs: docs/design/jlis.md; sources and
// assumptions: docs/design/jpki-reference.md §12.5.

// CausePhone is the cause of the link from a card's certificate to the phone credential's
// certificate of the same kind issued from it; it revokes nothing and is not a renewal.
const CausePhone Cause = "phone"

// IssuePhone issues a smartphone credential of the medium (android or iphone) from an active
// card whose authentication certificate is valid. The phone's signing certificate is issued only
// when the card has a valid one; both end no later than the card's certificates. A phone of the
// same resident and medium that is still active is revoked (cessationOfOperation).
func (s *Simulator) IssuePhone(ctx context.Context, cf *jpki.CardFile, medium jpki.Medium, authPIN, signPassword string) (*Issued, error) {
	if !medium.IsPhone() {
		return nil, invalidf("medium %q is not a smartphone (android or iphone)", medium)
	}
	if cf == nil || cf.Medium != jpki.MediumCard {
		return nil, invalidf("a smartphone credential is issued from a My Number Card, not from a %s credential", cf.Medium)
	}
	if authPIN == "" {
		authPIN = DefaultAuthPIN
	}
	if signPassword == "" {
		signPassword = DefaultSignPassword
	}
	if err := CheckPIN("auth", authPIN); err != nil {
		return nil, err
	}
	if err := CheckPIN("sign", signPassword); err != nil {
		return nil, err
	}
	authKey, err := s.newKey()
	if err != nil {
		return nil, fmt.Errorf("jlis: generate holder key: %w", err)
	}
	signKey, err := s.newKey()
	if err != nil {
		return nil, fmt.Errorf("jlis: generate holder key: %w", err)
	}
	serial, err := s.randomDigits(15)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &Issued{}
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		st, err := s.lookupCard(ctx, tx, cf)
		if err != nil {
			return err
		}
		now := s.clk.Now()
		today := jpki.DateOf(now.In(jstZone))
		var status, resident string
		if err := tx.QueryRowContext(ctx, `SELECT k.status, r.status FROM card k JOIN resident r ON r.id = k.resident_id WHERE k.id = ?`, st.cardID).Scan(&status, &resident); err != nil {
			return fmt.Errorf("jlis: card status: %w", err)
		}
		switch {
		case st.medium != jpki.MediumCard:
			return invalidf("a smartphone credential is issued from a My Number Card")
		case status != "active" || resident != "living":
			return invalidf("the card is %s (holder %s); a smartphone credential needs a card in use", status, resident)
		case st.auth == nil || st.revoked[*st.auth] || st.lastDay[*st.auth].Before(today):
			return invalidf("the card's authentication certificate is not valid; renew the card first")
		}
		authEnd := st.lastDay[*st.auth]
		// One active phone per person and OS: the previous one goes.
		if err := s.retirePhones(ctx, tx, st.residentID, medium, ReasonCessationOfOperation, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO card (resident_id, serial, medium, issued, expires, parent_card_id) VALUES (?, ?, ?, ?, ?, ?)`,
			st.residentID, serial, string(medium), now.Unix(), authEnd.String(), st.cardID)
		if err != nil {
			return fmt.Errorf("jlis: store phone credential: %w", err)
		}
		phoneID, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("jlis: store phone credential: %w", err)
		}
		pf := *cf
		pf.Medium, pf.CardSerial, pf.CardExpiry = medium, serial, authEnd.String()
		pf.SupportAP, pf.SurfaceAP, pf.Photo, pf.CollationTries, pf.Sign = nil, nil, nil, nil, nil
		pf.SupportPIN = jpki.PIN{Value: DefaultSupportPIN, Tries: jpki.SupportPINTries, MaxTries: jpki.SupportPINTries}
		h := holder{residentID: st.residentID, cardID: phoneID, basic4: st.basic4, municipality: st.municipality, birth: st.birth,
			cardExpiry: authEnd, medium: medium, limit: authEnd}
		slot, authSerial, err := s.issueCert(ctx, tx, h, jpki.KindAuth, authKey, now)
		if err != nil {
			return err
		}
		slot.PIN = jpki.PIN{Value: authPIN, Tries: jpki.AuthPINTries, MaxTries: jpki.AuthPINTries}
		pf.Auth, out.AuthSerial = slot, authSerial
		if err := s.link(ctx, tx, *st.auth, CertRef{CA: string(s.caFor(jpki.KindAuth, medium).name), Serial: authSerial}, CausePhone); err != nil {
			return err
		}
		if st.sign != nil && !st.revoked[*st.sign] && !st.lastDay[*st.sign].Before(today) {
			h.limit = st.lastDay[*st.sign]
			slot, signSerial, err := s.issueCert(ctx, tx, h, jpki.KindSign, signKey, now)
			if err != nil {
				return err
			}
			slot.PIN = jpki.PIN{Value: signPassword, Tries: jpki.SignPINTries, MaxTries: jpki.SignPINTries}
			pf.Sign, out.SignSerial = slot, signSerial
			if err := s.link(ctx, tx, *st.sign, CertRef{CA: string(s.caFor(jpki.KindSign, medium).name), Serial: signSerial}, CausePhone); err != nil {
				return err
			}
		}
		out.Card, out.ResidentID, out.CardID, out.Municipality = &pf, st.residentID, phoneID, st.municipality
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// retirePhones revokes the certificates of the resident's active phone credentials of a medium
// and marks them returned.
func (s *Simulator) retirePhones(ctx context.Context, tx *sql.Tx, residentID int64, medium jpki.Medium, reason Reason, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT c.ca, c.serial FROM cert c JOIN card k ON k.id = c.card_id
		WHERE k.resident_id = ? AND k.medium = ? AND k.status IN ('active', 'suspended') AND c.revoked_at IS NULL`, residentID, string(medium))
	if err != nil {
		return fmt.Errorf("jlis: find phone credentials: %w", err)
	}
	var refs []CertRef
	for rows.Next() {
		var r CertRef
		if err := rows.Scan(&r.CA, &r.Serial); err != nil {
			rows.Close()
			return fmt.Errorf("jlis: find phone credentials: %w", err)
		}
		refs = append(refs, r)
	}
	rows.Close()
	for _, r := range refs {
		if err := s.revokeTx(ctx, tx, r, reason, time.Time{}); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE card SET status = 'returned' WHERE resident_id = ? AND medium = ? AND status IN ('active', 'suspended')`, residentID, string(medium)); err != nil {
		return fmt.Errorf("jlis: retire phone credential: %w", err)
	}
	return nil
}

// PhoneAction is what the holder does with a phone credential.
type PhoneAction string

// Phone actions.
const (
	PhoneSuspend PhoneAction = "suspend" // 一時停止: the certificates are put on hold (certificateHold)
	PhoneResume  PhoneAction = "resume"  // the hold is released (the entries leave the next CRL)
	PhoneRevoke  PhoneAction = "revoke"  // 失効: cessationOfOperation, for good
)

// ChangePhone suspends, resumes or revokes a smartphone credential.
func (s *Simulator) ChangePhone(ctx context.Context, pf *jpki.CardFile, action PhoneAction) error {
	if pf == nil || !pf.Medium.IsPhone() {
		return invalidf("not a smartphone credential")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		st, err := s.lookupCard(ctx, tx, pf)
		if err != nil {
			return err
		}
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM card WHERE id = ?`, st.cardID).Scan(&status); err != nil {
			return fmt.Errorf("jlis: phone status: %w", err)
		}
		var refs []CertRef
		for _, r := range []*CertRef{st.auth, st.sign} {
			if r != nil {
				refs = append(refs, *r)
			}
		}
		now := s.clk.Now()
		switch {
		case action == PhoneSuspend && status == "active":
			for _, r := range refs {
				if err := s.revokeTx(ctx, tx, r, ReasonCertificateHold, time.Time{}); err != nil && !errors.Is(err, ErrAlreadyRevoked) {
					return err
				}
			}
			return setCardStatus(ctx, tx, st.cardID, "suspended")
		case action == PhoneResume && status == "suspended":
			for _, r := range refs {
				if _, err := tx.ExecContext(ctx, `UPDATE cert SET revoked_at = NULL, reason = NULL, invalidity = NULL WHERE ca = ? AND serial = ? AND reason = ?`,
					r.CA, r.Serial, int(ReasonCertificateHold)); err != nil {
					return fmt.Errorf("jlis: release hold: %w", err)
				}
				if _, err := tx.ExecContext(ctx, `UPDATE ca SET dirty = 1 WHERE name = ?`, r.CA); err != nil {
					return fmt.Errorf("jlis: mark CRL dirty: %w", err)
				}
			}
			return setCardStatus(ctx, tx, st.cardID, "active")
		case action == PhoneRevoke && (status == "active" || status == "suspended"):
			for _, r := range refs {
				// a held certificate is revoked for good: its reason becomes cessationOfOperation
				if _, err := tx.ExecContext(ctx, `UPDATE cert SET revoked_at = ?, reason = ? WHERE ca = ? AND serial = ? AND (revoked_at IS NULL OR reason = ?)`,
					now.Unix(), int(ReasonCessationOfOperation), r.CA, r.Serial, int(ReasonCertificateHold)); err != nil {
					return fmt.Errorf("jlis: revoke phone credential: %w", err)
				}
				if _, err := tx.ExecContext(ctx, `UPDATE ca SET dirty = 1 WHERE name = ?`, r.CA); err != nil {
					return fmt.Errorf("jlis: mark CRL dirty: %w", err)
				}
			}
			return setCardStatus(ctx, tx, st.cardID, "returned")
		}
		if status == "returned" {
			status = "revoked or replaced"
		}
		return invalidf("cannot %s a smartphone credential that is %s", action, status)
	})
}

func setCardStatus(ctx context.Context, tx *sql.Tx, id int64, status string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE card SET status = ? WHERE id = ?`, status, id); err != nil {
		return fmt.Errorf("jlis: card status: %w", err)
	}
	return nil
}

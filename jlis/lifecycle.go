package jlis

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

// Reason is an RFC 5280 CRLReason code.
type Reason int

// The CRL reasons J-LIS uses, with their meaning in JPKI (REFERENCE §6).
const (
	ReasonUnspecified          Reason = 0 // 交付前に破棄 (discarded before handing over)
	ReasonKeyCompromise        Reason = 1 // 秘密鍵の危殆化 (key compromise; a lost card)
	ReasonCACompromise         Reason = 2
	ReasonAffiliationChanged   Reason = 3 // 証明書の記載内容に変更 (move, name change, death)
	ReasonSuperseded           Reason = 4 // 更新 (renewal)
	ReasonCessationOfOperation Reason = 5 // 使用しなくなった (holder's request, card returned)
	ReasonCertificateHold      Reason = 6 // 一時保留 (never released)
)

// String returns the RFC 5280 name of the reason.
func (r Reason) String() string {
	names := []string{"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold"}
	if r >= 0 && int(r) < len(names) {
		return names[r]
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Cause is why a certificate is revoked, in the simulator's vocabulary; it maps to a Reason.
type Cause string

// Causes of revocation.
const (
	CauseHolderRequest Cause = "holder-request" // the holder asks (online or at the office)
	CauseLost          Cause = "lost"           // card lost or stolen
	CauseMove          Cause = "move"           // 異動: change of address
	CauseNameChange    Cause = "name-change"    // 異動: change of name (or other basic 4 fact)
	CauseDeath         Cause = "death"          // 死亡
	CauseRenewal       Cause = "renewal"        // 更新: replaced by a renewed certificate
	CauseReissue       Cause = "reissue"        // the card was replaced by a new card
	CauseDiscarded     Cause = "discarded"      // 交付前に破棄
	CauseRecordError   Cause = "record-error"   // 記録誤り
	CauseCACompromise  Cause = "ca-compromise"
	CauseHold          Cause = "hold" // 一時保留
	// CauseSignReissue is the cause of the link from a revoked signing certificate to the one
	// the holder applied for later (after a move, or on reaching 15); it revokes nothing.
	CauseSignReissue Cause = "sign-reissue"
)

// Causes lists every cause, for help texts.
var Causes = []Cause{CauseHolderRequest, CauseLost, CauseMove, CauseNameChange, CauseDeath, CauseRenewal, CauseReissue, CauseDiscarded, CauseRecordError, CauseCACompromise, CauseHold}

// ParseCause parses a cause name.
func ParseCause(s string) (Cause, error) {
	for _, c := range Causes {
		if string(c) == s {
			return c, nil
		}
	}
	return "", invalidf("revocation cause %q is not one of %v", s, Causes)
}

// reason maps a cause to the CRL reason for a kind of certificate.
func (c Cause) reason(kind jpki.Kind) Reason {
	switch c {
	case CauseLost:
		return ReasonKeyCompromise
	case CauseMove, CauseNameChange, CauseRecordError:
		return ReasonAffiliationChanged
	case CauseDeath:
		if kind == jpki.KindSign {
			return ReasonAffiliationChanged
		}
		return ReasonCessationOfOperation
	case CauseRenewal:
		return ReasonSuperseded
	case CauseDiscarded:
		return ReasonUnspecified
	case CauseCACompromise:
		return ReasonCACompromise
	case CauseHold:
		return ReasonCertificateHold
	}
	return ReasonCessationOfOperation
}

// ErrAlreadyRevoked is returned when revoking a certificate that is already revoked. Nothing is
// changed; HTTP answers 409.
var ErrAlreadyRevoked = fmt.Errorf("%w: certificate already revoked", ErrInvalid)

// CertRef names a certificate by its CA and serial number.
type CertRef struct {
	CA     string `json:"ca"`
	Serial int64  `json:"serial"`
}

// String formats the reference as ca/serial (serial in hex, as tools print serials).
func (r CertRef) String() string { return fmt.Sprintf("%s/%X", r.CA, r.Serial) }

// RefOf finds which of the simulator's CAs issued the certificate, checking the signature, and
// returns its reference.
func (s *Simulator) RefOf(der []byte) (CertRef, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return CertRef{}, invalidf("certificate does not parse: %v", err)
	}
	s.casMu.RLock()
	defer s.casMu.RUnlock()
	for _, a := range s.cas {
		if !bytes.Equal(c.AuthorityKeyId, a.cert.SubjectKeyId) || c.CheckSignatureFrom(a.cert) != nil {
			continue
		}
		if !c.SerialNumber.IsInt64() {
			return CertRef{}, invalidf("serial %X is out of range", c.SerialNumber)
		}
		return CertRef{CA: string(a.name), Serial: c.SerialNumber.Int64()}, nil
	}
	return CertRef{}, fmt.Errorf("%w: certificate was not issued by this simulator", ErrNotFound)
}

// Revoke revokes one certificate. invalidity, when not zero, is recorded as the invalidity date
// (when the key is known or suspected to have become unusable, e.g. when a card was lost).
func (s *Simulator) Revoke(ctx context.Context, ref CertRef, cause Cause, invalidity time.Time) error {
	if _, err := s.authority(ref.CA); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		var kind string
		if err := tx.QueryRowContext(ctx, `SELECT kind FROM cert WHERE ca = ? AND serial = ?`, ref.CA, ref.Serial).Scan(&kind); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: certificate %s", ErrNotFound, ref)
			}
			return fmt.Errorf("jlis: look up %s: %w", ref, err)
		}
		return s.revokeTx(ctx, tx, ref, cause.reason(jpki.Kind(kind)), invalidity)
	})
}

// revokeTx marks a certificate revoked, guarded in SQL so a certificate is revoked once.
func (s *Simulator) revokeTx(ctx context.Context, tx *sql.Tx, ref CertRef, reason Reason, invalidity time.Time) error {
	var inv any
	if !invalidity.IsZero() {
		inv = invalidity.Unix()
	}
	res, err := tx.ExecContext(ctx, `UPDATE cert SET revoked_at = ?, reason = ?, invalidity = ? WHERE ca = ? AND serial = ? AND revoked_at IS NULL`,
		s.clk.Now().Unix(), int(reason), inv, ref.CA, ref.Serial)
	if err != nil {
		return fmt.Errorf("jlis: revoke %s: %w", ref, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM cert WHERE ca = ? AND serial = ?`, ref.CA, ref.Serial).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: certificate %s", ErrNotFound, ref)
		}
		return fmt.Errorf("%w: %s", ErrAlreadyRevoked, ref)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ca SET dirty = 1 WHERE name = ?`, ref.CA); err != nil {
		return fmt.Errorf("jlis: mark CRL dirty: %w", err)
	}
	return nil
}

// cardState is what the simulator knows of the card a card file stands for.
type cardState struct {
	cardID, residentID int64
	auth, sign         *CertRef // the card's latest certificates (nil: none of that kind)
	revoked            map[CertRef]bool
	lastDay            map[CertRef]jpki.Date // JST day of each latest certificate's notAfter
	stayUntil          jpki.Date
	medium             jpki.Medium
	expiry             jpki.Date
	basic4             jpki.Basic4
	municipality       Municipality
	birth              jpki.Date
}

// lookupCard finds the card of a card file by its authentication certificate.
func (s *Simulator) lookupCard(ctx context.Context, q *sql.Tx, cf *jpki.CardFile) (*cardState, error) {
	if cf == nil || cf.Auth == nil {
		return nil, invalidf("card file has no authentication certificate")
	}
	ref, err := s.RefOf(cf.Auth.Cert)
	if err != nil {
		return nil, err
	}
	st := &cardState{revoked: map[CertRef]bool{}, lastDay: map[CertRef]jpki.Date{}}
	var expires, b4JSON, medium, stay string
	err = q.QueryRowContext(ctx, `SELECT c.card_id, c.resident_id, k.medium, k.expires, r.basic4, r.stay_until FROM cert c JOIN card k ON k.id = c.card_id JOIN resident r ON r.id = c.resident_id WHERE c.ca = ? AND c.serial = ?`,
		ref.CA, ref.Serial).Scan(&st.cardID, &st.residentID, &medium, &expires, &b4JSON, &stay)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: card of certificate %s", ErrNotFound, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("jlis: look up card: %w", err)
	}
	st.medium = jpki.Medium(medium)
	if stay != "" {
		if st.stayUntil, err = jpki.ParseDate(stay); err != nil {
			return nil, fmt.Errorf("jlis: period of stay in database: %w", err)
		}
	}
	if st.expiry, err = jpki.ParseDate(expires); err != nil {
		return nil, fmt.Errorf("jlis: card expiry in database: %w", err)
	}
	if err := json.Unmarshal([]byte(b4JSON), &st.basic4); err != nil {
		return nil, fmt.Errorf("jlis: resident in database: %w", err)
	}
	st.birth = st.basic4.Birth
	if st.municipality, err = LookupMunicipality(st.basic4.Address); err != nil {
		return nil, err
	}
	// The latest certificate of each kind is the one no link replaces.
	rows, err := q.QueryContext(ctx, `SELECT ca, serial, kind, revoked_at IS NOT NULL, not_after FROM cert c WHERE card_id = ?
		AND NOT EXISTS (SELECT 1 FROM link l WHERE l.old_ca = c.ca AND l.old_serial = c.serial AND l.cause <> 'phone')`, st.cardID)
	if err != nil {
		return nil, fmt.Errorf("jlis: list card certificates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r CertRef
		var kind string
		var revoked bool
		var notAfter int64
		if err := rows.Scan(&r.CA, &r.Serial, &kind, &revoked, &notAfter); err != nil {
			return nil, fmt.Errorf("jlis: list card certificates: %w", err)
		}
		st.revoked[r] = revoked
		st.lastDay[r] = dateOfEnd(time.Unix(notAfter, 0))
		if jpki.Kind(kind) == jpki.KindSign {
			st.sign = &r
		} else {
			st.auth = &r
		}
	}
	return st, rows.Err()
}

// link records that new replaces old.
func (s *Simulator) link(ctx context.Context, tx *sql.Tx, old, new CertRef, cause Cause) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO link (old_ca, old_serial, new_ca, new_serial, cause, at) VALUES (?, ?, ?, ?, ?, ?)`,
		old.CA, old.Serial, new.CA, new.Serial, string(cause), s.clk.Now().Unix()); err != nil {
		return fmt.Errorf("jlis: store renewal link: %w", err)
	}
	return nil
}

// ChangeOption modifies Change.
type ChangeOption func(*changeOpts)

type changeOpts struct{ signPassword string }

// WithNewSigningCertificate has the holder apply for a new signing certificate in the same
// visit to the counter, with a new signing password (the old one goes with the old key).
func WithNewSigningCertificate(password string) ChangeOption {
	return func(o *changeOpts) { o.signPassword = password }
}

// Change records a change of the basic 4 facts (a move, a change of name or of sex): the
// resident record and the card's basic 4 facts are updated and the card's signing certificate is
// revoked (affiliationChanged). The authentication certificate carries no personal data and
// stays valid. Nothing replaces the signing certificate unless the holder applies for one —
// WithNewSigningCertificate for the same visit, ReissueSign any time later; until then the card
// keeps the revoked certificate. The returned card file is cf with the new facts.
func (s *Simulator) Change(ctx context.Context, cf *jpki.CardFile, next jpki.Basic4, cause Cause, opts ...ChangeOption) (*jpki.CardFile, error) {
	var o changeOpts
	for _, f := range opts {
		f(&o)
	}
	if cause != CauseMove && cause != CauseNameChange && cause != CauseRecordError {
		return nil, invalidf("a change of basic 4 facts has cause move, name-change or record-error, not %s", cause)
	}
	if err := next.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	m, err := LookupMunicipality(next.Address)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var key *rsa.PrivateKey
	if o.signPassword != "" {
		if err := CheckPIN("sign", o.signPassword); err != nil {
			return nil, err
		}
		if key, err = s.newKey(); err != nil {
			return nil, fmt.Errorf("jlis: generate holder key: %w", err)
		}
	}
	// The municipality rewrites the 券面事項入力補助AP with the new facts, signed anew; signed
	// first, so that a failure leaves J-LIS unchanged.
	signed := *cf
	signed.Basic4 = next
	if err := s.signSupportAP(ctx, &signed); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := *cf
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		st, err := s.lookupCard(ctx, tx, cf)
		if err != nil {
			return err
		}
		if next == st.basic4 {
			return invalidf("the new basic 4 facts are the same as the recorded ones")
		}
		b4JSON, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("jlis: encode resident: %w", err)
		}
		now := s.clk.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE resident SET basic4 = ?, municipality = ?, updated = ? WHERE id = ?`, string(b4JSON), m.Code, now.Unix(), st.residentID); err != nil {
			return fmt.Errorf("jlis: update resident: %w", err)
		}
		out.Basic4 = next
		out.MunicipalityCode = m.Code
		if st.sign != nil && !st.revoked[*st.sign] {
			if err := s.revokeTx(ctx, tx, *st.sign, cause.reason(jpki.KindSign), time.Time{}); err != nil {
				return err
			}
			st.revoked[*st.sign] = true
		}
		if key == nil {
			return nil
		}
		st.basic4, st.municipality = next, m
		slot, err := s.reissueSignTx(ctx, tx, st, key, o.signPassword, now)
		if err != nil {
			return err
		}
		out.Sign = slot
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.SupportAP = signed.SupportAP
	return &out, nil
}

// ReissueSign issues a new signing certificate on a card whose signing certificate was revoked
// or has expired, or that never had one (a holder who has turned 15): the holder applies at the
// municipal counter and sets a new signing password. The card gets a new key; the new
// certificate ends no later than the card's authentication certificate and is linked from the
// revoked one (cause sign-reissue), so a relying party that knew the holder by the old
// certificate finds the new one. A card whose signing certificate is still valid is refused.
func (s *Simulator) ReissueSign(ctx context.Context, cf *jpki.CardFile, password string) (*jpki.CardFile, error) {
	if err := CheckPIN("sign", password); err != nil {
		return nil, err
	}
	key, err := s.newKey()
	if err != nil {
		return nil, fmt.Errorf("jlis: generate holder key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := *cf
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		st, err := s.lookupCard(ctx, tx, cf)
		if err != nil {
			return err
		}
		slot, err := s.reissueSignTx(ctx, tx, st, key, password, s.clk.Now())
		if err != nil {
			return err
		}
		out.Sign = slot
		out.Basic4, out.MunicipalityCode = st.basic4, st.municipality.Code
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func (s *Simulator) reissueSignTx(ctx context.Context, tx *sql.Tx, st *cardState, key *rsa.PrivateKey, password string, now time.Time) (*jpki.KeySlot, error) {
	today := jpki.DateOf(now.In(jstZone))
	var status, resident string
	if err := tx.QueryRowContext(ctx, `SELECT k.status, r.status FROM card k JOIN resident r ON r.id = k.resident_id WHERE k.id = ?`, st.cardID).Scan(&status, &resident); err != nil {
		return nil, fmt.Errorf("jlis: card status: %w", err)
	}
	switch {
	case status != "active":
		return nil, invalidf("the card is %s; a signing certificate goes only onto a card in use", status)
	case resident != "living":
		return nil, invalidf("the holder is recorded as %s", resident)
	case st.birth.AgeAt(today) < signingMinAge:
		return nil, invalidf("the holder is %d; a signing certificate is issued from %d", st.birth.AgeAt(today), signingMinAge)
	case st.auth == nil || st.revoked[*st.auth] || st.lastDay[*st.auth].Before(today):
		return nil, invalidf("the card has no valid authentication certificate; renew or re-issue the card instead")
	case st.sign != nil && !st.revoked[*st.sign] && !st.lastDay[*st.sign].Before(today):
		return nil, invalidf("the signing certificate %s is still valid (until %s); it is replaced only after a revocation or on renewal", *st.sign, st.lastDay[*st.sign])
	}
	h := holder{residentID: st.residentID, cardID: st.cardID, basic4: st.basic4, municipality: st.municipality, birth: st.birth,
		cardExpiry: st.expiry, medium: st.medium, limit: st.lastDay[*st.auth]}
	slot, serial, err := s.issueCert(ctx, tx, h, jpki.KindSign, key, now)
	if err != nil {
		return nil, err
	}
	slot.PIN = jpki.PIN{Value: password, Tries: jpki.SignPINTries, MaxTries: jpki.SignPINTries}
	if st.sign != nil {
		if err := s.link(ctx, tx, *st.sign, CertRef{CA: st.sign.CA, Serial: serial}, CauseSignReissue); err != nil {
			return nil, err
		}
	}
	return slot, nil
}

// Renew issues new key pairs and certificates on the same card (更新), revokes the old
// certificates as superseded and links old to new.
func (s *Simulator) Renew(ctx context.Context, cf *jpki.CardFile) (*jpki.CardFile, error) {
	return s.replace(ctx, cf, false, CauseRenewal)
}

// Reissue replaces the card with a new one (再交付): a new card serial, new keys and
// certificates; the old card's certificates are revoked (keyCompromise when lost, else
// cessationOfOperation) and linked to the new ones.
func (s *Simulator) Reissue(ctx context.Context, cf *jpki.CardFile, lost bool) (*jpki.CardFile, error) {
	cause := CauseReissue
	if lost {
		cause = CauseLost
	}
	return s.replace(ctx, cf, true, cause)
}

func (s *Simulator) replace(ctx context.Context, cf *jpki.CardFile, newCard bool, cause Cause) (*jpki.CardFile, error) {
	keys := map[jpki.Kind]*rsa.PrivateKey{}
	for _, k := range []jpki.Kind{jpki.KindAuth, jpki.KindSign} {
		key, err := s.newKey()
		if err != nil {
			return nil, fmt.Errorf("jlis: generate holder key: %w", err)
		}
		keys[k] = key
	}
	var cardSerial string
	if newCard {
		var err error
		if cardSerial, err = s.randomDigits(15); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := *cf
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		st, err := s.lookupCard(ctx, tx, cf)
		if err != nil {
			return err
		}
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM card WHERE id = ?`, st.cardID).Scan(&status); err != nil {
			return fmt.Errorf("jlis: card status: %w", err)
		}
		if status != "active" && !(newCard && status == "lost") {
			return invalidf("card %s is %s", cf.CardSerial, status)
		}
		now := s.clk.Now()
		today := jpki.DateOf(now.In(jstZone))
		cardID, expiry := st.cardID, st.expiry
		timely := false
		if newCard {
			if !st.stayUntil.IsZero() && !today.Before(st.stayUntil) {
				return invalidf("the holder's period of stay ended on %s; a new card needs it extended first", st.stayUntil)
			}
			expiry = cardExpiry(st.birth, today, st.stayUntil)
			oldStatus := "returned"
			if cause == CauseLost {
				oldStatus = "lost"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE card SET status = ? WHERE id = ?`, oldStatus, st.cardID); err != nil {
				return fmt.Errorf("jlis: retire card: %w", err)
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO card (resident_id, serial, medium, issued, expires) VALUES (?, ?, ?, ?, ?)`,
				st.residentID, cardSerial, string(st.medium), now.Unix(), expiry.String())
			if err != nil {
				return fmt.Errorf("jlis: store card: %w", err)
			}
			if cardID, err = res.LastInsertId(); err != nil {
				return fmt.Errorf("jlis: store card: %w", err)
			}
			out.CardSerial, out.CardExpiry = cardSerial, expiry.String()
		} else {
			if !today.Before(expiry) {
				return invalidf("card %s expired on %s; it must be re-issued, not renewed", cf.CardSerial, expiry)
			}
			// A valid authentication certificate is renewed only in its renewal window; one
			// renewed there runs to the 6th birthday. After it expired (or was revoked) the
			// holder may apply any time, and gets the 5th.
			if st.auth != nil && !st.revoked[*st.auth] {
				last := st.lastDay[*st.auth]
				opens := renewalOpens(last)
				if today.Before(opens) {
					return invalidf("the certificates of card %s expire on %s; renewal is possible from %s (3 months before), not on %s",
						cf.CardSerial, last, opens, today)
				}
				timely = !last.Before(today)
			}
		}
		h := holder{residentID: st.residentID, cardID: cardID, basic4: st.basic4, municipality: st.municipality, birth: st.birth, cardExpiry: expiry, medium: st.medium, timely: timely}
		out.Basic4, out.MunicipalityCode = st.basic4, st.municipality.Code
		for _, k := range []jpki.Kind{jpki.KindAuth, jpki.KindSign} {
			old := st.auth
			prev := cf.Auth
			if k == jpki.KindSign {
				old, prev = st.sign, cf.Sign
				if st.birth.AgeAt(today) < signingMinAge {
					continue
				}
			}
			if old != nil && !st.revoked[*old] {
				if err := s.revokeTx(ctx, tx, *old, cause.reason(k), invalidityFor(cause, now)); err != nil {
					return err
				}
			}
			hk := h
			if k == jpki.KindSign {
				hk.limit = dateOfEnd(mustNotAfter(out.Auth.Cert)) // the auth certificate was issued first
			}
			slot, serial, err := s.issueCert(ctx, tx, hk, k, keys[k], now)
			if err != nil {
				return err
			}
			pin := jpki.PIN{Value: DefaultAuthPIN, MaxTries: jpki.AuthPINTries}
			if k == jpki.KindSign {
				pin = jpki.PIN{Value: DefaultSignPassword, MaxTries: jpki.SignPINTries}
			}
			if prev != nil {
				pin.Value = prev.PIN.Value
			}
			pin.Tries = pin.MaxTries
			slot.PIN = pin
			if k == jpki.KindSign {
				out.Sign = slot
			} else {
				out.Auth = slot
			}
			if old != nil {
				if err := s.link(ctx, tx, *old, CertRef{CA: old.CA, Serial: serial}, cause); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if newCard {
		if err := s.signSupportAP(ctx, &out); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

func invalidityFor(c Cause, now time.Time) time.Time {
	if c == CauseLost {
		return now
	}
	return time.Time{}
}

// RevokeCard revokes the card's valid certificates of the given kinds (both when none are
// given): for the holder's request, a lost card, the return of the card, or the holder's death
// (the resident is then recorded as deceased). invalidity, when not zero, is recorded as the
// invalidity date; a lost card without one gets the time of the report.
func (s *Simulator) RevokeCard(ctx context.Context, cf *jpki.CardFile, cause Cause, invalidity time.Time, kinds ...jpki.Kind) ([]CertRef, error) {
	if len(kinds) == 0 {
		kinds = []jpki.Kind{jpki.KindAuth, jpki.KindSign}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var done []CertRef
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		st, err := s.lookupCard(ctx, tx, cf)
		if err != nil {
			return err
		}
		now := s.clk.Now()
		for _, k := range kinds {
			ref := st.auth
			if k == jpki.KindSign {
				ref = st.sign
			}
			if ref == nil || st.revoked[*ref] {
				continue
			}
			inv := invalidity
			if inv.IsZero() {
				inv = invalidityFor(cause, now)
			}
			if err := s.revokeTx(ctx, tx, *ref, cause.reason(k), inv); err != nil {
				return err
			}
			done = append(done, *ref)
		}
		if len(done) == 0 {
			return invalidf("card %s has no valid certificate of the kinds %v to revoke", cf.CardSerial, kinds)
		}
		switch cause {
		case CauseDeath:
			if _, err := tx.ExecContext(ctx, `UPDATE resident SET status = 'deceased', updated = ? WHERE id = ?`, now.Unix(), st.residentID); err != nil {
				return fmt.Errorf("jlis: record death: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE card SET status = 'returned' WHERE id = ? AND status = 'active'`, st.cardID); err != nil {
				return fmt.Errorf("jlis: retire card: %w", err)
			}
		case CauseLost:
			if _, err := tx.ExecContext(ctx, `UPDATE card SET status = 'lost' WHERE id = ?`, st.cardID); err != nil {
				return fmt.Errorf("jlis: retire card: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}

package ticket

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rotating ticket codes. The holder's page shows a QR code of
//
//	MGT1.<ticket id>.<step>.<mac>
//
// where step = floor(unix seconds / 15) and mac = the first 16 bytes of HMAC-SHA256(code key,
// "mynagate-ticket-code-v1" 0x00 ticket id 0x00 generation (8 bytes BE) step (8 bytes BE)),
// base64url without padding. The code key is the kdf.TicketCodes key of the service's secret:
// the nodes and the gates (in their manifests) hold it, and it keys nothing else; the holder
// only ever sees codes. A code is accepted during its step and the steps
// either side (±15 s of clock skew and scanning time), so a screenshot is worthless within
// about 30 s. The generation grows at each resale, so the seller's codes die at once.

// CodeStep is how long a code lasts.
const CodeStep = 15 * time.Second

const codePrefix = "MGT1."

func (s *Service) mac(ticketID string, generation, step int64) string {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte("mynagate-ticket-code-v1\x00"))
	m.Write([]byte(ticketID))
	m.Write([]byte{0})
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(generation))
	binary.BigEndian.PutUint64(b[8:], uint64(step))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func stepOf(t time.Time) int64 { return t.Unix() / int64(CodeStep/time.Second) }

// Code returns the current code of a ticket held by account a, and when it stops being current.
func (s *Service) Code(ctx context.Context, a *Account, ticketID string) (string, time.Time, error) {
	var status string
	var gen int64
	var rev int
	err := s.db.r.QueryRowContext(ctx, `SELECT t.status, t.generation, COALESCE(p.needs_reverify, 0) FROM tickets t LEFT JOIN persons p ON p.sub = substr(t.holder, 5)
		WHERE t.id = $1 AND t.account_id = $2`, ticketID, a.ID).Scan(&status, &gen, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, errf(KindNotFound, "not-found", "no ticket %q of this account", ticketID)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("ticket: code: %w", err)
	}
	if status != "valid" {
		return "", time.Time{}, errf(KindConflict, "no-code", "a %s ticket has no entry code", status)
	}
	if rev == 1 {
		return "", time.Time{}, errf(KindRefused, "reverify-required", "the holder's card was revoked: verify again before entry")
	}
	now := s.clk.Now()
	step := stepOf(now)
	return codePrefix + ticketID + "." + strconv.FormatInt(step, 10) + "." + s.mac(ticketID, gen, step), time.Unix((step+1)*int64(CodeStep/time.Second), 0), nil
}

// Admission is the gate's answer to a code: admitted or not, why not, and what the lane staff
// compare with the card — the holder's name.
type Admission struct {
	OK         bool   `json:"ok"`
	Reason     string `json:"reason,omitempty"`
	Ticket     string `json:"ticket,omitempty"`
	HolderName string `json:"holder_name,omitempty"`
	Seat       string `json:"seat,omitempty"`
}

// Check checks a scanned code for an event of organiser o; with admit, a valid code also admits
// the ticket, once.
func (s *Service) Check(ctx context.Context, o *Organiser, eventID, code string, admit bool) (*Admission, error) {
	no := func(r string) (*Admission, error) { return &Admission{Reason: r}, nil }
	if _, err := s.ownEvent(ctx, o, eventID); err != nil {
		return nil, err
	}
	parts := strings.Split(strings.TrimPrefix(code, codePrefix), ".")
	if !strings.HasPrefix(code, codePrefix) || len(code) > 200 || len(parts) != 3 {
		return no("malformed")
	}
	ticketID, mac := parts[0], parts[2]
	step, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return no("malformed")
	}
	now := stepOf(s.clk.Now())
	if step < now-1 || step > now+1 {
		return no("expired")
	}
	var t Admission
	var evID, status, seatClass string
	var gen, seat int64
	var rev int
	var admitted sql.NullInt64
	err = s.db.w.QueryRowContext(ctx, `SELECT t.event_id, t.status, t.generation, t.holder_name, c.name, t.seat_no, t.admitted_at, COALESCE(p.needs_reverify, 0)
		FROM tickets t JOIN seat_classes c ON c.id = t.seat_class_id LEFT JOIN persons p ON p.sub = substr(t.holder, 5) WHERE t.id = $1`, ticketID).
		Scan(&evID, &status, &gen, &t.HolderName, &seatClass, &seat, &admitted, &rev)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && evID != eventID) {
		return no("unknown-ticket")
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: check: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(mac), []byte(s.mac(ticketID, gen, step))) != 1 {
		return no("bad-code") // forged, or the code of a former holder
	}
	t.Ticket, t.Seat = ticketID, fmt.Sprintf("%s-%d", seatClass, seat)
	switch {
	case status != "valid":
		t.Reason = "ticket-" + status
	case rev == 1:
		t.Reason = "reverify-required"
	case admitted.Valid:
		t.Reason = "already-admitted"
	default:
		t.OK = true
	}
	if !t.OK || !admit {
		return &t, nil
	}
	res, err := s.db.w.ExecContext(ctx, `UPDATE tickets SET admitted_at = $1 WHERE id = $2 AND admitted_at IS NULL AND status = 'valid' AND generation = $3`, s.now(), ticketID, gen)
	if err != nil {
		return nil, fmt.Errorf("ticket: admit: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.OK, t.Reason = false, "already-admitted"
	}
	return &t, nil
}

package jlis

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

// Link says that a certificate was replaced by another (新旧紐付け).
type Link struct {
	Old   CertRef   `json:"old"`
	New   CertRef   `json:"new"`
	Cause Cause     `json:"cause"`
	At    time.Time `json:"at"`
}

// CertStatus is what the simulator knows about one certificate.
type CertStatus struct {
	Cert      CertRef    `json:"certificate"`
	Kind      jpki.Kind  `json:"kind"`
	NotBefore time.Time  `json:"not_before"`
	NotAfter  time.Time  `json:"not_after"`
	Revoked   bool       `json:"revoked"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Reason    *Reason    `json:"reason,omitempty"`
	// Invalidity is the invalidity date recorded with the revocation, if any.
	Invalidity *time.Time `json:"invalidity_date,omitempty"`
}

// LinkInfo answers the renewal-link query for a certificate: its status, the links that start
// at it (to its successors) and end at it (from its predecessors), the current certificate of
// the same kind at the end of the chain (none when the chain ends in a revocation without
// successor, e.g. a death), and the latest certificate of the other kind on the same card or
// credential (the signing certificate for an authentication certificate and vice versa).
type LinkInfo struct {
	CertStatus
	Next        []Link   `json:"next"`
	Previous    []Link   `json:"previous"`
	Latest      *CertRef `json:"latest,omitempty"`
	Counterpart *CertRef `json:"counterpart,omitempty"`
}

// Status returns what the simulator knows about one certificate.
func (s *Simulator) Status(ctx context.Context, ref CertRef) (*CertStatus, error) {
	if _, err := s.authority(ref.CA); err != nil {
		return nil, err
	}
	return s.status(ctx, s.db, ref)
}

type queryer interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func (s *Simulator) status(ctx context.Context, q queryer, ref CertRef) (*CertStatus, error) {
	var kind string
	var nb, na int64
	var revokedAt, reason, invalidity sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT kind, not_before, not_after, revoked_at, reason, invalidity FROM cert WHERE ca = ? AND serial = ?`, ref.CA, ref.Serial).
		Scan(&kind, &nb, &na, &revokedAt, &reason, &invalidity)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: certificate %s", ErrNotFound, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("jlis: look up %s: %w", ref, err)
	}
	st := &CertStatus{Cert: ref, Kind: jpki.Kind(kind), NotBefore: time.Unix(nb, 0).UTC(), NotAfter: time.Unix(na, 0).UTC()}
	if revokedAt.Valid {
		t := time.Unix(revokedAt.Int64, 0).UTC()
		r := Reason(reason.Int64)
		st.Revoked, st.RevokedAt, st.Reason = true, &t, &r
		if invalidity.Valid {
			it := time.Unix(invalidity.Int64, 0).UTC()
			st.Invalidity = &it
		}
	}
	return st, nil
}

// Links returns the renewal links of a certificate.
func (s *Simulator) Links(ctx context.Context, ref CertRef) (*LinkInfo, error) {
	st, err := s.Status(ctx, ref)
	if err != nil {
		return nil, err
	}
	info := &LinkInfo{CertStatus: *st}
	if info.Next, err = s.next(ctx, ref); err != nil {
		return nil, err
	}
	if info.Previous, err = s.previous(ctx, ref); err != nil {
		return nil, err
	}
	var other CertRef
	err = s.db.QueryRowContext(ctx, `SELECT c.ca, c.serial FROM cert c JOIN cert me ON me.card_id = c.card_id
		WHERE me.ca = ? AND me.serial = ? AND c.kind <> me.kind
		AND NOT EXISTS (SELECT 1 FROM link l WHERE l.old_ca = c.ca AND l.old_serial = c.serial AND l.cause <> 'phone')
		ORDER BY c.not_before DESC LIMIT 1`, ref.CA, ref.Serial).Scan(&other.CA, &other.Serial)
	switch {
	case err == nil:
		info.Counterpart = &other
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("jlis: counterpart of %s: %w", ref, err)
	}
	// Follow the chain of the same kind to its end; a chain is at most a few dozen links
	// (one per renewal, move or re-issue), and visited guards against a cycle.
	cur, visited := ref, map[CertRef]bool{ref: true}
	for {
		next, err := s.next(ctx, cur)
		if err != nil {
			return nil, err
		}
		// A phone credential issued from a certificate does not replace it.
		next = slices.DeleteFunc(next, func(l Link) bool { return l.Cause == CausePhone })
		if len(next) == 0 {
			break
		}
		cur = next[0].New
		if visited[cur] {
			return nil, fmt.Errorf("jlis: renewal links of %s form a cycle", ref)
		}
		visited[cur] = true
	}
	last, err := s.Status(ctx, cur)
	if err != nil {
		return nil, err
	}
	if !last.Revoked {
		info.Latest = &cur
	}
	return info, nil
}

func (s *Simulator) previous(ctx context.Context, ref CertRef) ([]Link, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT old_ca, old_serial, cause, at FROM link WHERE new_ca = ? AND new_serial = ? ORDER BY at`, ref.CA, ref.Serial)
	if err != nil {
		return nil, fmt.Errorf("jlis: read links: %w", err)
	}
	defer rows.Close()
	out := []Link{}
	for rows.Next() {
		l := Link{New: ref}
		var at int64
		var cause string
		if err := rows.Scan(&l.Old.CA, &l.Old.Serial, &cause, &at); err != nil {
			return nil, fmt.Errorf("jlis: read links: %w", err)
		}
		l.Cause, l.At = Cause(cause), time.Unix(at, 0).UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

func (s *Simulator) next(ctx context.Context, ref CertRef) ([]Link, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT new_ca, new_serial, cause, at FROM link WHERE old_ca = ? AND old_serial = ? ORDER BY at`, ref.CA, ref.Serial)
	if err != nil {
		return nil, fmt.Errorf("jlis: read links: %w", err)
	}
	defer rows.Close()
	out := []Link{}
	for rows.Next() {
		l := Link{Old: ref}
		var at int64
		var cause string
		if err := rows.Scan(&l.New.CA, &l.New.Serial, &cause, &at); err != nil {
			return nil, fmt.Errorf("jlis: read links: %w", err)
		}
		l.Cause, l.At = Cause(cause), time.Unix(at, 0).UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// Basic4Answer is the latest basic 4 facts of the holder of a certificate.
type Basic4Answer struct {
	Cert      CertRef     `json:"certificate"`
	Basic4    jpki.Basic4 `json:"basic4"`
	Deceased  bool        `json:"deceased"`
	UpdatedAt time.Time   `json:"updated_at"`
	// LatestSign is the holder's current signing certificate, if any.
	LatestSign *CertRef `json:"latest_sign,omitempty"`
}

// LatestBasic4 returns the current basic 4 facts of the resident a certificate was issued to
// (最新の基本4情報), asked by requester on the holder's behalf under consentRef. Holding the
// holder's consent is the platform's duty; the simulator requires a reference to it and logs
// every request with its outcome.
func (s *Simulator) LatestBasic4(ctx context.Context, ref CertRef, requester, consentRef string) (*Basic4Answer, error) {
	if requester == "" || consentRef == "" {
		return nil, invalidf("a basic 4 request must name the requester and the holder's consent reference")
	}
	if _, err := s.authority(ref.CA); err != nil {
		return nil, err
	}
	ans, qerr := s.latestBasic4(ctx, ref)
	outcome := "answered"
	if qerr != nil {
		outcome = "error: " + qerr.Error()
	}
	s.mu.Lock()
	_, err := s.db.ExecContext(ctx, `INSERT INTO basic4_request (ca, serial, requester, consent_ref, at, outcome) VALUES (?, ?, ?, ?, ?, ?)`,
		ref.CA, ref.Serial, requester, consentRef, s.clk.Now().Unix(), outcome)
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("jlis: log basic 4 request: %w", err)
	}
	return ans, qerr
}

func (s *Simulator) latestBasic4(ctx context.Context, ref CertRef) (*Basic4Answer, error) {
	var b4JSON, status sql.NullString
	var updated, residentID sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT c.resident_id, r.basic4, r.status, r.updated FROM cert c LEFT JOIN resident r ON r.id = c.resident_id WHERE c.ca = ? AND c.serial = ?`, ref.CA, ref.Serial).
		Scan(&residentID, &b4JSON, &status, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: certificate %s", ErrNotFound, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("jlis: look up resident of %s: %w", ref, err)
	}
	if !residentID.Valid {
		return nil, fmt.Errorf("%w: certificate %s belongs to the synthetic population and has no resident", ErrNotFound, ref)
	}
	ans := &Basic4Answer{Cert: ref, Deceased: status.String == "deceased", UpdatedAt: time.Unix(updated.Int64, 0).UTC()}
	if err := json.Unmarshal([]byte(b4JSON.String), &ans.Basic4); err != nil {
		return nil, fmt.Errorf("jlis: resident in database: %w", err)
	}
	var latest CertRef
	err = s.db.QueryRowContext(ctx, `SELECT c.ca, c.serial FROM cert c JOIN card k ON k.id = c.card_id
		WHERE c.resident_id = ? AND c.kind = 'sign' AND c.revoked_at IS NULL AND k.status = 'active' ORDER BY k.medium = 'card' DESC, c.not_before DESC LIMIT 1`, residentID.Int64).Scan(&latest.CA, &latest.Serial)
	if err == nil {
		ans.LatestSign = &latest
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("jlis: latest signing certificate: %w", err)
	}
	return ans, nil
}

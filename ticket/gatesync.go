package ticket

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/mynagate/mynagate/gate/manifest"
)

// Gate keys and sync: the organiser registers each gate's Ed25519 public key for an event; after
// doors (or whenever the network returns) a gate uploads its signed admission records. Records
// are checked and merged by manifest.Merge against the event's registered keys; those that check
// are stored once each (keyed by their signature, so a retried upload stores nothing new), and the
// answer is the merge of everything stored for the event so far: one admission per ticket and each
// ticket admitted more than once (two gates offline) as a conflict, plus the rejected records of
// this upload.

var gateIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// maxSyncRecords and maxSyncBody bound one upload (a signed record is about 500 bytes of JSON);
// a gate with more uploads in batches.
const (
	maxSyncRecords = 1000
	maxSyncBody    = 1 << 20
)

// RegisterGate records the public key of a gate of the organiser's event. Registering the same key
// again is a no-op; a different key for a registered gate id is refused.
func (s *Service) RegisterGate(ctx context.Context, o *Organiser, eventID, gateID string, pub []byte) error {
	if _, err := s.ownEvent(ctx, o, eventID); err != nil {
		return err
	}
	if !gateIDRE.MatchString(gateID) {
		return errf(KindInvalid, "invalid-request", "gate id must be 1-64 letters, digits, '.', '_' or '-'")
	}
	if len(pub) != ed25519.PublicKeySize {
		return errf(KindInvalid, "invalid-request", "public_key must be a %d-byte Ed25519 public key, got %d bytes", ed25519.PublicKeySize, len(pub))
	}
	res, err := s.db.w.ExecContext(ctx, `INSERT INTO gate_keys (event_id, gate_id, public_key, registered_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (event_id, gate_id) DO NOTHING`, eventID, gateID, pub, s.clk.Now().Unix())
	if err != nil {
		return fmt.Errorf("ticket: register gate: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var have []byte
	if err := s.db.w.QueryRowContext(ctx, `SELECT public_key FROM gate_keys WHERE event_id = $1 AND gate_id = $2`, eventID, gateID).Scan(&have); err != nil {
		return fmt.Errorf("ticket: register gate: %w", err)
	}
	if !ed25519.PublicKey(have).Equal(ed25519.PublicKey(pub)) {
		return errf(KindConflict, "gate-key-conflict", "gate %q of event %q is already registered with another key", gateID, eventID)
	}
	return nil
}

func (s *Service) gateKeys(ctx context.Context, eventID string) (map[string]ed25519.PublicKey, error) {
	rows, err := s.db.w.QueryContext(ctx, `SELECT gate_id, public_key FROM gate_keys WHERE event_id = $1`, eventID)
	if err != nil {
		return nil, fmt.Errorf("ticket: gate keys: %w", err)
	}
	defer rows.Close()
	out := map[string]ed25519.PublicKey{}
	for rows.Next() {
		var id string
		var pub []byte
		if err := rows.Scan(&id, &pub); err != nil {
			return nil, fmt.Errorf("ticket: gate keys: %w", err)
		}
		out[id] = ed25519.PublicKey(pub)
	}
	return out, rows.Err()
}

// SyncReport is the answer to a sync: the merge of every record stored for the event, the
// records of this upload that were refused, and how many of this upload were new.
type SyncReport struct {
	manifest.SyncResult
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
}

// GateSync checks, stores and merges signed admission records uploaded by gates of the
// organiser's event.
func (s *Service) GateSync(ctx context.Context, o *Organiser, eventID string, recs []manifest.SignedRecord) (*SyncReport, error) {
	if _, err := s.ownEvent(ctx, o, eventID); err != nil {
		return nil, err
	}
	if len(recs) > maxSyncRecords {
		return nil, errf(KindInvalid, "invalid-request", "at most %d records per upload, got %d", maxSyncRecords, len(recs))
	}
	keys, err := s.gateKeys(ctx, eventID)
	if err != nil {
		return nil, err
	}
	up := manifest.Merge(eventID, keys, recs)
	bad := map[int]bool{}
	for _, r := range up.Rejected {
		bad[r.Index] = true
	}
	rep := &SyncReport{}
	now := s.clk.Now().Unix()
	for i, sr := range recs {
		if bad[i] {
			continue
		}
		var r manifest.Record
		if err := json.Unmarshal(sr.Record, &r); err != nil {
			return nil, errors.New("ticket: gate sync: a checked record does not parse")
		}
		res, err := s.db.w.ExecContext(ctx, `INSERT INTO gate_records (event_id, signature, gate_id, record, received_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (event_id, signature) DO NOTHING`, eventID, sr.Signature, r.Gate, sr.Record, now)
		if err != nil {
			return nil, fmt.Errorf("ticket: gate sync: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			rep.Stored++
		} else {
			rep.Duplicates++
		}
	}
	rows, err := s.db.w.QueryContext(ctx, `SELECT record, signature FROM gate_records WHERE event_id = $1 ORDER BY received_at, signature`, eventID)
	if err != nil {
		return nil, fmt.Errorf("ticket: gate sync: %w", err)
	}
	defer rows.Close()
	var all []manifest.SignedRecord
	for rows.Next() {
		var sr manifest.SignedRecord
		if err := rows.Scan(&sr.Record, &sr.Signature); err != nil {
			return nil, fmt.Errorf("ticket: gate sync: %w", err)
		}
		all = append(all, sr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ticket: gate sync: %w", err)
	}
	rep.SyncResult = manifest.Merge(eventID, keys, all)
	// Stored records all checked when they were stored; the rejected list is this upload's.
	rep.Rejected = up.Rejected
	if rep.Admissions == nil {
		rep.Admissions = []manifest.Record{}
	}
	if rep.Conflicts == nil {
		rep.Conflicts = []manifest.Conflict{}
	}
	if rep.Rejected == nil {
		rep.Rejected = []manifest.Rejected{}
	}
	return rep, nil
}

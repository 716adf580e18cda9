package manifest

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// The admission record is part of the format shared by the gate, which signs records, and the
// ticket service, which merges them at sync; it lives here so that the ticket service can check
// and merge records without importing the verifier.

// Record is one admission.
type Record struct {
	Event      string    `json:"event"`
	Ticket     string    `json:"ticket"`
	Generation int64     `json:"generation"`
	Gate       string    `json:"gate"`
	Lane       string    `json:"lane"`
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	Method     string    `json:"method"`           // code, tap or code+tap
	Holder     string    `json:"holder,omitempty"` // commitment of the card tapped
}

// SignedRecord is a record as the gate signed it: Ed25519 over "mynagate-gate-record-v1" 0x00
// and the record's JSON bytes.
type SignedRecord struct {
	Record    []byte `json:"record"`
	Signature []byte `json:"signature"`
}

const recordContext = "mynagate-gate-record-v1\x00"

// Sign signs r.
func (r Record) Sign(key ed25519.PrivateKey) (SignedRecord, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return SignedRecord{}, err
	}
	return SignedRecord{Record: b, Signature: ed25519.Sign(key, append([]byte(recordContext), b...))}, nil
}

// Open checks the signature with pub and returns the record.
func (s SignedRecord) Open(pub ed25519.PublicKey) (*Record, error) {
	if !ed25519.Verify(pub, append([]byte(recordContext), s.Record...), s.Signature) {
		return nil, errors.New("manifest: record signature does not verify")
	}
	var r Record
	if err := json.Unmarshal(s.Record, &r); err != nil {
		return nil, fmt.Errorf("manifest: record: %w", err)
	}
	return &r, nil
}

// Conflict is a ticket admitted more than once: by two gates while offline, or twice by one.
type Conflict struct {
	Ticket  string   `json:"ticket"`
	Records []Record `json:"records"`
}

// Rejected is a record refused at sync.
type Rejected struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// SyncResult is what Merge found.
type SyncResult struct {
	// Admissions are the first admission of each ticket (by time, then gate), sorted by ticket.
	Admissions []Record   `json:"admissions"`
	Conflicts  []Conflict `json:"conflicts"`
	Rejected   []Rejected `json:"rejected"`
}

// Merge verifies records from gates against their registered keys (gate id → key) and the
// event, and merges them: one admission per ticket, every ticket admitted more than once reported
// as a Conflict, every record with an unknown gate, a bad signature or another event Rejected.
// The same signed record sent twice (a retried sync) counts once.
func Merge(event string, gates map[string]ed25519.PublicKey, recs []SignedRecord) SyncResult {
	var res SyncResult
	seen := map[string]bool{}
	by := map[string][]Record{}
	for i, s := range recs {
		var r Record
		if err := json.Unmarshal(s.Record, &r); err != nil {
			res.Rejected = append(res.Rejected, Rejected{i, "malformed record"})
			continue
		}
		pub, ok := gates[r.Gate]
		if !ok {
			res.Rejected = append(res.Rejected, Rejected{i, "unknown gate " + r.Gate})
			continue
		}
		if _, err := s.Open(pub); err != nil {
			res.Rejected = append(res.Rejected, Rejected{i, "bad signature"})
			continue
		}
		if r.Event != event {
			res.Rejected = append(res.Rejected, Rejected{i, "record of event " + r.Event})
			continue
		}
		k := string(s.Signature)
		if seen[k] {
			continue
		}
		seen[k] = true
		by[r.Ticket] = append(by[r.Ticket], r)
	}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rs := by[id]
		sort.Slice(rs, func(i, j int) bool {
			if !rs[i].At.Equal(rs[j].At) {
				return rs[i].At.Before(rs[j].At)
			}
			return rs[i].Gate < rs[j].Gate
		})
		res.Admissions = append(res.Admissions, rs[0])
		if len(rs) > 1 {
			res.Conflicts = append(res.Conflicts, Conflict{Ticket: id, Records: rs})
		}
	}
	return res
}

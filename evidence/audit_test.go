package evidence_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
)

func TestAuditFindsEveryKindOfTampering(t *testing.T) {
	c := bg(t)
	s := memory.New()
	l := evidencetest.NewLog(t, s)
	fill(t, l, s, 0, 300)
	fill(t, l, s, 300, 40)
	if rep, err := l.Audit(c, nil); err != nil || rep.Size != 340 || rep.Checkpoints != 2 || rep.Sealed != 340 || rep.Latest.Size != 340 {
		t.Fatalf("audit of an intact log = %+v, %v", rep, err)
	}
	os := memory.New()
	other := evidencetest.NewLog(t, os)
	fill(t, other, os, 0, 340)
	foreignCP, _ := other.Checkpoint(c)
	rewritten := evidencetest.Record(t, l, 999, "t_a")
	fs := memory.New()
	forged, err := evidence.New(fs, otherLogKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	forgedCP := fill(t, forged, fs, 0, 300)

	tests := []struct {
		name string
		lie  lying
		want evidence.Reason
	}{
		{"leaf byte changed", lying{entry: func(e *evidence.StoredEntry) bool {
			if e.Index == 17 {
				e.LeafData[10] ^= 1
			}
			return true
		}}, evidence.ReasonStorageMismatch},
		{"leaf rewritten with a matching hash", lying{entry: func(e *evidence.StoredEntry) bool {
			if e.Index == 17 {
				e.Record = rewritten // a consistent record: only the tree can tell
			}
			return true
		}}, evidence.ReasonStorageMismatch},
		{"entry removed", lying{entry: func(e *evidence.StoredEntry) bool { return e.Index != 200 }}, evidence.ReasonStorageMismatch},
		{"record's tenant changed", lying{entry: func(e *evidence.StoredEntry) bool {
			if e.Index == 5 {
				e.TenantID = "t_b"
			}
			return true
		}}, evidence.ReasonStorageMismatch},
		{"personal data swapped", lying{entry: func(e *evidence.StoredEntry) bool {
			if e.Index == 5 {
				e.Sealed = bytes.Repeat([]byte{1}, len(e.Sealed))
			}
			return true
		}}, evidence.ReasonStorageMismatch},
		{"data key swapped", lying{entry: func(e *evidence.StoredEntry) bool {
			if e.Index == 5 {
				e.WrappedKey = bytes.Clone(e.WrappedKey)
				e.WrappedKey[20] ^= 1
			}
			return true
		}}, evidence.ReasonStorageMismatch},
		{"half shredded", lying{entry: func(e *evidence.StoredEntry) bool {
			if e.Index == 5 {
				e.WrappedKey = nil
			}
			return true
		}}, evidence.ReasonStorageMismatch},
		{"leaf tile hash changed", lying{tiles: func(id evidence.TileID, b []byte) []byte {
			if id == (evidence.TileID{Level: 0, Index: 0}) {
				b[32*9] ^= 1
			}
			return b
		}}, evidence.ReasonStorageMismatch},
		{"upper tile hash changed", lying{tiles: func(id evidence.TileID, b []byte) []byte {
			if id == (evidence.TileID{Level: 1, Index: 0}) {
				b[0] ^= 1
			}
			return b
		}}, evidence.ReasonStorageMismatch},
		{"tree state root changed", lying{tree: func(ts evidence.TreeState) evidence.TreeState { ts.Root[0] ^= 1; return ts }}, evidence.ReasonStorageMismatch},
		{"tree state shrunk below a checkpoint", lying{tree: func(ts evidence.TreeState) evidence.TreeState { ts.Size = 320; return ts }}, evidence.ReasonStorageMismatch},
		{"checkpoint root changed", lying{cps: func(cp *evidence.StoredCheckpoint) {
			if cp.Size == 300 {
				cp.Root[0] ^= 1
			}
		}}, evidence.ReasonStorageMismatch},
		{"checkpoint of another log (same key) swapped in", lying{cps: func(cp *evidence.StoredCheckpoint) {
			if cp.Size == 340 {
				cp.Note, cp.Root = foreignCP.Note, foreignCP.Root
			}
		}}, evidence.ReasonStorageMismatch},
		{"checkpoint signed by another key", lying{cps: func(cp *evidence.StoredCheckpoint) {
			if cp.Size == 300 {
				cp.Note = forgedCP.Note
			}
		}}, evidence.ReasonWrongKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lie := tt.lie
			lie.Storage = s
			_, err := evidencetest.NewLog(t, &lie).Audit(c, nil)
			var ve *evidence.VerifyError
			if !errors.As(err, &ve) || ve.Reason != tt.want {
				t.Fatalf("Audit = %v, want reason %s", err, tt.want)
			}
			t.Log(err)
		})
	}
}

func TestAuditProgress(t *testing.T) {
	l, s := newLog(t)
	fill(t, l, s, 0, 2500)
	var calls []uint64
	rep, err := l.Audit(bg(t), func(done, total uint64) {
		if total != 2500 {
			t.Errorf("total %d", total)
		}
		calls = append(calls, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := l.Checkpoint(bg(t))
	if len(calls) != 3 || calls[2] != 2500 || rep.Root != cp.Root || rep.Checkpoints != 1 {
		t.Errorf("progress %v, root %x", calls, rep.Root)
	}
}

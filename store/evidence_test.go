package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestEvidenceStorage runs the evidence log's storage conformance suite on both dialects, so the
// log behaves identically on SQLite and PostgreSQL.
func TestEvidenceStorage(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			evidencetest.Run(t, func(t *testing.T) evidencetest.Storage { return storetest.Open(t, dialect) })
		})
	}
}

func TestEvidenceIncomplete(t *testing.T) {
	s := storetest.Open(t, store.DialectSQLite)
	ctx := context.Background()
	l := evidencetest.NewLog(t, s)
	good := evidencetest.Record(t, l, 1, "t_a")
	noKey := good
	noKey.WrappedKey = nil
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"AddEntries nothing", func() error { return s.AddEntries(ctx, nil) }, "recs"},
		{"AddEntries sealed without key", func() error { return s.AddEntries(ctx, []evidence.Record{noKey}) }, "recs[0].Sealed"},
		{"Integrate miscounted", func() error { return s.Integrate(ctx, evidence.Integration{From: 0, To: 2, IDs: []string{"x"}}) }, "IDs"},
		{"Unsequenced zero", func() error { _, err := s.Unsequenced(ctx, 0); return err }, "max"},
		{"Shred zero time", func() error { _, err := s.Shred(ctx, time.Time{}, 1); return err }, "now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ie *store.IncompleteError
			if err := tt.call(); !errors.As(err, &ie) || ie.Field != tt.field {
				t.Errorf("got %v, want an IncompleteError on %s", err, tt.field)
			}
		})
	}
}

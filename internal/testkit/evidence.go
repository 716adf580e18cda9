package testkit

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/mynagate/mynagate/evidence"
)

// EvidenceLog returns an evidence log with fresh keys over st, as a platform configured for
// verifications needs one. It does not run: entries are integrated when the test calls
// Integrate, or in the background after RunEvidence.
func EvidenceLog(t testing.TB, st evidence.Storage, opts ...evidence.Option) *evidence.Log {
	t.Helper()
	keys, err := evidence.GenerateKeys(rand.Reader, evidence.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.New(st, keys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// RunEvidence runs the log's background work (integration, checkpoints) until the test ends,
// following its shutdown protocol.
func RunEvidence(t testing.TB, l *evidence.Log) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

package evidence_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/memory"
)

// breakable fails the reads integration and publication start with once broken is set.
type breakable struct {
	evidence.Storage
	broken atomic.Bool
}

func (b *breakable) Unsequenced(ctx context.Context, max int) ([]evidence.Pending, error) {
	if b.broken.Load() {
		return nil, errors.New("disk gone")
	}
	return b.Storage.Unsequenced(ctx, max)
}

func (b *breakable) Tree(ctx context.Context) (evidence.TreeState, error) {
	if b.broken.Load() {
		return evidence.TreeState{}, errors.New("disk gone")
	}
	return b.Storage.Tree(ctx)
}

// TestReady shows the log's readiness: not ready before Run and after it stops, ready while it
// runs and succeeds, and not ready once integration and publication fail for longer than three
// checkpoint intervals, naming both.
func TestReady(t *testing.T) {
	clk := clockwork.NewFakeClock()
	st := &breakable{Storage: memory.New()}
	keys, err := evidence.GenerateKeys(rand.Reader, evidence.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.New(st, keys, evidence.WithClock(clk), evidence.WithIntervals(time.Second, 10*time.Second, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ready(); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("before Run: Ready = %v, want not running", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := clk.BlockUntilContext(wctx, 3); err != nil { // Run's three tickers
		t.Fatal(err)
	}
	if err := l.Ready(); err != nil {
		t.Fatalf("running: Ready = %v", err)
	}
	// Healthy ticks keep it ready past the bound.
	for range 4 {
		clk.Advance(10 * time.Second)
		deadline := time.Now().Add(5 * time.Second)
		for l.Ready() != nil && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := l.Ready(); err != nil {
		t.Fatalf("after 40 s of healthy ticks: Ready = %v", err)
	}
	st.broken.Store(true)
	clk.Advance(31 * time.Second)
	err = l.Ready()
	if err == nil || !strings.Contains(err.Error(), "no successful integration") || !strings.Contains(err.Error(), "no checkpoint published") {
		t.Fatalf("storage failing for 31 s: Ready = %v, want both integration and checkpoint named", err)
	}
	cancel()
	<-done
	if err := l.Ready(); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("after Run returned: Ready = %v, want not running", err)
	}
}

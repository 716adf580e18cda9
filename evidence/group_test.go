package evidence_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
)

// slowAdds makes every AddEntries take a while (a commit's fsync) and fails batches holding a
// poisoned id.
type slowAdds struct {
	evidence.Storage
	delay   time.Duration
	poison  string
	calls   atomic.Int32
	largest atomic.Int32
}

var errPoisoned = errors.New("poisoned batch")

func (s *slowAdds) AddEntries(ctx context.Context, recs []evidence.Record) error {
	s.calls.Add(1)
	for {
		l := s.largest.Load()
		if int32(len(recs)) <= l || s.largest.CompareAndSwap(l, int32(len(recs))) {
			break
		}
	}
	time.Sleep(s.delay)
	if slices.ContainsFunc(recs, func(r evidence.Record) bool { return r.ID == s.poison }) {
		return errPoisoned
	}
	return s.Storage.AddEntries(ctx, recs)
}

func TestAppendGroupsConcurrentCommits(t *testing.T) {
	s := &slowAdds{Storage: memory.New(), delay: 2 * time.Millisecond, poison: evidencetest.Entry(77, "t_a").ID}
	l := evidencetest.NewLog(t, s)
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = l.Append(bg(t), evidencetest.Entry(i, "t_a"))
		}()
	}
	wg.Wait()
	calls := s.calls.Load()
	t.Logf("%d appends in %d commits (largest %d)", n, calls, s.largest.Load())
	if calls > n/4 || s.largest.Load() < 8 {
		t.Errorf("%d appends took %d commits, the largest of %d: appends were not grouped", n, calls, s.largest.Load())
	}
	// An append succeeded if and only if its entry is stored; the poisoned batch failed as a
	// whole, and only it.
	failed := 0
	for i, err := range errs {
		_, gerr := s.Entry(bg(t), evidencetest.Entry(i, "t_a").ID)
		stored := gerr == nil
		if (err == nil) != stored {
			t.Errorf("append %d returned %v but stored = %v", i, err, stored)
		}
		if err != nil {
			if !errors.Is(err, errPoisoned) {
				t.Errorf("append %d: %v", i, err)
			}
			failed++
		}
	}
	if failed == 0 || failed == n {
		t.Errorf("%d appends failed; want the poisoned batch only", failed)
	}
	if _, err := l.Publish(bg(t)); err != nil {
		t.Fatal(err)
	}
	if rep, err := l.Audit(bg(t), nil); err != nil || rep.Size != uint64(n-failed) {
		t.Errorf("audit after grouped appends: %+v, %v", rep, err)
	}
}

func TestAppendSurvivesCallerCancellation(t *testing.T) {
	s := &slowAdds{Storage: memory.New(), delay: 20 * time.Millisecond}
	l := evidencetest.NewLog(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.Append(ctx, evidencetest.Entry(1, "t_a"))
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	cancel() // mid-commit: the commit goes on, and the caller learns its result
	if err := <-done; err != nil {
		t.Fatalf("Append = %v after a cancellation mid-commit, although the commit went on", err)
	}
	if _, err := s.Entry(bg(t), evidencetest.Entry(1, "t_a").ID); err != nil {
		t.Error(err)
	}
}

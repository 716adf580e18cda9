package evidence

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// health is what Ready reads: whether Run is running, and when its integrator and checkpoint
// publisher last succeeded.
type health struct {
	mu         sync.Mutex
	running    bool
	integrated time.Time // last successful integration by Run (or Run's start)
	published  time.Time // last successful checkpoint publication by Run (or Run's start)
}

func (h *health) start(now time.Time) {
	h.mu.Lock()
	h.running, h.integrated, h.published = true, now, now
	h.mu.Unlock()
}

func (h *health) stop() {
	h.mu.Lock()
	h.running = false
	h.mu.Unlock()
}

func (h *health) mark(t *time.Time, now time.Time) {
	h.mu.Lock()
	*t = now
	h.mu.Unlock()
}

// staleAfter is how long Run may go without a successful integration or checkpoint publication
// before Ready reports the log not ready: three checkpoint intervals (30 s by default), so one
// failed publication or a slow integration under load does not flap readiness.
func (l *Log) staleAfter() time.Duration { return 3 * l.checkpointEvery }

// Ready reports whether the log's background work is alive: Run is running, and both its
// integrator and its checkpoint publisher succeeded within three checkpoint intervals. A node
// whose log is not ready accepts verifications whose evidence is never covered by a signed
// checkpoint, so its /readyz says so.
func (l *Log) Ready() error {
	now := l.clk.Now()
	l.health.mu.Lock()
	defer l.health.mu.Unlock()
	if !l.health.running {
		return errors.New("evidence log: its integrator is not running")
	}
	var errs []error
	if age := now.Sub(l.health.integrated); age > l.staleAfter() {
		errs = append(errs, fmt.Errorf("evidence log: no successful integration for %s (bound %s)", age.Round(time.Second), l.staleAfter()))
	}
	if age := now.Sub(l.health.published); age > l.staleAfter() {
		errs = append(errs, fmt.Errorf("evidence log: no checkpoint published for %s (bound %s)", age.Round(time.Second), l.staleAfter()))
	}
	return errors.Join(errs...)
}

package evidence

import (
	"context"
	"errors"
	"sync"
)

// groupCommit writes concurrent appends in shared transactions (group commit, as in LevelDB's
// writer queue and PostgreSQL's commit_delay): a caller that finds no commit in progress becomes
// the leader and commits every record queued so far in one AddEntries call; callers arriving
// meanwhile queue up, and when the leader's commit ends the first of them leads the next one with
// everything queued by then. One fsync then makes a whole batch durable, so the commit rate, not
// the append rate, is bounded by the disk; no goroutine runs in the background and no caller waits
// on a timer.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*groupWaiter
	leading bool
	max     int
}

type groupWaiter struct {
	rec  Record
	done chan error // receives the commit's result, or errLead when it must lead
}

// errLead tells a queued waiter that it now leads the next commit.
var errLead = errors.New("evidence: lead the next group commit")

// add stores rec through commit, grouped with concurrent calls. It returns once rec is durable
// or failed; a failure fails every record of its group, and AddEntries wrote none of them. The
// commit runs without the caller's cancellation: once queued, a record's fate is decided by
// its group, and the caller learns it.
func (g *groupCommit) add(ctx context.Context, rec Record, commit func(context.Context, []Record) error) error {
	w := &groupWaiter{rec: rec, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if g.leading {
		g.mu.Unlock()
		if err := <-w.done; err != errLead {
			return err
		}
		g.mu.Lock()
	}
	g.leading = true
	n := min(len(g.queue), g.max)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	recs := make([]Record, len(batch))
	for i, b := range batch {
		recs[i] = b.rec
	}
	err := commit(context.WithoutCancel(ctx), recs)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- errLead
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	for _, b := range batch {
		if b != w {
			b.done <- err
		}
	}
	return err
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Group commit on SQLite.
//
// SQLite has one writer, and a durable commit costs an fsync. Writers of one process therefore
// queue for the writer connection anyway; the group committer takes whatever is queued (up to
// maxGroup requests) into ONE transaction, runs each request's function inside a savepoint of its
// own — a function that fails is rolled back to its savepoint alone — and commits once. Each
// caller gets its own result, and a caller's success is reported only after the commit that
// made it durable. So concurrent verifications share their fsyncs without sharing their fate.
//
// PostgreSQL needs none of this (its writers run in parallel and it groups WAL flushes itself).

// maxGroup bounds how many write transactions one commit carries.
const maxGroup = 64

// errClosed is returned to writers that arrive after Close.
var errClosed = errors.New("store: closed")

type writeReq struct {
	ctx  context.Context
	op   string
	f    func(tx *sql.Tx) error
	done chan error
}

// startGroupCommit starts the committer of an SQLite store. Shutdown: Close closes quit; the
// committer finishes the group it runs, answers queued writers with errClosed, and exits.
func (s *Store) startGroupCommit() {
	s.writes = make(chan *writeReq)
	s.quit = make(chan struct{})
	s.stopped = make(chan struct{})
	go func() {
		defer close(s.stopped)
		last := 0 // the size of the previous group
		for {
			select {
			case <-s.quit:
				return
			case req := <-s.writes:
				group := []*writeReq{req}
			more:
				for len(group) < maxGroup {
					select {
					case r := <-s.writes:
						group = append(group, r)
					default:
						break more
					}
				}
				if last > 1 && len(group) < maxGroup {
					group = s.lingerFor(group)
				}
				last = len(group)
				s.commitGroup(group)
			}
		}
	}()
}

// lingerFor waits up to groupLinger for more writers to join a group that is not full.
//
// A group holds whoever was queued when the committer came back from the last commit. Under
// load that comes in steadily rather than in waves — requests arriving one by one over HTTP —
// that is often one or two writers, each group paying a whole commit (the fsync, the WAL frames
// of pages the next group rewrites). Waiting a fraction of a commit's time for company lets a
// group fill, as MySQL's binlog_group_commit_sync_delay does. The committer lingers only when
// the previous group had company too, so a lone writer never waits.
func (s *Store) lingerFor(group []*writeReq) []*writeReq {
	t := time.NewTimer(groupLinger)
	defer t.Stop()
	for len(group) < maxGroup {
		select {
		case r := <-s.writes:
			group = append(group, r)
		case <-t.C:
			return group
		case <-s.quit:
			return group
		}
	}
	return group
}

// grouped hands f to the committer and waits for its result. It waits even when ctx ends
// first, since f may already be running; f's own statements see ctx and fail with it.
func (s *Store) grouped(ctx context.Context, op string, f func(tx *sql.Tx) error) error {
	req := &writeReq{ctx: ctx, op: op, f: f, done: make(chan error, 1)}
	select {
	case s.writes <- req:
		return <-req.done
	case <-ctx.Done():
		return fmt.Errorf("store: %s: %w", op, ctx.Err())
	case <-s.quit:
		return fmt.Errorf("store: %s: %w", op, errClosed)
	}
}

// commitGroup runs a group in one transaction, each request in a savepoint.
func (s *Store) commitGroup(group []*writeReq) {
	if len(group) == 1 {
		r := group[0]
		r.done <- s.directTx(r.ctx, r.op, r.f)
		return
	}
	bg := context.Background()
	fail := func(err error) {
		for _, r := range group {
			r.done <- err
		}
	}
	tx, err := s.w.BeginTx(bg, nil)
	if err != nil {
		fail(fmt.Errorf("store: group of %d writes: begin: %w", len(group), err))
		return
	}
	results := make([]error, len(group))
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			results[i] = fmt.Errorf("store: %s: %w", r.op, err)
			continue
		}
		if _, err := tx.ExecContext(bg, "SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("store: group of %d writes: savepoint: %w", len(group), err))
			return
		}
		if err := r.f(tx); err != nil {
			results[i] = err
			if _, rerr := tx.ExecContext(bg, "ROLLBACK TO w"); rerr != nil {
				// The transaction cannot be trusted any more: nothing of the group commits.
				tx.Rollback()
				fail(errors.Join(err, fmt.Errorf("store: %s: rollback to savepoint: %w", r.op, rerr)))
				return
			}
		}
		if _, err := tx.ExecContext(bg, "RELEASE w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("store: group of %d writes: release savepoint: %w", len(group), err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("store: group of %d writes: commit: %w", len(group), err))
		return
	}
	for i, r := range group {
		r.done <- results[i]
	}
}

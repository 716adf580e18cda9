package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// BenchmarkCompleteSession measures CompleteSession — the transaction that ends every
// verification (guarded session update, person, verification with a certificate, two
// certificate links, an outbox event, the usage counter) — against a baseline measured in the
// same run on the same database and connection pool: a bare single-row INSERT, one commit per
// row, alternating with CompleteSession in blocks of 64. ns/op is CompleteSession's alone; the
// metrics are
//
//	completes/s   CompleteSession calls per second
//	inserts/s     bare INSERTs per second
//	ratio         completes/s ÷ inserts/s: the cost of the whole transaction in commits
//
// "serial" runs one call at a time, "parallel" 16 goroutines (SQLite queues them for its one
// writer; PostgreSQL runs them on 10 connections). "sqlite-relaxed" is SQLite with
// WithRelaxedSync (no fsync per commit), which shows the CPU cost without the disk's.
func BenchmarkCompleteSession(b *testing.B) {
	configs := []struct {
		name, dialect string
		opts          []store.Option
	}{
		{"sqlite", store.DialectSQLite, nil},
		{"sqlite-relaxed", store.DialectSQLite, []store.Option{store.WithRelaxedSync()}},
		{"postgres", store.DialectPostgres, nil},
	}
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			s := storetest.Open(b, c.dialect, c.opts...)
			ctx := context.Background()
			if err := s.CreateTenant(ctx, tenant("t1", t0)); err != nil {
				b.Fatal(err)
			}
			if err := store.Exec(ctx, s, `CREATE TABLE bench_baseline (id TEXT NOT NULL PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			var round atomic.Int64
			for _, w := range []struct {
				name    string
				workers int
			}{{"serial", 1}, {"parallel", 16}} {
				b.Run(w.name, func(b *testing.B) {
					benchComplete(b, s, fmt.Sprintf("r%d_", round.Add(1)), w.workers)
				})
			}
		})
	}
}

func benchComplete(b *testing.B, s *store.Store, prefix string, workers int) {
	ctx := context.Background()
	b.StopTimer()
	// Pending sessions for this round, inserted in one transaction so set-up stays short.
	err := store.InTx(ctx, s, func(tx *sql.Tx) error {
		for i := range b.N {
			_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, tenant_id, purpose, nonce, holder_token, created_at, expires_at)
				VALUES ($1, 't1', 'identity', $2, 'h', $3, $4)`,
				prefix+fmt.Sprint(i), bytes.Repeat([]byte{1}, 32), t0.UnixNano(), t0.Add(time.Minute).UnixNano())
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	payload := string(bytes.Repeat([]byte("x"), 200))
	cert := bytes.Repeat([]byte{0x30}, 1500) // a JPKI signing certificate is about 1.5 kB
	insert := func(i int) error {
		return store.Exec(ctx, s, `INSERT INTO bench_baseline (id, v) VALUES ($1, $2)`, prefix+fmt.Sprint(i), payload)
	}
	completeOne := func(i int) error {
		id := prefix + fmt.Sprint(i)
		v := accepted("v"+id, "t1", id, "p"+id, "S"+id)
		v.Cert = cert
		return storetest.Complete(ctx, s, v,
			[]platform.PersonCert{link("p"+id, "S"+id, "sign"), link("p"+id, "A"+id, "auth")},
			[]platform.Event{event("e"+id, "t1")})
	}
	// Baseline and CompleteSession alternate in blocks, so that whatever else loads the machine
	// (or the disk) meanwhile weighs on both sides of the ratio alike.
	const block = 64
	var baseline, complete time.Duration
	for lo := 0; lo < b.N; lo += block {
		n := min(block, b.N-lo)
		baseline += run(b, n, workers, func(i int) error { return insert(lo + i) })
		b.StartTimer()
		complete += run(b, n, workers, func(i int) error { return completeOne(lo + i) })
		b.StopTimer()
	}

	b.ReportMetric(float64(b.N)/complete.Seconds(), "completes/s")
	b.ReportMetric(float64(b.N)/baseline.Seconds(), "inserts/s")
	b.ReportMetric(baseline.Seconds()/complete.Seconds(), "ratio")
}

// run calls f(0..n-1) on the given number of goroutines and returns the wall time.
func run(b *testing.B, n, workers int, f func(i int) error) time.Duration {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		fail atomic.Pointer[error]
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || fail.Load() != nil {
					return
				}
				if err := f(i); err != nil {
					fail.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err := fail.Load(); err != nil {
		b.Fatal(*err)
	}
	return d
}

package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// BenchmarkEvidenceAppend measures durable evidence appends through the store, with group
// commit (evidence.Log.Append from 128 goroutines; concurrent appends share a transaction) and
// the integrator and checkpoint publisher running beside them; the final integration is inside
// the time. The baseline, measured in the same run on the same database, is the same appends one
// at a time, one commit each. Metrics:
//
//	appends/s                  grouped durable appends per second (until the last returned)
//	integrated/s               the same, until all are integrated and a checkpoint covers them
//	one_commit_each_appends/s  the baseline
//	x_vs_one_commit_each       the ratio: what grouping buys over a commit per append
func BenchmarkEvidenceAppend(b *testing.B) {
	for _, dialect := range storetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			s := storetest.Open(b, dialect)
			c := context.Background()
			l := evidencetest.NewLog(b, s, evidence.WithIntervals(100*time.Millisecond, time.Second, time.Hour))
			var round atomic.Int64
			prefix := func() string { return fmt.Sprintf("r%d_", round.Add(1)) }

			const single = 100
			p := prefix()
			start := time.Now()
			for i := 0; i < single; i++ {
				if _, err := l.Append(c, entry(p, i)); err != nil {
					b.Fatal(err)
				}
			}
			oneEach := time.Since(start) / single

			ctx, cancel := context.WithCancel(c)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); l.Run(ctx) }()
			p = prefix()
			var next atomic.Int64
			b.SetParallelism(64)
			b.ResetTimer()
			start = time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Append(c, entry(p, int(next.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			appended := time.Since(start)
			if _, err := l.Publish(c); err != nil {
				b.Fatal(err)
			}
			per := time.Since(start) / time.Duration(b.N)
			b.StopTimer()
			cancel()
			wg.Wait()
			b.ReportMetric(float64(b.N)/appended.Seconds(), "appends/s")
			b.ReportMetric(float64(time.Second)/float64(per), "integrated/s")
			b.ReportMetric(float64(time.Second)/float64(oneEach), "one_commit_each_appends/s")
			b.ReportMetric(float64(oneEach)/float64(per), "x_vs_one_commit_each")
		})
	}
}

// entry is evidencetest's entry i with an id unique across rounds.
func entry(prefix string, i int) evidence.Entry {
	e := evidencetest.Entry(i, "t_bench")
	e.ID = prefix + e.ID
	return e
}

var _ = store.DialectSQLite

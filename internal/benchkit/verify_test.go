package benchkit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/store"
)

// BenchmarkVerify reports verifications per second in-process and through HTTP on SQLite, and
// their ratio to the bound of two raw RSA-2048 verifications per verification measured in the
// same run ("of-bound").
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	w, err := NewWorld(ctx, "", 4, store.WithRelaxedSync())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	for _, mode := range []string{"inprocess", "http"} {
		b.Run(mode, func(b *testing.B) {
			ps, err := w.Prepare(ctx, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var r Result
			if mode == "http" {
				r, err = w.HTTP(ctx, ps, Concurrency())
			} else {
				r, err = w.InProcess(ctx, ps, Concurrency())
			}
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			raw, err := RawVerify(300*time.Millisecond, Workers())
			if err != nil {
				b.Fatal(err)
			}
			bound := raw.PerSecond() / 2
			b.ReportMetric(r.PerSecond(), "verif/s")
			b.ReportMetric(r.PerSecond()/bound, "of-bound")
		})
	}
}

// TestWorldMeasures runs the measurements the benchmark and `mynagate bench verify` make, small:
// every prepared answer must be accepted, in-process and through HTTP, and each result must
// account for its verifications and the CPU they used.
func TestWorldMeasures(t *testing.T) {
	ctx := context.Background()
	w, err := NewWorld(ctx, "", 2, store.WithRelaxedSync())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Profile = filepath.Join(t.TempDir(), "p")
	for _, m := range []struct {
		name string
		run  func(context.Context, []prepared, int) (Result, error)
	}{{"in-process", w.InProcess}, {"http", w.HTTP}} {
		ps, err := w.Prepare(ctx, 40)
		if err != nil {
			t.Fatal(err)
		}
		r, err := m.run(ctx, ps, 8)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if r.N != 40 || r.Elapsed <= 0 || r.PerSecond() <= 0 || r.CPU <= 0 {
			t.Errorf("%s: result %+v", m.name, r)
		}
		if fi, err := os.Stat(w.Profile + "." + m.name + ".prof"); err != nil || fi.Size() == 0 {
			t.Errorf("%s: no CPU profile written: %v", m.name, err)
		}
		// A prepared answer is single-use: answering the same sessions again is refused.
		if _, err := m.run(ctx, ps[:1], 1); err == nil {
			t.Errorf("%s: a second answer to a completed session was accepted", m.name)
		}
	}
	// The halves: the pipeline holds its writes back, and they are then all made to the store.
	before := usage(t, w)
	pipe, writes, err := w.Split(ctx, 40, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Result{pipe, writes} {
		if r.N != 40 || r.Elapsed <= 0 || r.CPU <= 0 {
			t.Errorf("%s: result %+v", r.Name, r)
		}
	}
	if got := usage(t, w) - before; got != 40 {
		t.Errorf("the split stored %d verifications, want 40", got)
	}
}

// usage is the number of verifications counted for the world's tenant this month.
func usage(t *testing.T, w *World) int64 {
	t.Helper()
	us, _, _, err := w.Plat.Usage(context.Background(), w.Tenant, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, u := range us {
		n += u.Count
	}
	return n
}

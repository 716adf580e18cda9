package benchkit

import (
	"context"
	"github.com/mynagate/mynagate/store"
	"testing"
	"time"
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
				r, err = w.HTTP(ctx, ps, Workers())
			} else {
				r, err = w.InProcess(ctx, ps, Workers())
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

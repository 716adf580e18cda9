package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/delivery"
	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/webhook"
)

// BenchmarkDeliveries measures webhook deliveries per second from the outbox to a loopback
// receiver that verifies every signature, on SQLite and PostgreSQL, beside a baseline measured
// in the same run: the same messages, pre-signed, POSTed to the same receiver by as many
// concurrent clients as the deliverer keeps attempts in flight — HTTP and signature checking
// alone. ratio = deliveries/s ÷ posts/s is what the outbox, the claims and the bookkeeping leave
// of the bare transport. Each iteration delivers one event (b.N events in all, spread over 256
// persons so that per-person order does not serialise them).
//
//	go test -run '^$' -bench Deliveries -benchtime 3000x ./delivery/
func BenchmarkDeliveries(b *testing.B) {
	for _, dialect := range []string{store.DialectSQLite, store.DialectPostgres} {
		b.Run(dialect, func(b *testing.B) { benchDeliveries(b, dialect) })
	}
}

const (
	benchPersons = 256
	benchWorkers = 4
	benchBatch   = 16
)

func benchDeliveries(b *testing.B, dialect string) {
	clk := clockwork.NewRealClock()
	w := platformtest.NewWorldOn(b, dialect, clk)
	p := w.P
	endpoint(w)
	n := b.N
	perPerson := (n + benchPersons - 1) / benchPersons
	for i := range benchPersons {
		k := min(perPerson, n-i*perPerson)
		if k <= 0 {
			break
		}
		events(w, w.Person(fmt.Sprintf("b%03d", i)), k)
	}
	d, err := delivery.New(p, delivery.WithWorkers(benchWorkers, benchBatch), delivery.WithPoll(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}

	// Baseline: the bare transport, same receiver, same payload size, same concurrency.
	key, _ := webhook.ParseSecret(w.Recv.Secrets()[0])
	body := []byte(`{"type":"certificate.revoked","data":{"serial":"b000000","n":0}}`)
	var posted sync.WaitGroup
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers * benchBatch}}
	jobs := make(chan int)
	baseStart := time.Now()
	for range benchWorkers * benchBatch {
		posted.Go(func() {
			for i := range jobs {
				req, _ := http.NewRequest("POST", w.Recv.URL()+"/hooks", bytes.NewReader(body))
				webhook.SetHeaders(req.Header, [][]byte{key}, fmt.Sprintf("base_%d", i), time.Now(), body)
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	posted.Wait()
	base := time.Since(baseStart)
	w.Recv.Forget()

	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	for len(w.Recv.Messages()) < n {
		time.Sleep(2 * time.Millisecond)
	}
	b.StopTimer()
	elapsed := b.Elapsed()
	cancel()
	<-done
	if w.Recv.Refused() != 0 {
		b.Fatalf("%d messages refused", w.Recv.Refused())
	}
	perSec, basePerSec := float64(n)/elapsed.Seconds(), float64(n)/base.Seconds()
	b.ReportMetric(perSec, "deliveries/s")
	b.ReportMetric(basePerSec, "posts/s")
	b.ReportMetric(perSec/basePerSec, "ratio")
}

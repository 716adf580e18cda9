//go:build unix

package crlwriter

import (
	"crypto/rand"
	"crypto/x509"
	"io"
	"math/big"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"
)

// Benchmarks of Write against x509.CreateRevocationList in the same run. Run them with
// scripts/bench-crl.sh; the 10 M-entry variant needs MYNAGATE_BENCH_10M=1.

func benchEntry(i int, serial *big.Int) Entry {
	const mask = 1<<63 - 1
	x := uint64(i+1) & mask
	x = x * 0x9e3779b97f4a7c15 & mask
	x ^= x >> 29
	x = x * 0xbf58476d1ce4e5b9 & mask
	x ^= x >> 32
	e := Entry{
		Serial:    serial.SetUint64(x),
		RevokedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 3 * time.Second),
		Reason:    [...]int{3, 3, 3, 3, 1, 1, 4, 5, -1, -1}[i%10],
	}
	if i%10 == 0 {
		e.InvalidityDate = e.RevokedAt.Add(-time.Hour)
	}
	return e
}

type usage struct {
	dur, cpu time.Duration
	peak     uint64
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs f and samples the heap every millisecond (runtime/metrics does not stop the
// world) to find its peak above the level before the run.
func measure(f func()) usage {
	runtime.GC()
	debug.FreeOSMemory()
	base := heapObjects()
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, heapObjects())
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	start, cpu := time.Now(), cpuTime()
	f()
	dur, cpu := time.Since(start), cpuTime()-cpu
	close(stop)
	peak := max(<-done, base)
	return usage{dur: dur, cpu: cpu, peak: peak - base}
}

func BenchmarkWriteCRL1M(b *testing.B) { benchWrite(b, 1_000_000, true) }

func BenchmarkWriteCRL10M(b *testing.B) {
	if os.Getenv("MYNAGATE_BENCH_10M") != "1" {
		b.Skip("set MYNAGATE_BENCH_10M=1 to write a 10 M-entry CRL")
	}
	// No x509 baseline at this size: it would need well over ten gigabytes.
	benchWrite(b, 10_000_000, false)
}

// benchWrite writes an n-entry CRL with Write (to io.Discard: the encoding, hashing and
// signing, not the disk), and as the baseline builds the same entries as
// x509.RevocationListEntry values and calls x509.CreateRevocationList, which needs them all
// in memory at once.
func benchWrite(b *testing.B, n int, baseline bool) {
	ca, _ := cas(b)
	tmpl := Template{Issuer: ca.cert, Number: big.NewInt(1), ThisUpdate: base, NextUpdate: base.Add(24 * time.Hour)}
	entries := func(yield func(Entry) error) error {
		s := new(big.Int)
		for i := range n {
			if err := yield(benchEntry(i, s)); err != nil {
				return err
			}
		}
		return nil
	}
	var ours, theirs usage
	var size int64
	iters := 0
	for b.Loop() {
		u := measure(func() {
			st, err := Write(io.Discard, tmpl, entries, ca.key)
			if err != nil {
				b.Fatal(err)
			}
			size = st.Bytes
		})
		ours.dur += u.dur
		ours.cpu += u.cpu
		ours.peak = max(ours.peak, u.peak)
		if baseline {
			v := measure(func() {
				rl := &x509.RevocationList{Number: tmpl.Number, ThisUpdate: tmpl.ThisUpdate, NextUpdate: tmpl.NextUpdate,
					RevokedCertificateEntries: make([]x509.RevocationListEntry, n)}
				for i := range n {
					e := benchEntry(i, new(big.Int))
					rce := x509.RevocationListEntry{SerialNumber: e.Serial, RevocationTime: e.RevokedAt}
					if e.Reason > 0 {
						rce.ReasonCode = e.Reason
					}
					rl.RevokedCertificateEntries[i] = rce
				}
				der, err := x509.CreateRevocationList(rand.Reader, rl, ca.cert, ca.key)
				if err != nil {
					b.Fatal(err)
				}
				runtime.KeepAlive(der)
			})
			theirs.dur += v.dur
			theirs.cpu += v.cpu
			theirs.peak = max(theirs.peak, v.peak)
		}
		iters++
	}
	const mib = 1 << 20
	b.ReportMetric(float64(size)/1e6, "MB")
	b.ReportMetric(ours.dur.Seconds()/float64(iters), "write-s")
	b.ReportMetric(ours.cpu.Seconds()/float64(iters), "write-cpu-s")
	b.ReportMetric(float64(ours.peak)/mib, "write-peak-MiB")
	if baseline {
		b.ReportMetric(theirs.dur.Seconds()/float64(iters), "x509-s")
		b.ReportMetric(float64(theirs.peak)/mib, "x509-peak-MiB")
		b.ReportMetric(float64(theirs.dur)/float64(ours.dur), "x509/write-time")
		b.ReportMetric(float64(theirs.peak)/float64(max(ours.peak, 1)), "x509/write-heap")
	}
}

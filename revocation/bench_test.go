//go:build unix

package revocation

import (
	"bufio"
	"crypto/x509"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
)

// The benchmarks here measure the streaming reader against x509.ParseRevocationList on the same
// file in the same run, and report both plus their ratios (b.ReportMetric). Run them with
// scripts/bench-crl.sh. The 10 M-entry variants need MYNAGATE_BENCH_10M=1: the file is about
// 450 MB and the x509 baseline needs several gigabytes of heap.

// benchSerial is the i-th serial of the synthetic CRL: a bijection of i onto 63-bit values, so
// serials are distinct, look random (like serials of a CA that randomises them) and arrive in
// no particular order (the CRL lists entries in revocation order), which makes the reader sort.
func benchSerial(i int) uint64 {
	const mask = 1<<63 - 1
	x := uint64(i+1) & mask
	x = x * 0x9e3779b97f4a7c15 & mask
	x ^= x >> 29
	x = x * 0xbf58476d1ce4e5b9 & mask
	x ^= x >> 32
	return x
}

// benchReason spreads reasons roughly as JPKI revokes: moves and name changes most, then
// lost cards, renewals and returned cards; some entries carry no reason.
func benchReason(i int) int {
	return [...]int{3, 3, 3, 3, 1, 1, 4, 5, -1, -1}[i%10]
}

var benchStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func benchEntries(n int) crlwriter.Entries {
	return func(yield func(crlwriter.Entry) error) error {
		serial := new(big.Int)
		for i := range n {
			e := crlwriter.Entry{
				Serial:    serial.SetUint64(benchSerial(i)),
				RevokedAt: benchStart.Add(time.Duration(i) * 3 * time.Second),
				Reason:    benchReason(i),
			}
			if i%10 == 0 {
				e.InvalidityDate = e.RevokedAt.Add(-time.Hour)
			}
			if err := yield(e); err != nil {
				return err
			}
		}
		return nil
	}
}

var (
	benchDirOnce sync.Once
	benchDir     string
	benchFiles   = map[int]string{}
	benchMu      sync.Mutex
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchCRL writes (once per test binary) an n-entry CRL with the streaming writer and returns
// its path.
func benchCRL(b *testing.B, n int) string {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if p, ok := benchFiles[n]; ok {
		return p
	}
	benchDirOnce.Do(func() {
		d, err := os.MkdirTemp("", "mynagate-bench-crl-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
	})
	c := cas(b)
	p := filepath.Join(benchDir, fmt.Sprintf("%d.crl", n))
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	start := time.Now()
	st, err := crlwriter.Write(w, crlwriter.Template{
		Issuer: c.rsa.cert, Number: big.NewInt(int64(n)),
		ThisUpdate: benchStart.Add(time.Duration(n) * 3 * time.Second), NextUpdate: benchStart.Add(time.Duration(n)*3*time.Second + 24*time.Hour),
	}, benchEntries(n), c.rsa.key)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote a %d-entry CRL (%.1f MB) in %v", n, float64(st.Bytes)/1e6, time.Since(start).Round(time.Millisecond))
	benchFiles[n] = p
	return p
}

// usage is the cost of one run of a function.
type usage struct {
	dur  time.Duration
	cpu  time.Duration // user + system CPU time of the whole process, all goroutines and the GC
	peak uint64        // highest heap (live and not yet swept objects) above the level before the run
}

// cpuTime is the process's user + system CPU time so far. On a shared machine it says what a
// run costs when wall time says mostly how busy the neighbours are.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs f, sampling the heap every millisecond through runtime/metrics (which, unlike
// runtime.ReadMemStats, does not stop the world).
func measure(f func()) usage {
	runtime.GC()
	debug.FreeOSMemory()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
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
	peak := <-done
	if peak < base {
		peak = base
	}
	return usage{dur: dur, cpu: cpu, peak: peak - base}
}

const mb = 1 << 20

func BenchmarkReadCRL1M(b *testing.B) { benchRead(b, 1_000_000) }

func BenchmarkReadCRL10M(b *testing.B) {
	if os.Getenv("MYNAGATE_BENCH_10M") != "1" {
		b.Skip("set MYNAGATE_BENCH_10M=1 to read a 10 M-entry CRL (about 450 MB; the x509 baseline needs several GB)")
	}
	benchRead(b, 10_000_000)
}

// benchRead reads and indexes an n-entry CRL with ReadFile, and, as the baseline, reads the
// same file with os.ReadFile + x509.ParseRevocationList + CheckSignatureFrom (the least one
// must do with x509 to trust the entries; building a lookup structure on top would only add).
func benchRead(b *testing.B, n int) {
	path := benchCRL(b, n)
	ca := cas(b).rsa.cert
	var stream, base usage
	var retained uint64
	iters := 0
	for b.Loop() {
		var ix *Index
		u := measure(func() {
			var err error
			ix, err = ReadFile(path, ca, Options{})
			if err != nil {
				b.Fatal(err)
			}
		})
		if ix.Len() != n {
			b.Fatalf("index holds %d serials, want %d", ix.Len(), n)
		}
		runtime.GC()
		retained = heapObjects()
		runtime.KeepAlive(ix)

		var rl *x509.RevocationList
		v := measure(func() {
			der, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			rl, err = x509.ParseRevocationList(der)
			if err != nil {
				b.Fatal(err)
			}
			if err := rl.CheckSignatureFrom(ca); err != nil {
				b.Fatal(err)
			}
			if len(rl.RevokedCertificateEntries) != n {
				b.Fatalf("x509 read %d entries", len(rl.RevokedCertificateEntries))
			}
		})
		if iters == 0 {
			// Outside the measurements: the index says what x509 says, entry by entry.
			for _, e := range rl.RevokedCertificateEntries {
				revoked, at, reason := ix.Lookup(e.SerialNumber)
				want := NoReason
				for _, x := range e.Extensions {
					if x.Id.Equal(oidReasonCodeASN1) {
						want = CRLReason(e.ReasonCode)
					}
				}
				if !revoked || !at.Equal(e.RevocationTime) || reason != want {
					b.Fatalf("serial %v: index says (%v, %v, %v), x509 (true, %v, %v)", e.SerialNumber, revoked, at, reason, e.RevocationTime, want)
				}
			}
		}
		rl, ix = nil, nil
		runtime.GC()
		retained -= heapObjects()

		stream.dur += u.dur
		stream.cpu += u.cpu
		stream.peak = max(stream.peak, u.peak)
		base.dur += v.dur
		base.cpu += v.cpu
		base.peak = max(base.peak, v.peak)
		iters++
	}
	b.ReportMetric(stream.dur.Seconds()/float64(iters), "stream-s")
	b.ReportMetric(base.dur.Seconds()/float64(iters), "x509-s")
	b.ReportMetric(float64(base.dur)/float64(stream.dur), "x509/stream-time")
	b.ReportMetric(stream.cpu.Seconds()/float64(iters), "stream-cpu-s")
	b.ReportMetric(base.cpu.Seconds()/float64(iters), "x509-cpu-s")
	b.ReportMetric(float64(base.cpu)/float64(max(stream.cpu, 1)), "x509/stream-cpu")
	b.ReportMetric(float64(stream.peak)/mb, "stream-peak-MiB")
	b.ReportMetric(float64(base.peak)/mb, "x509-peak-MiB")
	b.ReportMetric(float64(base.peak)/float64(max(stream.peak, 1)), "x509/stream-heap")
	b.ReportMetric(float64(retained)/mb, "index-MiB")
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func BenchmarkLookup1M(b *testing.B) { benchLookup(b, 1_000_000) }

func BenchmarkLookup1MIn10M(b *testing.B) {
	if os.Getenv("MYNAGATE_BENCH_10M") != "1" {
		b.Skip("set MYNAGATE_BENCH_10M=1")
	}
	benchLookup(b, 10_000_000)
}

// benchLookup checks 1 M watched serials (half of them on the CRL) against the index of an
// n-entry CRL, by big.Int and by DER bytes. The baseline is a Go map keyed by serial bytes,
// the structure one would build from x509.ParseRevocationList's entries.
func benchLookup(b *testing.B, n int) {
	const watched = 1_000_000
	ix, err := ReadFile(benchCRL(b, n), cas(b).rsa.cert, Options{})
	if err != nil {
		b.Fatal(err)
	}
	serials := make([]*big.Int, watched)
	raw := make([][]byte, watched)
	for i := range serials {
		var s uint64
		if i%2 == 0 {
			s = benchSerial((i * 7919) % n) // on the CRL
		} else {
			s = benchSerial(n + i) // issued, never revoked
		}
		serials[i] = new(big.Int).SetUint64(s)
		raw[i] = serialBytes(serials[i])
	}
	baseline := make(map[string]time.Time, n)
	for i := range n {
		baseline[string(new(big.Int).SetUint64(benchSerial(i)).Bytes())] = benchStart
	}

	var byBig, byBytes, byMap time.Duration
	iters := 0
	for b.Loop() {
		hits := 0
		start := time.Now()
		for _, s := range serials {
			if revoked, _, _ := ix.Lookup(s); revoked {
				hits++
			}
		}
		byBig += time.Since(start)
		start = time.Now()
		for _, s := range raw {
			if revoked, _, _ := ix.LookupBytes(s); revoked {
				hits++
			}
		}
		byBytes += time.Since(start)
		start = time.Now()
		for _, s := range serials {
			if _, revoked := baseline[string(s.Bytes())]; revoked {
				hits++
			}
		}
		byMap += time.Since(start)
		if hits != 3*watched/2 {
			b.Fatalf("%d hits, want %d", hits, 3*watched/2)
		}
		iters++
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(iters) / watched }
	b.ReportMetric(byBig.Seconds()/float64(iters), "1M-lookups-s")
	b.ReportMetric(per(byBig), "ns/lookup")
	b.ReportMetric(per(byBytes), "ns/lookup-bytes")
	b.ReportMetric(per(byMap), "ns/map-lookup")
	b.ReportMetric(per(byBig)/per(byMap), "index/map-time")
}

package evidence_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"math/big"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
)

// Benchmarks report their speed as ratios against baselines measured in the same run, so that
// the numbers mean the same on any machine:
//
//	BenchmarkBuildTree        integrating 100,000 leaves into tiles from an empty tree, leaves/s,
//	                          ×sha256_leaf per leaf, in memory
//	BenchmarkProof            proof generation and verification at 1 M leaves (10 M with
//	                          MYNAGATE_BENCH_10M=1), ×sha256_leaf and ×ed25519_verify, in memory
//	BenchmarkVerifyBundle     a whole offline bundle verification, ×ed25519_verify
//	BenchmarkExport           entries/s exported with proofs and keys, ×raw_read (reading the
//	                          same rows without proofs), in memory
//
// The store's own benchmarks (package store) measure the log's writes and reads on SQLite and
// PostgreSQL, where they happen: inside a verification's transaction.

// bench10M names the environment variable that makes BenchmarkProof build 10 M leaves.
const bench10M = "MYNAGATE_BENCH_10M"

func sha256Baseline() time.Duration {
	leaf := make([]byte, 300) // about the size of a leaf
	const n = 200_000
	start := time.Now()
	for i := 0; i < n; i++ {
		leaf[0] = byte(i)
		sha256.Sum256(leaf)
	}
	return time.Since(start) / n
}

func ed25519Baseline() time.Duration {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("mynagate.example/evidence\n10000000\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	sig := ed25519.Sign(priv, msg)
	const n = 5000
	start := time.Now()
	for i := 0; i < n; i++ {
		ed25519.Verify(pub, msg, sig)
	}
	return time.Since(start) / n
}

func perOp(b *testing.B, d time.Duration) time.Duration { return d / time.Duration(b.N) }

// cpuTime is the CPU time of the process so far. Benchmarks report CPU per operation beside
// wall time: on a machine shared with other work, wall time says mostly how busy the
// neighbours are.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// buildTree grows a tree of n synthetic leaves on st and returns its log and checkpoint.
func buildTree(b *testing.B, st evidence.Storage, grow func(uint64), n uint64) (*evidence.Log, *evidence.StoredCheckpoint) {
	b.Helper()
	l := evidencetest.NewLog(b, st, evidence.WithBatchSize(1<<16))
	grow(n)
	start := time.Now()
	cp, err := l.Publish(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if cp.Size != n {
		b.Fatalf("built %d leaves, want %d", cp.Size, n)
	}
	b.Logf("built a tree of %d leaves in %v", n, time.Since(start).Round(time.Millisecond))
	return l, cp
}

func benchSize() uint64 {
	if os.Getenv(bench10M) != "" {
		return 10_000_000
	}
	return 1_000_000
}

// BenchmarkBuildTree measures building the tiles of a tree of 100,000 synthetic leaves, in
// batches of 4,096 as the integrator takes them, with a checkpoint at the end.
func BenchmarkBuildTree(b *testing.B) {
	const n = 100_000
	shaBase := sha256Baseline()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		s := newTreeOnly()
		l := evidencetest.NewLog(b, s)
		s.grow(n)
		cp, err := l.Publish(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if cp.Size != n {
			b.Fatalf("built %d leaves, want %d", cp.Size, n)
		}
	}
	per := perOp(b, time.Since(start)) / n
	b.ReportMetric(float64(perOp(b, cpuTime()-cpu)/n), "cpu-ns/leaf")
	b.ReportMetric(float64(time.Second)/float64(per), "leaves/s")
	b.ReportMetric(float64(per)/float64(shaBase), "x_sha256_leaf")
}

// BenchmarkProof measures inclusion proofs at a random leaf of a large tree: generation from
// tiles in memory, and offline verification (the proof and the checkpoint's signature).
func BenchmarkProof(b *testing.B) {
	n := benchSize()
	shaBase, edBase := sha256Baseline(), ed25519Baseline()
	mem := newTreeOnly()
	l, cp := buildTree(b, mem, mem.grow, n)
	stores := []struct {
		name string
		log  *evidence.Log
	}{{"memory", l}}
	size := fmt.Sprintf("%dM", n/1_000_000)
	for _, st := range stores {
		b.Run("generate/"+st.name+"/"+size, func(b *testing.B) {
			c := context.Background()
			idx := make([]uint64, 1024)
			for i := range idx {
				r, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
				idx[i] = r.Uint64()
			}
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := st.log.InclusionProof(c, idx[i%len(idx)], n); err != nil {
					b.Fatal(err)
				}
			}
			per := perOp(b, time.Since(start))
			b.ReportMetric(float64(perOp(b, cpuTime()-cpu)), "cpu-ns/op")
			b.ReportMetric(float64(per)/float64(shaBase), "x_sha256_leaf")
		})
	}
	b.Run("verify/"+size, func(b *testing.B) {
		c := context.Background()
		i := n / 3
		p, err := l.InclusionProof(c, i, n)
		if err != nil {
			b.Fatal(err)
		}
		leaf := synthLeafHash(i)
		key := l.PublicKey()
		b.ResetTimer()
		start := time.Now()
		for k := 0; k < b.N; k++ {
			v, err := evidence.ParseCheckpoint(cp.Note, key)
			if err != nil {
				b.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, v.Size, leaf[:], p, v.Root[:]); err != nil {
				b.Fatal(err)
			}
		}
		per := perOp(b, time.Since(start))
		b.ReportMetric(float64(per)/float64(edBase), "x_ed25519_verify")
		b.ReportMetric(float64(len(p)), "proof_hashes")
	})
}

// BenchmarkVerifyBundle measures the whole offline verification of a disclosed bundle: canonical
// JSON, signature, inclusion proof, commitments, decryption and parsing.
func BenchmarkVerifyBundle(b *testing.B) {
	edBase := ed25519Baseline()
	l, s := newLog(b)
	fill(b, l, s, 0, 1000)
	bundle, err := l.Bundle(context.Background(), "t_a", evidencetest.Entry(500, "t_a").ID, true)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := bundle.Marshal()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := evidence.VerifyBundle(data, l.PublicKey()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(perOp(b, time.Since(start)))/float64(edBase), "x_ed25519_verify")
}

// BenchmarkExport measures an auditor export of 5,000 disclosed entries from memory.
func BenchmarkExport(b *testing.B) {
	c := context.Background()
	s := memory.New()
	l := evidencetest.NewLog(b, s)
	const n = 5000
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				if _, err := evidencetest.Append(c, l, s, evidencetest.Entry(i, "t_a")); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, err := l.Publish(c); err != nil {
		b.Fatal(err)
	}
	// Baseline: reading the same rows, without proofs, keys or encoding.
	start := time.Now()
	for from := uint64(0); from < n; from += 500 {
		if _, err := s.TenantEntries(c, evidence.TenantQuery{TenantID: "t_a", From: evidencetest.Base, To: evidencetest.Base.Add(time.Hour * 24), StartIndex: from, Limit: 500}); err != nil {
			b.Fatal(err)
		}
	}
	raw := time.Since(start)
	q := evidence.ExportQuery{TenantID: "t_a", From: evidencetest.Base, To: evidencetest.Base.Add(24 * time.Hour), Disclose: true}
	b.ResetTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		sum, err := l.Export(c, io.Discard, q, nil)
		if err != nil || sum.Count != n {
			b.Fatalf("export: %v, %+v", err, sum)
		}
	}
	per := perOp(b, time.Since(start))
	b.ReportMetric(float64(n)*float64(time.Second)/float64(per), "entries/s")
	b.ReportMetric(float64(per)/float64(raw), "x_raw_read")
}

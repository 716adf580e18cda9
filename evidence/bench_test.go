package evidence_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
)

// Benchmarks report their speed as ratios against baselines measured in the same run, so that
// the numbers mean the same on any machine:
//
//	BenchmarkAppendSQLite     appends/s with group commit, ×one_commit_each (the same appends
//	                          committed one by one, which is what durability costs without grouping)
//	BenchmarkProof            proof generation and verification at 1 M leaves (10 M with
//	                          MYNAGATE_BENCH_10M=1), ×sha256_leaf and ×ed25519_verify
//	BenchmarkVerifyBundle     a whole offline bundle verification, ×ed25519_verify
//	BenchmarkExportSQLite     entries/s exported with proofs and keys, ×raw_read (reading the
//	                          same rows without proofs)

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

// BenchmarkAppendSQLite measures durable appends per second on SQLite (synchronous=FULL, WAL)
// with 128 concurrent callers, the integrator and checkpoint publisher running beside them;
// integrated/s also counts the final integration and checkpoint.
func BenchmarkAppendSQLite(b *testing.B) {
	c := context.Background()
	dir := b.TempDir()
	s := openSQLite(b, filepath.Join(dir, "evidence.db"))
	l := evidencetest.NewLog(b, s, evidence.WithIntervals(100*time.Millisecond, time.Second, time.Hour))

	// Baseline: the same appends, each in a transaction of its own.
	const single = 100
	start := time.Now()
	for i := 0; i < single; i++ {
		if _, err := l.Append(c, evidencetest.Entry(-1-i, "t_bench")); err != nil {
			b.Fatal(err)
		}
	}
	oneEach := time.Since(start) / single

	ctx, cancel := context.WithCancel(c)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.Run(ctx) }()
	var next atomic.Int64
	b.SetParallelism(64)
	b.ResetTimer()
	start = time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(c, evidencetest.Entry(int(next.Add(1)), "t_bench")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	appended := time.Since(start)
	if _, err := l.Publish(c); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	wg.Wait()
	per := perOp(b, elapsed)
	b.ReportMetric(float64(b.N)/appended.Seconds(), "appends/s")
	b.ReportMetric(float64(time.Second)/float64(per), "integrated/s")
	b.ReportMetric(float64(oneEach)/float64(per), "x_vs_one_commit_each")
	b.ReportMetric(float64(time.Second)/float64(oneEach), "one_commit_each_appends/s")
}

// synthSQLite is the SQLite storage with synthetic pending leaves (as treeOnly), so that a
// tree of millions of leaves is built on SQLite tiles without inserting entries.
type synthSQLite struct {
	*sqliteStorage
	synth *treeOnly
}

func (s *synthSQLite) Unsequenced(ctx context.Context, max int) ([]evidence.Pending, error) {
	ts, err := s.sqliteStorage.Tree(ctx)
	if err != nil {
		return nil, err
	}
	s.synth.mu.Lock()
	s.synth.tree.Size = ts.Size
	s.synth.mu.Unlock()
	return s.synth.Unsequenced(ctx, max)
}

func (s *synthSQLite) Integrate(ctx context.Context, in evidence.Integration) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE evidence_tree SET size = $1, root = $2 WHERE one = 1 AND size = $3`, in.To, in.Root[:], in.From)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return evidence.ErrTreeMoved
		}
		for _, t := range in.Tiles {
			if _, err := tx.ExecContext(ctx, `INSERT INTO evidence_tiles (level, idx, hashes) VALUES ($1, $2, $3)
				ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes`, t.Level, t.Index, t.Hashes); err != nil {
				return err
			}
		}
		return nil
	})
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

// BenchmarkProof measures inclusion proofs at a random leaf of a large tree: generation from
// tiles (in memory, and on SQLite with MYNAGATE_BENCH_10M) and offline verification (the proof
// and the checkpoint's signature).
func BenchmarkProof(b *testing.B) {
	n := benchSize()
	shaBase, edBase := sha256Baseline(), ed25519Baseline()
	mem := newTreeOnly()
	l, cp := buildTree(b, mem, mem.grow, n)
	stores := []struct {
		name string
		log  *evidence.Log
	}{{"memory", l}}
	if os.Getenv(bench10M) != "" {
		sq := &synthSQLite{sqliteStorage: openSQLite(b, filepath.Join(b.TempDir(), "tiles.db")), synth: newTreeOnly()}
		sl, scp := buildTree(b, sq, sq.synth.grow, n)
		if scp.Root != cp.Root {
			b.Fatal("SQLite and memory trees differ")
		}
		stores = append(stores, struct {
			name string
			log  *evidence.Log
		}{"sqlite", sl})
	}
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
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := st.log.InclusionProof(c, idx[i%len(idx)], n); err != nil {
					b.Fatal(err)
				}
			}
			per := perOp(b, time.Since(start))
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
	l, _ := newLog(b)
	fill(b, l, 0, 1000)
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

// BenchmarkExportSQLite measures an auditor export of 5,000 disclosed entries from SQLite.
func BenchmarkExportSQLite(b *testing.B) {
	c := context.Background()
	s := openSQLite(b, filepath.Join(b.TempDir(), "evidence.db"))
	l := evidencetest.NewLog(b, s)
	const n = 5000
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				if _, err := l.Append(c, evidencetest.Entry(i, "t_a")); err != nil {
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

// Package benchkit measures mynagate's verification throughput with the real components — the
// J-LIS simulator over HTTP, the CRL fetcher and checker, the platform on a real store, and the
// HTTP API on loopback — beside the raw RSA-2048 verification rate measured in the same run, so
// that results are ratios that stay meaningful on a shared, noisy machine.
//
// It serves `mynagate bench verify` and the Go benchmarks; it is not used by the platform.
package benchkit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/delivery"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/web"
)

// World is a running platform with its J-LIS, one tenant and a few issued cards.
type World struct {
	Plat   *platform.Platform
	Tenant *platform.Tenant
	APIURL string
	APIKey string
	Cards  []*jpki.CardFile
	// Profile, when set, is the path prefix of a CPU profile of each measurement:
	// Profile + ".<measurement>.prof".
	Profile  string
	st       *store.Store
	dsn      string       // the PostgreSQL database's; empty on SQLite
	held     []completion // the last Split's completions (BareInsert)
	platOpts []platform.Option
	closers  []func()
}

// Close stops the servers and removes the temporary state.
func (w *World) Close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// NewWorld builds a world on the store named by dsn ("" = SQLite in a temporary directory) with
// cards issued cards.
func NewWorld(ctx context.Context, dsn string, cards int, opts ...store.Option) (*World, error) {
	w := &World{}
	dir, err := os.MkdirTemp("", "mynagate-bench-")
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, func() { os.RemoveAll(dir) })
	fail := func(err error) (*World, error) { w.Close(); return nil, err }
	sim, err := jlis.Open(ctx, filepath.Join(dir, "jlis"))
	if err != nil {
		return fail(err)
	}
	w.closers = append(w.closers, func() { sim.Close() })
	jurl, stop, err := serve(sim.Handler())
	if err != nil {
		return fail(err)
	}
	w.closers = append(w.closers, stop)
	for i := 0; i < cards; i++ {
		b4 := jpki.Basic4{Name: fmt.Sprintf("試験　%d郎", i), Birth: jpki.Date{Year: 1980 + i%30, Month: time.Month(1 + i%12), Day: 1 + i%28}, Sex: jpki.SexMale, Address: "東京都港区芝公園４丁目２番８号"}
		iss, err := sim.Issue(ctx, jlis.IssueRequest{Basic4: b4})
		if err != nil {
			return fail(err)
		}
		w.Cards = append(w.Cards, iss.Card)
	}
	jc := jlisapi.New(jurl)
	cas, srcs, err := wiring.Trust(ctx, jc, jurl)
	if err != nil {
		return fail(err)
	}
	f := revocation.NewFetcher(srcs, revocation.WithTempDir(dir))
	if err := f.Refresh(ctx); err != nil {
		return fail(err)
	}
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(dir, "platform.db")
	} else {
		w.dsn = dsn
	}
	st, err := store.Open(ctx, dsn, opts...)
	if err != nil {
		return fail(err)
	}
	w.closers = append(w.closers, func() { st.Close() })
	var h http.Handler
	api, stop, err := serve(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { h.ServeHTTP(rw, r) }))
	if err != nil {
		return fail(err)
	}
	w.closers = append(w.closers, stop)
	w.APIURL = api
	// The evidence log as `serve` runs it: every verification adds its sealed entry in its own
	// transaction, and the integrator sequences entries into the tree beside the verifications.
	keys, err := evidence.LoadKeys(filepath.Join(dir, "evidence"), evidence.DefaultOrigin, rand.Reader)
	if err != nil {
		return fail(err)
	}
	log, err := evidence.New(st, keys)
	if err != nil {
		return fail(err)
	}
	w.background(ctx, func(ctx context.Context) { log.Run(ctx) })
	w.st = st
	w.platOpts = []platform.Option{platform.WithMaster(bytes.Repeat([]byte{1}, 32)), platform.WithCAs(cas...),
		platform.WithRevocation(wiring.Revocation{Checker: revocation.NewChecker(f)}), platform.WithLinks(jc), platform.WithHolderBaseURL(api),
		platform.WithSessionTTL(time.Hour), platform.WithEvidence(log)}
	w.Plat, err = platform.New(st, w.platOpts...)
	if err != nil {
		return fail(err)
	}
	// The webhook deliverer as `serve` runs it (the bench tenant has no endpoint, so its
	// verifications write no event and the deliverer finds the outbox empty).
	d, err := delivery.New(w.Plat)
	if err != nil {
		return fail(err)
	}
	w.background(ctx, d.Run)
	h = web.New(w.Plat)
	if w.Tenant, err = w.Plat.CreateTenant(ctx, "Bench", platform.AllFacts); err != nil {
		return fail(err)
	}
	if w.APIKey, _, err = w.Plat.CreateAPIKey(ctx, w.Tenant.ID, "bench"); err != nil {
		return fail(err)
	}
	return w, nil
}

// background runs f until the world closes: Close cancels its context and waits for it to
// return (the shutdown protocol of the evidence log and the deliverer), before it closes what
// was set up earlier.
func (w *World) background(ctx context.Context, f func(context.Context)) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { f(ctx); close(done) }()
	w.closers = append(w.closers, func() { cancel(); <-done })
}

// prepared is a session whose challenge is already signed.
type prepared struct {
	id, token string
	cert, sig []byte
}

// Prepare creates n login sessions and signs their challenges with the cards' authentication
// keys (round robin). This is the holder's work and is not part of what is measured.
func (w *World) Prepare(ctx context.Context, n int) ([]prepared, error) {
	return w.prepareOn(ctx, w.Plat, n)
}

func (w *World) prepareOn(ctx context.Context, p *platform.Platform, n int) ([]prepared, error) {
	keys := make([]*rsa.PrivateKey, len(w.Cards))
	for i, c := range w.Cards {
		k, err := x509.ParsePKCS8PrivateKey(c.Auth.Key)
		if err != nil {
			return nil, err
		}
		keys[i] = k.(*rsa.PrivateKey)
	}
	out := make([]prepared, n)
	// Sessions are created and signed concurrently (the store groups the inserts), only so that
	// setting up large runs does not take longer than measuring them.
	err := forEach(n, Workers()*8, func(i int) error {
		s, _, err := p.CreateSession(ctx, w.Tenant, platform.SessionRequest{Purpose: platform.PurposeLogin})
		if err != nil {
			return err
		}
		sum := sha256.Sum256(s.Challenge())
		sig, err := rsa.SignPKCS1v15(rand.Reader, keys[i%len(keys)], crypto.SHA256, sum[:])
		if err != nil {
			return err
		}
		out[i] = prepared{id: s.ID, token: s.HolderToken, cert: w.Cards[i%len(keys)].Auth.Cert, sig: sig}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// forEach calls f(0) … f(n-1) on workers goroutines; the first error stops each worker that
// meets one, and is returned once all have stopped.
func forEach(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// Result is one measured rate.
type Result struct {
	Name    string
	N       int
	Elapsed time.Duration
	Workers int
	CPU     time.Duration // CPU time of the whole process during the run (user + system)
}

// CPUPerOp is the process's CPU time per operation; with Elapsed it tells whether a run was
// bound by the CPU or by waiting (for the disk, or for one serial stage).
func (r Result) CPUPerOp() time.Duration { return r.CPU / time.Duration(max(r.N, 1)) }

// processCPU is the CPU time this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PerSecond is the rate.
func (r Result) PerSecond() float64 { return float64(r.N) / r.Elapsed.Seconds() }

// run answers the prepared sessions with workers goroutines through f, profiling the run when
// w.Profile is set.
func (w *World) run(name string, ps []prepared, workers int, f func(p prepared) error) (Result, error) {
	return w.runN(name, len(ps), workers, func(i int) error { return f(ps[i]) })
}

// runN measures f(0) … f(n-1) on workers goroutines, profiling the run when w.Profile is set.
func (w *World) runN(name string, n, workers int, f func(i int) error) (Result, error) {
	if w.Profile != "" {
		out, err := os.Create(w.Profile + "." + name + ".prof")
		if err != nil {
			return Result{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			return Result{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	start, cpu := time.Now(), processCPU()
	err := forEach(n, workers, f)
	el, used := time.Since(start), processCPU()-cpu
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", name, err)
	}
	return Result{Name: name, N: n, Elapsed: el, Workers: workers, CPU: used}, nil
}

// InProcess measures platform.Complete called directly.
func (w *World) InProcess(ctx context.Context, ps []prepared, workers int) (Result, error) {
	return w.run("in-process", ps, workers, func(p prepared) error {
		return accepted(w.Plat.Complete(ctx, p.id, p.token, platform.Answer{Certificate: p.cert, Signature: p.sig}))
	})
}

// Split measures the two halves of an in-process verification apart, n verifications each, to
// show which one bounds the whole:
//
//   - pipeline: platform.Complete on a second node of the same platform whose storage holds back
//     the completion it is handed (the verification, its links, event and sealed evidence
//     record) instead of writing it — everything but the store's writes;
//   - writes: exactly those held-back completions, then written to the store by as many
//     goroutines — the store's writes alone, with the evidence log integrating behind them.
//
// Its sessions are created on the second node, so that its caches are as warm as the first's.
// Run it after InProcess: a held-back completion links no certificate, so a card that no
// measurement has linked yet would be taken for a new person on each of its verifications.
func (w *World) Split(ctx context.Context, n, workers int) (pipeline, writes Result, err error) {
	h := &holding{Store: w.st}
	node, err := platform.New(h, w.platOpts...)
	if err != nil {
		return Result{}, Result{}, err
	}
	ps, err := w.prepareOn(ctx, node, n)
	if err != nil {
		return Result{}, Result{}, err
	}
	pipeline, err = w.run("pipeline", ps, workers, func(p prepared) error {
		return accepted(node.Complete(ctx, p.id, p.token, platform.Answer{Certificate: p.cert, Signature: p.sig}))
	})
	if err != nil {
		return Result{}, Result{}, err
	}
	if len(h.held) != n {
		return Result{}, Result{}, fmt.Errorf("split: %d completions held back, want %d", len(h.held), n)
	}
	w.held = h.held
	writes, err = w.runN("writes", n, workers, func(i int) error {
		c := h.held[i]
		return w.st.CompleteSession(ctx, c.v, c.certs, c.events, c.consents, c.rec)
	})
	return pipeline, writes, err
}

// holding is platform storage that holds back completions instead of writing them (Split).
type holding struct {
	*store.Store
	mu   sync.Mutex
	held []completion
}

type completion struct {
	v        platform.Verification
	certs    []platform.PersonCert
	events   []platform.Event
	consents []platform.Consent
	rec      *evidence.Record
}

func (h *holding) CompleteSession(_ context.Context, v platform.Verification, certs []platform.PersonCert, events []platform.Event, consents []platform.Consent, rec *evidence.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = append(h.held, completion{v, certs, events, consents, rec})
	return nil
}

// accepted is the outcome of a Complete call that was expected to accept.
func accepted(v *platform.Verification, err error) error {
	if err == nil && v.Decision != platform.DecisionAccepted {
		err = fmt.Errorf("verification %s rejected: %s", v.ID, v.Reason)
	}
	return err
}

// HTTP measures the holder's POST through the API on loopback.
func (w *World) HTTP(ctx context.Context, ps []prepared, workers int) (Result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	c := client.New(w.APIURL, client.WithHTTPClient(&http.Client{Transport: tr, Timeout: time.Minute}))
	return w.run("http", ps, workers, func(p prepared) error {
		r, err := c.Answer(ctx, p.id, p.token, p.cert, p.sig)
		if err == nil && r.Decision != "accepted" {
			err = fmt.Errorf("verification %s rejected", r.VerificationID)
		}
		return err
	})
}

// RawVerify measures rsa.VerifyPKCS1v15 with an RSA-2048 key for d, with workers goroutines:
// the baseline of the ratios.
func RawVerify(d time.Duration, workers int) (Result, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Result{}, err
	}
	sum := sha256.Sum256([]byte("baseline"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return Result{}, err
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for time.Now().Before(deadline) {
				for range 64 {
					if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
						panic("benchkit: baseline signature does not verify")
					}
				}
				n += 64
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	return Result{Name: "raw RSA-2048 verify", N: int(total.Load()), Elapsed: time.Since(start), Workers: workers}, nil
}

// Workers is one per core, the concurrency of the raw baseline.
func Workers() int { return runtime.GOMAXPROCS(0) }

// Concurrency is the default number of verifications in flight: 32 per core. A verification
// waits for its commit to reach the disk, so a platform under load has many in flight — that is
// what lets the store share commits — and a benchmark with one per core would measure the
// disk's latency rather than the platform's throughput.
func Concurrency() int { return 32 * runtime.GOMAXPROCS(0) }

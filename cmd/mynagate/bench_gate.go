package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/doors"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/benchkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
	"github.com/spf13/cobra"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchGateCmd) }

func newBenchGateCmd() *cobra.Command {
	var attendees, lanes int
	var full bool
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Doors open: attendees tap virtual cards at offline gate lanes; decisions per second and latency beside the raw RSA-2048 verify rate",
		Long: `A J-LIS simulator issues one card per attendee (in a temporary directory), a manifest of their
tickets with holder commitments and a CRL snapshot is signed, and --lanes gate devices, each
with its own key, admit --attendees people by card tap alone ("tap only"), offline, with the
virtual cards in-process (through package reader). The cards' own signing is done in a separate
phase and is not counted. Reported: decisions per second per lane and for all lanes, the
decision latency p50/p90/p99 (goal: p99 < 50 ms), the raw RSA-2048 verification rate measured
before and after with one worker per core (goal: decisions at >= 80 % of it), and a staffed
visual check's 6-8 people per minute per lane for scale. The lanes' records are then merged as
at sync: every attendee admitted once, no conflict.

--full runs the issue's size: 30,000 attendees through 20 lanes (issuing 30,000 cards takes
minutes).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if full {
				attendees, lanes = 30000, 20
			}
			if attendees <= 0 || lanes <= 0 || lanes > attendees {
				return fmt.Errorf("--attendees and --lanes must be positive, with no more lanes than attendees")
			}
			defer slog.SetDefault(slog.Default())
			slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil))) // the reader logs every PIN and signature
			return benchGate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), attendees, lanes)
		},
	}
	cmd.Flags().IntVar(&attendees, "attendees", 2000, "attendees (one card and one ticket each)")
	cmd.Flags().IntVar(&lanes, "lanes", 4, "lanes, one gate device each")
	cmd.Flags().BoolVar(&full, "full", false, "30,000 attendees through 20 lanes")
	return withoutJSON(cmd, "a measurement report for people; benchmarks are the machine-readable form")
}

func benchGate(ctx context.Context, w, progress io.Writer, attendees, lanes int) error {
	dir, err := os.MkdirTemp("", "mynagate-bench-gate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Distinct certificates, keys from a small pool: key generation is not what is measured.
	pool := make([]*rsa.PrivateKey, 8)
	for i := range pool {
		if pool[i], err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return err
		}
	}
	var nk atomic.Int64
	keys := func() (*rsa.PrivateKey, error) { return pool[int(nk.Add(1))%len(pool)], nil }
	sim, err := jlis.Open(ctx, filepath.Join(dir, "jlis"), jlis.WithKeyGenerator(keys))
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Fprintf(progress, "issuing %d cards…\n", attendees)
	cards := make([]*jpki.CardFile, attendees)
	for i := range cards {
		// Holders under 15 get the authentication certificate only, which is all a gate needs.
		b4 := jpki.Basic4{Name: fmt.Sprintf("来場　%05d", i), Birth: jpki.Date{Year: 2016, Month: time.May, Day: 1 + i%28}, Sex: jpki.SexFemale, Address: "東京都千代田区霞が関２丁目１番２号"}
		iss, err := sim.Issue(ctx, jlis.IssueRequest{Basic4: b4})
		if err != nil {
			return fmt.Errorf("issue card %d: %w", i, err)
		}
		cards[i] = iss.Card
	}
	crl, err := sim.CRL(ctx, "auth")
	if err != nil {
		return err
	}
	crlDER, err := os.ReadFile(crl.Path)
	if err != nil {
		return err
	}
	ca, err := sim.CACertificate("auth")
	if err != nil {
		return err
	}
	clk := clockwork.NewRealClock()
	now := clk.Now()
	m := &manifest.Manifest{Event: "doors", IssuedAt: now, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(6 * time.Hour),
		RequireCard: true, CommitKey: make([]byte, 32), CardKey: make([]byte, 32), CodeKey: make([]byte, 32), CACerts: [][]byte{ca.Raw}, CRLs: [][]byte{crlDER}}
	rand.Read(m.CommitKey)
	rand.Read(m.CardKey)
	rand.Read(m.CodeKey)
	day := now.In(jpki.JST).Format(time.DateOnly)
	for i, cf := range cards {
		m.Tickets = append(m.Tickets, manifest.Ticket{ID: fmt.Sprintf("t%05d", i), Event: "doors", Day: day, Seat: fmt.Sprintf("A-%d", i+1), Status: "valid",
			Holder: m.HolderOf(cf.Auth.Cert)})
	}
	_, svc, _ := ed25519.GenerateKey(rand.Reader)
	env, err := manifest.Sign(m, svc)
	if err != nil {
		return err
	}
	opened, err := manifest.Open(env, svc.Public().(ed25519.PublicKey), "doors", now)
	if err != nil {
		return err
	}
	tap := func(i int, msg []byte) ([]byte, []byte, error) {
		c, err := card.New(cards[i])
		if err != nil {
			return nil, nil, err
		}
		rc := reader.NewClient(reader.NewInProcess(c, "virtual"))
		defer rc.Close()
		s, err := rc.AuthSigner(ctx, jlis.DefaultAuthPIN)
		if err != nil {
			return nil, nil, err
		}
		d := sha256.Sum256(msg)
		sig, err := s.SignContext(ctx, d[:], crypto.SHA256)
		return s.Certificate().Raw, sig, err
	}
	fmt.Fprintf(progress, "manifest: %d tickets, %d bytes; doors open: %d lanes…\n", len(m.Tickets), len(env), lanes)
	rawVerify := func() (benchkit.Result, error) {
		c0 := processCPU()
		r, err := benchkit.RawVerify(2*time.Second, benchkit.Workers())
		r.CPU = processCPU() - c0
		return r, err
	}
	raw1, err := rawVerify()
	if err != nil {
		return err
	}
	res, err := doors.Run(doors.Config{Manifest: opened, Attendees: attendees, Card: tap, Lanes: lanes, Clock: clk, Rand: rand.Reader,
		Journal: func(int) io.Writer { return io.Discard }, CPU: processCPU})
	if err != nil {
		return err
	}
	raw2, err := rawVerify()
	if err != nil {
		return err
	}
	raw := (raw1.PerSecond() + raw2.PerSecond()) / 2
	rawCPU := float64(raw1.N+raw2.N) / (raw1.CPU + raw2.CPU).Seconds()
	fmt.Fprintf(w, "gate doors-open: %d attendees, %d lanes, %d cores, offline, tap only\n", attendees, lanes, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "  %-8s %9s %9s %14s %10s %10s %10s\n", "lane", "admitted", "refused", "decisions/s", "p50", "p90", "p99")
	for _, l := range res.Lanes {
		nref := 0
		for _, v := range l.Refused {
			nref += v
		}
		fmt.Fprintf(w, "  %-8d %9d %9d %14.0f %10s %10s %10s\n", l.Lane, l.Admitted, nref, l.PerSecond(), round(l.Percentile(50)), round(l.Percentile(90)), round(l.Percentile(99)))
	}
	fmt.Fprintf(w, "  all lanes: %d decisions in %s of deciding: %.0f decisions/s; latency p50 %s, p90 %s, p99 %s (goal p99 < 50 ms); the cards' signing took %s apart\n",
		res.Decisions(), round(res.Deciding), res.PerSecond(), round(res.Percentile(50)), round(res.Percentile(90)), round(res.Percentile(99)), round(res.Signing))
	fmt.Fprintf(w, "  raw RSA-2048 verify, %d workers: %.0f/s before, %.0f/s after; decisions at %.0f %% of it (goal >= 80 %%)\n",
		benchkit.Workers(), raw1.PerSecond(), raw2.PerSecond(), 100*res.PerSecond()/raw)
	fmt.Fprintf(w, "  per second of CPU time (what other processes on a shared machine do not change): %.0f decisions, %.0f raw RSA-2048 verifications; decisions at %.0f %% of it\n",
		res.PerCPUSecond(), rawCPU, 100*res.PerCPUSecond()/rawCPU)
	fmt.Fprintf(w, "  a staffed visual check: 6-8 people per minute per lane; a gate lane here decides %.0f per minute\n", 60*res.Lanes[0].PerSecond())
	sync := gate.Merge("doors", res.Keys, res.Records)
	fmt.Fprintf(w, "  sync: %d admissions, %d conflicts, %d records rejected\n", len(sync.Admissions), len(sync.Conflicts), len(sync.Rejected))
	for _, l := range res.Lanes {
		for r, n := range l.Refused {
			return fmt.Errorf("lane %d refused %d attendees (%s): every attendee holds a valid ticket", l.Lane, n, r)
		}
	}
	if len(sync.Admissions) != attendees || len(sync.Conflicts) != 0 || len(sync.Rejected) != 0 {
		return fmt.Errorf("sync found %d admissions for %d attendees, %d conflicts, %d rejected", len(sync.Admissions), attendees, len(sync.Conflicts), len(sync.Rejected))
	}
	return nil
}

// processCPU is the CPU time this process has used so far (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

package main

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/mynagate/mynagate/store"

	"github.com/mynagate/mynagate/internal/benchkit"
	"github.com/spf13/cobra"
)

func init() { register(newBenchCmd) }

// benchSubcommands lets other files add `mynagate bench X` commands.
var benchSubcommands []func() *cobra.Command

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput as ratios against baselines taken in the same run",
		Long: `Benchmarks of mynagate. Machines are shared and noisy, so every result is reported beside a
baseline measured in the same run (for verifications: the raw RSA-2048 verification rate), and
the ratio is what to compare between runs.`,
	}
	cmd.AddCommand(newBenchVerifyCmd())
	for _, b := range benchSubcommands {
		cmd.AddCommand(b())
	}
	return cmd
}

func newBenchVerifyCmd() *cobra.Command {
	var n, workers, cards int
	var pg, cpuprofile string
	var skipHTTP, noGroup bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verifications per second in-process and through the HTTP API, on SQLite (and PostgreSQL with --postgres)",
		Long: `Each verification costs at least two RSA-2048 verifications (the certificate's signature by the
J-LIS CA and the holder's signature over the challenge), so the bound per core is half the raw
RSA-2048 verify rate per core. The goal is at least 50 % of that bound. The holder's signatures
are made before timing starts.

Below each in-process measurement, its two halves are measured apart: the pipeline with the
store's writes held back (everything a verification does but write), and then exactly those
writes, made to the store alone. The slower half bounds the whole. On PostgreSQL a third line
is the ceiling of those writes: their entry rows alone, copied with pgx CopyFrom 64 rows a
transaction into a table like the entries' (no session to match, no person, no counter).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n <= 0 || workers <= 0 || cards <= 0 {
				return fmt.Errorf("--n, --workers and --cards must be positive")
			}
			w := cmd.OutOrStdout()
			ctx := cmd.Context()
			// Request logs are formatted as `serve` formats them (JSON, info level), so that
			// their cost is measured, and then discarded rather than written to the terminal.
			defer slog.SetDefault(slog.Default())
			slog.SetDefault(slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})))
			raw1, err := benchkit.RawVerify(2*time.Second, benchkit.Workers())
			if err != nil {
				return err
			}
			stores := []struct{ name, dsn string }{{"SQLite", ""}}
			if pg != "" {
				stores = append(stores, struct{ name, dsn string }{"PostgreSQL", pg})
			}
			var results []benchkit.Result
			for _, s := range stores {
				fmt.Fprintf(cmd.ErrOrStderr(), "setting up %s: J-LIS, %d cards, platform…\n", s.name, cards)
				var opts []store.Option
				if noGroup {
					opts = append(opts, store.WithoutGroupCommit())
				}
				world, err := benchkit.NewWorld(ctx, s.dsn, cards, opts...)
				if err != nil {
					return err
				}
				if cpuprofile != "" {
					world.Profile = cpuprofile + "." + strings.ToLower(s.name)
				}
				ps, err := world.Prepare(ctx, n)
				if err != nil {
					world.Close()
					return err
				}
				r, err := world.InProcess(ctx, ps, workers)
				if err != nil {
					world.Close()
					return err
				}
				r.Name = "in-process, " + s.name
				results = append(results, r)
				pipe, writes, err := world.Split(ctx, n, workers)
				if err != nil {
					world.Close()
					return err
				}
				pipe.Name, writes.Name = "  pipeline, writes held back", "  its writes alone"
				results = append(results, pipe, writes)
				if s.dsn != "" {
					bare, err := world.BareInsert(ctx, workers)
					if err != nil {
						world.Close()
						return err
					}
					bare.Name = "  its entry rows alone (COPY)"
					results = append(results, bare)
				}
				if !skipHTTP {
					ps, err := world.Prepare(ctx, n)
					if err != nil {
						world.Close()
						return err
					}
					r, err := world.HTTP(ctx, ps, workers)
					if err != nil {
						world.Close()
						return err
					}
					r.Name = "HTTP on loopback, " + s.name
					results = append(results, r)
				}
				world.Close()
			}
			raw2, err := benchkit.RawVerify(2*time.Second, benchkit.Workers())
			if err != nil {
				return err
			}
			report(w, raw1, raw2, results)
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "n", 2000, "verifications per measurement")
	cmd.Flags().IntVar(&workers, "workers", benchkit.Concurrency(), "concurrent verifications (default: 32 per core, as on a loaded server)")
	cmd.Flags().IntVar(&cards, "cards", 4, "distinct cards (persons) the verifications rotate over")
	cmd.Flags().StringVar(&pg, "postgres", "", "also measure on this PostgreSQL database (postgres://...; its tables are created)")
	cmd.Flags().BoolVar(&skipHTTP, "no-http", false, "measure in-process only")
	cmd.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of each measurement (not of the set-up) to PREFIX.<store>.<measurement>.prof, for go tool pprof")
	cmd.Flags().BoolVar(&noGroup, "no-group-commit", false, "commit each SQLite transaction on its own (to see what group commit buys)")
	return cmd
}

func report(w io.Writer, raw1, raw2 benchkit.Result, results []benchkit.Result) {
	raw := (raw1.PerSecond() + raw2.PerSecond()) / 2
	cores := float64(runtime.GOMAXPROCS(0))
	perCore := raw / cores
	bound := perCore / 2
	fmt.Fprintf(w, "baseline  raw RSA-2048 verify: %.0f/s with %d workers on %.0f cores (%.0f/s before, %.0f/s after) = %.0f/s per core\n",
		raw, raw1.Workers, cores, raw1.PerSecond(), raw2.PerSecond(), perCore)
	fmt.Fprintf(w, "bound     2 RSA verifies per verification: %.0f verifications/s per core\n\n", bound)
	fmt.Fprintf(w, "%-32s %10s %10s %9s %14s %10s\n", "measurement", "verif/s", "per core", "of bound", "CPU per verif", "CPU busy")
	for _, r := range results {
		pc := r.PerSecond() / cores
		busy := r.CPU.Seconds() / (r.Elapsed.Seconds() * cores)
		fmt.Fprintf(w, "%-32s %10.0f %10.0f %8.0f%% %14s %9.0f%%\n", r.Name, r.PerSecond(), pc, 100*pc/bound,
			r.CPUPerOp().Round(time.Microsecond), 100*busy)
	}
	fmt.Fprintf(w, "\ngoal: at least 50%% of the bound\n")
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mynagate/mynagate/ticket"
	"github.com/mynagate/mynagate/ticket/draw"
	"github.com/mynagate/mynagate/ticket/rush"
	"github.com/mynagate/mynagate/ticket/tickettest"
	"github.com/spf13/cobra"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchTicketCmd) }

func newBenchTicketCmd() *cobra.Command {
	var attempts, seats, nodes, workers int
	var draws []int
	var pg string
	var noKill, noDraw, noRush bool
	cmd := &cobra.Command{
		Use:   "ticket",
		Short: "Lottery draws of 100,000 and 1,000,000 applications; an on-sale rush over HTTP against ticket serve nodes, one killed mid-rush",
		Long: `The draw: package ticket/draw over N applications, beside sorting the same N ids (the least a
draw must do) measured in the same run. Goal: under one second for 100,000.

The rush: --attempts purchase attempts (1 or 2 tickets each, every person limited to 2 across
their accounts) for --seats seats, from --workers concurrent clients over HTTP on loopback,
against --nodes 'mynagate ticket serve' processes sharing one database (SQLite, and PostgreSQL
with --postgres ADMIN_URL, where a database is created and dropped). With two or more nodes the
first is killed with SIGKILL a third of the way through; clients retry on another node with the
same idempotency key. Afterwards the database must hold exactly --seats tickets, every one of
them received by a client, nobody over their limit. The accounts and their persons are set up
in-process beforehand, against a stand-in of the platform's session API (the platform's own
work is what 'mynagate bench verify' measures). Beside it, the bare INSERT rate of the same
database with the same concurrency, measured in the same run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			ctx := cmd.Context()
			if !noDraw {
				for _, n := range draws {
					if err := benchDraw(w, n); err != nil {
						return err
					}
				}
			}
			if noRush {
				return nil
			}
			if attempts <= 0 || seats <= 0 || nodes <= 0 || workers <= 0 {
				return errors.New("--attempts, --seats, --nodes and --workers must be positive")
			}
			dir, err := os.MkdirTemp("", "mynagate-bench-ticket-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			type store struct{ name, dsn string }
			stores := []store{{"SQLite", "sqlite:" + filepath.Join(dir, "ticket.db")}}
			if pg != "" {
				dsn, drop, err := tickettest.CreatePostgres(ctx, pg)
				if err != nil {
					return err
				}
				defer drop()
				stores = append(stores, store{"PostgreSQL", dsn})
			}
			var failed []string
			for _, s := range stores {
				if err := benchRush(ctx, w, cmd.ErrOrStderr(), dir, s.name, s.dsn, attempts, seats, nodes, workers, !noKill); err != nil {
					failed = append(failed, s.name+": "+err.Error())
				}
			}
			if len(failed) > 0 {
				return exitCode{code: 1, err: errors.New(strings.Join(failed, "; "))}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntSliceVar(&draws, "draw", []int{100_000, 1_000_000}, "draw sizes")
	fl.IntVar(&attempts, "attempts", 10_000, "purchase attempts in the rush")
	fl.IntVar(&seats, "seats", 1_000, "seats on sale")
	fl.IntVar(&nodes, "nodes", 2, "ticket serve processes sharing the database")
	fl.IntVar(&workers, "workers", 64, "concurrent clients")
	fl.StringVar(&pg, "postgres", "", "also rush on PostgreSQL: an administrative URL (postgres://postgres@127.0.0.1:5432/postgres); a database is created and dropped")
	fl.BoolVar(&noKill, "no-kill", false, "do not kill a node mid-rush")
	fl.BoolVar(&noDraw, "no-draw", false, "skip the draws")
	fl.BoolVar(&noRush, "no-rush", false, "skip the rush")
	return cmd
}

func benchDraw(w io.Writer, n int) error {
	entries := make([]draw.Entry, n)
	for i := range entries {
		entries[i] = draw.Entry{ID: fmt.Sprintf("app_%024x", uint64(i)*0x9E3779B97F4A7C15), Class: "S", Seats: 1 + i%2}
	}
	draw.SortEntries(entries)
	ids := make([]string, n)
	for i, e := range entries {
		ids[i] = e.ID
	}
	// Baseline: sorting the ids (shuffled first), which a draw over a published list needs too.
	shuffled := slices.Clone(ids)
	for i := range shuffled {
		j := (i * 7919) % n
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	t0 := time.Now()
	slices.Sort(shuffled)
	sortT := time.Since(t0)
	seed := bytes.Repeat([]byte{1}, 32)
	t0 = time.Now()
	winners, err := draw.Run(seed, map[string]int64{"S": int64(n / 10)}, entries)
	if err != nil {
		return err
	}
	drawT := time.Since(t0)
	goal := ""
	if n == 100_000 {
		goal = "  (goal < 1s: " + map[bool]string{true: "met", false: "MISSED"}[drawT < time.Second] + ")"
	}
	fmt.Fprintf(w, "draw %9d applications: %8s, %d winners; baseline sort of the ids %8s; ratio %.1f×%s\n",
		n, drawT.Round(time.Millisecond), len(winners), sortT.Round(time.Millisecond), drawT.Seconds()/sortT.Seconds(), goal)
	return nil
}

// benchRush sets up an event and its buyers in-process, starts the nodes, rushes and audits.
func benchRush(ctx context.Context, w, errw io.Writer, dir, name, dsn string, attempts, seats, nodes, workers int, kill bool) error {
	fmt.Fprintf(errw, "%s: setting up…\n", name)
	db, err := ticket.OpenDB(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	insertT, err := db.InsertRate(ctx, attempts, workers)
	if err != nil {
		return err
	}
	plat := tickettest.NewPlatform()
	svc, err := ticket.New(db, plat, make([]byte, 32), ticket.WithPasswordCost(4))
	if err != nil {
		return err
	}
	org, _, err := svc.CreateOrganiser(ctx, "bench")
	if err != nil {
		return err
	}
	ev, err := svc.CreateEvent(ctx, org, ticket.EventRequest{Name: "rush", Venue: "bench", Date: "2030-01-01", Identity: ticket.IdentityLogin, MaxPerPerson: 2,
		Classes: []ticket.SeatClass{{Name: "S", Price: 9800, Capacity: int64(seats)}}})
	if err != nil {
		return err
	}
	persons := max(attempts*2/5, 1)
	var tokens []string
	for p := range persons {
		// A quarter of the people have two accounts and use both.
		for k := range 1 + btoi(p%4 == 0) {
			email := fmt.Sprintf("p%d-%d@bench.invalid", p, k)
			a, err := svc.CreateAccount(ctx, email, "bench password", "buyer")
			if err != nil {
				return err
			}
			tok, err := svc.Login(ctx, email, "bench password")
			if err != nil {
				return err
			}
			v, err := svc.StartVerification(ctx, a, ev.ID, false)
			if err != nil {
				return err
			}
			if err := plat.Answer(v.HolderURL, fmt.Sprintf("sub-%d", p), nil); err != nil {
				return err
			}
			if _, err := svc.CompleteVerification(ctx, a, v.ID); err != nil {
				return err
			}
			tokens = append(tokens, tok)
		}
	}
	keyFile, codeKey := filepath.Join(dir, "api-key"), filepath.Join(dir, "code.key")
	os.WriteFile(keyFile, []byte("unused: the rush verifies nobody\n"), 0o600)
	var procs []*exec.Cmd
	var targets []string
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	for i := range nodes {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		p := exec.Command(os.Args[0], "ticket", "serve", "--db", dsn, "--addr", addr, "--platform", "http://127.0.0.1:9", "--api-key-file", keyFile, "--code-key-file", codeKey)
		var logs bytes.Buffer
		p.Stdout, p.Stderr = io.Discard, &logs
		if err := p.Start(); err != nil {
			return err
		}
		procs = append(procs, p)
		if err := waitHealthy("http://"+addr, 30*time.Second); err != nil {
			return fmt.Errorf("node %d: %w: %s", i, err, lastLine(logs.String()))
		}
		targets = append(targets, "http://"+addr)
	}
	fmt.Fprintf(errw, "%s: %d nodes up, %d people with %d accounts; rushing…\n", name, nodes, persons, len(tokens))
	var killOnce sync.Once
	killed := ""
	res := rush.Run(ctx, rush.Config{Targets: targets, EventID: ev.ID, Class: "S", Tokens: tokens, Attempts: attempts, Concurrency: workers,
		Quantity: func(i int) int { return 1 + i%2 },
		Progress: func(done int) {
			if kill && nodes >= 2 && done >= attempts/3 {
				killOnce.Do(func() {
					procs[0].Process.Kill() // SIGKILL
					killed = fmt.Sprintf(", node 1 killed (SIGKILL) after %d attempts", done)
				})
			}
		}})
	a, err := db.Audit(ctx, ev.ID)
	if err != nil {
		return err
	}
	var problems []string
	if a.Tickets != seats || a.DistinctSeats != seats || a.Taken != int64(seats) {
		problems = append(problems, fmt.Sprintf("%d tickets on %d seats (taken %d), want exactly %d", a.Tickets, a.DistinctSeats, a.Taken, seats))
	}
	lost := 0
	for _, id := range a.TicketIDs {
		if _, ok := res.Tickets[id]; !ok {
			lost++
		}
	}
	if lost > 0 || len(res.Tickets) != a.Tickets {
		problems = append(problems, fmt.Sprintf("%d tickets sold that no client received; clients hold %d", lost, len(res.Tickets)))
	}
	if a.OverLimit > 0 || a.Mismatched > 0 {
		problems = append(problems, fmt.Sprintf("%d people over the limit, %d limits disagreeing with tickets", a.OverLimit, a.Mismatched))
	}
	if res.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d attempts got no answer: %v", res.Failed, res.Errors))
	}
	rate := float64(attempts) / res.Elapsed.Seconds()
	base := float64(attempts) / insertT.Seconds()
	fmt.Fprintf(w, "rush %-10s %d attempts for %d seats, %d nodes%s: %.0f attempts/s, p50 %s, p99 %s; retried %d; sold %d, refused %v\n",
		name, attempts, seats, nodes, killed, rate, res.Percentile(50).Round(100*time.Microsecond), res.Percentile(99).Round(100*time.Microsecond), res.Retried, a.Tickets, res.Refused)
	fmt.Fprintf(w, "     %-10s baseline: bare single-row INSERTs %.0f/s with %d clients; the rush runs at %.2f× that\n", name, base, workers, rate/base)
	if len(problems) > 0 {
		fmt.Fprintf(w, "     %-10s FAILED: %s\n", name, strings.Join(problems, "; "))
		return errors.New(strings.Join(problems, "; "))
	}
	fmt.Fprintf(w, "     %-10s exactly %d sold, every ticket received by its buyer, nobody over the limit\n", name, seats)
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHealthy(base string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not healthy in time")
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

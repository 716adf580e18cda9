// Package doors simulates doors opening at an event: attendees tap their cards at lanes, each
// lane a gate device of its own (its key, its challenges, its journal) on the same manifest,
// offline. It measures what a gate costs: decisions per second per lane and the latency of a
// decision, excluding the card's own signing time.
//
// The card's signing is kept out of the measurement by rounds: in each round every lane draws a
// challenge for each of its next attendees and their cards answer (untimed; on a real lane the
// card's chip does this, not the gate's processor), then all lanes decide those taps
// concurrently (timed, one decision at a time per lane, as a turnstile does). A round is short
// enough that its challenges are still fresh when decided.
package doors

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
)

// Card answers a gate's challenge for attendee i: the card's authentication certificate and its
// signature over msg.
type Card func(i int, msg []byte) (cert, sig []byte, err error)

// Config is a run.
type Config struct {
	Manifest  *manifest.Manifest
	Attendees int
	Card      Card
	Lanes     int
	// PerRound is how many attendees each lane takes per round (default 100).
	PerRound int
	Clock    clockwork.Clock
	Rand     io.Reader
	// Journal, when set, makes each lane journal its records (io.Discard measures the encoding).
	Journal func(lane int) io.Writer
	// CPU, when set, reads this process's CPU time; the decide phases' CPU time is then
	// reported, a measure that other processes on a shared machine do not disturb.
	CPU func() time.Duration
}

// Lane is what one lane did.
type Lane struct {
	Lane     int
	Admitted int
	Refused  map[gate.Reason]int
	// Busy is the time spent deciding (the sum of its decisions' latencies).
	Busy      time.Duration
	Latencies []time.Duration
}

// PerSecond is the lane's decisions per second of deciding.
func (l Lane) PerSecond() float64 { return float64(l.Admitted+refused(l.Refused)) / l.Busy.Seconds() }

func refused(m map[gate.Reason]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Result is a run.
type Result struct {
	Lanes []Lane
	// Deciding is the wall time of the decide phases, Signing that of the cards' phases.
	Deciding, Signing time.Duration
	// DecidingCPU is the process's CPU time during the decide phases (with Config.CPU).
	DecidingCPU time.Duration
	// Records are the lanes' signed admission records.
	Records []gate.SignedRecord
	Keys    map[string]ed25519.PublicKey
}

// Decisions is the number of decisions made.
func (r *Result) Decisions() int {
	n := 0
	for _, l := range r.Lanes {
		n += l.Admitted + refused(l.Refused)
	}
	return n
}

// PerSecond is decisions per second of deciding, all lanes together.
func (r *Result) PerSecond() float64 { return float64(r.Decisions()) / r.Deciding.Seconds() }

// PerCPUSecond is decisions per second of the process's CPU time while deciding.
func (r *Result) PerCPUSecond() float64 { return float64(r.Decisions()) / r.DecidingCPU.Seconds() }

// Percentile of all decisions' latencies (p in [0,100]).
func (r *Result) Percentile(p float64) time.Duration {
	var all []time.Duration
	for _, l := range r.Lanes {
		all = append(all, l.Latencies...)
	}
	return percentile(all, p)
}

// Percentile of the lane's latencies.
func (l Lane) Percentile(p float64) time.Duration { return percentile(l.Latencies, p) }

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

// Run runs the doors: attendee i goes to lane i mod Lanes.
func Run(c Config) (*Result, error) {
	if c.Lanes <= 0 || c.Attendees <= 0 || c.Card == nil || c.Manifest == nil || c.Clock == nil || c.Rand == nil {
		return nil, errors.New("doors: Config needs lanes, attendees, cards, a manifest, a clock and a random source")
	}
	if c.PerRound <= 0 {
		c.PerRound = 100
	}
	res := &Result{Keys: map[string]ed25519.PublicKey{}}
	gates := make([]*gate.Gate, c.Lanes)
	var recMu sync.Mutex
	for l := range gates {
		_, key, err := ed25519.GenerateKey(c.Rand)
		if err != nil {
			return nil, err
		}
		id := fmt.Sprintf("lane-%02d", l+1)
		var j io.Writer
		if c.Journal != nil {
			j = c.Journal(l)
		}
		if gates[l], err = gate.New(gate.Config{Manifest: c.Manifest, GateID: id, Lane: fmt.Sprint(l + 1), Key: key, Clock: c.Clock, Rand: c.Rand, Journal: j}); err != nil {
			return nil, err
		}
		res.Keys[id] = key.Public().(ed25519.PublicKey)
		res.Lanes = append(res.Lanes, Lane{Lane: l + 1, Refused: map[gate.Reason]int{}})
	}
	next := 0
	for next < c.Attendees {
		// The cards' phase: challenges drawn, cards answer.
		type tap struct {
			lane int
			t    *gate.Tap
		}
		taps := make([][]tap, c.Lanes)
		type job struct {
			i, lane int
			ch      gate.Challenge
			t       *gate.Tap
		}
		var jobs []*job
		start := time.Now()
		for range c.PerRound {
			for l := range c.Lanes {
				if next >= c.Attendees {
					break
				}
				ch, err := gates[l].NewChallenge()
				if err != nil {
					return nil, err
				}
				j := &job{i: next, lane: l, ch: ch, t: &gate.Tap{Nonce: ch.Nonce}}
				jobs = append(jobs, j)
				taps[l] = append(taps[l], tap{l, j.t})
				next++
			}
		}
		// The cards sign in parallel (one worker per core); their time is not the gates'.
		errs := make([]error, len(jobs))
		var wg sync.WaitGroup
		work := make(chan int)
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range work {
					j := jobs[k]
					var err error
					if j.t.Certificate, j.t.Signature, err = c.Card(j.i, j.ch.Message); err != nil {
						errs[k] = fmt.Errorf("doors: card of attendee %d: %w", j.i, err)
					}
				}
			}()
		}
		for k := range jobs {
			work <- k
		}
		close(work)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		res.Signing += time.Since(start)
		// The gates' phase: every lane decides its taps, one after the other. Each lane is a
		// device with its own processor, but here the lanes share this machine's cores: a lane
		// takes a core for each decision (cores semaphore) and the wait for it is not the
		// decision's latency. The cards' garbage is collected first: it is not the gates'.
		runtime.GC()
		cores := make(chan struct{}, runtime.GOMAXPROCS(0))
		var cpu0 time.Duration
		if c.CPU != nil {
			cpu0 = c.CPU()
		}
		start = time.Now()
		for l := range c.Lanes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ln := &res.Lanes[l]
				for _, tp := range taps[l] {
					cores <- struct{}{}
					t0 := time.Now()
					d := gates[l].Decide(gate.Presentation{Tap: tp.t})
					el := time.Since(t0)
					<-cores
					ln.Busy += el
					ln.Latencies = append(ln.Latencies, el)
					if d.Admit {
						ln.Admitted++
						recMu.Lock()
						res.Records = append(res.Records, *d.Record)
						recMu.Unlock()
					} else {
						ln.Refused[d.Reason]++
					}
				}
			}()
		}
		wg.Wait()
		res.Deciding += time.Since(start)
		if c.CPU != nil {
			res.DecidingCPU += c.CPU() - cpu0
		}
	}
	return res, nil
}

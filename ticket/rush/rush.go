// Package rush drives an on-sale rush against ticket serve nodes over HTTP: many concurrent
// purchase attempts, each with its own idempotency key, retried on another node when a node
// does not answer (so a node killed mid-rush loses nothing). It speaks only the service's HTTP
// API, for the tests, `mynagate bench ticket` and scripts alike.
package rush

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one rush.
type Config struct {
	// Targets are the base URLs of the nodes (http://127.0.0.1:PORT); attempt i starts at
	// Targets[i % len].
	Targets []string
	EventID string
	Class   string
	// Tokens are the buyers' login tokens; attempt i is made by Tokens[i % len].
	Tokens      []string
	Attempts    int
	Concurrency int
	// Quantity of attempt i (default 1).
	Quantity func(i int) int
	// Retries bounds the attempts per purchase when nodes fail (default 50, 100 ms apart).
	Retries int
	Client  *http.Client
	// Progress, when set, is called after each attempt with the number done so far.
	Progress func(done int)
}

// Result is what the clients saw.
type Result struct {
	// Tickets maps each ticket id received to the attempt that received it.
	Tickets map[string]int
	// Refused counts refusals by reason (sold-out, over-limit, …).
	Refused map[string]int
	// Failed counts attempts that got no answer after every retry, or an unexpected one.
	Failed    int
	Errors    []string
	Retried   int
	Latencies []time.Duration // of the attempts that got an answer, sorted
	Elapsed   time.Duration
}

// Percentile returns the p-th percentile latency (0 < p ≤ 100).
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies))*p/100+0.5) - 1
	i = max(0, min(i, len(r.Latencies)-1))
	return r.Latencies[i]
}

// Run runs the rush until every attempt has an outcome or ctx ends.
func Run(ctx context.Context, c Config) *Result {
	if c.Concurrency <= 0 {
		c.Concurrency = 64
	}
	if c.Retries <= 0 {
		c.Retries = 50
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c.Concurrency, MaxConnsPerHost: 0}}
	}
	res := &Result{Tickets: map[string]int{}, Refused: map[string]int{}}
	var mu sync.Mutex
	var next, done atomic.Int64
	var retried atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range c.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= c.Attempts || ctx.Err() != nil {
					return
				}
				q := 1
				if c.Quantity != nil {
					q = c.Quantity(i)
				}
				t0 := time.Now()
				ids, reason, err := attempt(ctx, c, i, q, &retried)
				lat := time.Since(t0)
				mu.Lock()
				switch {
				case err != nil:
					res.Failed++
					if len(res.Errors) < 10 {
						res.Errors = append(res.Errors, err.Error())
					}
				case reason != "":
					res.Refused[reason]++
					res.Latencies = append(res.Latencies, lat)
				default:
					for _, id := range ids {
						res.Tickets[id] = i
					}
					res.Latencies = append(res.Latencies, lat)
				}
				mu.Unlock()
				if d := done.Add(1); c.Progress != nil {
					c.Progress(int(d))
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Retried = int(retried.Load())
	slices.Sort(res.Latencies)
	return res
}

// attempt makes purchase i, moving to the next node when one does not answer or answers 5xx,
// always with the same idempotency key.
func attempt(ctx context.Context, c Config, i, qty int, retried *atomic.Int64) ([]string, string, error) {
	body, _ := json.Marshal(map[string]any{"seat_class": c.Class, "quantity": qty})
	key := fmt.Sprintf("rush-%d", i)
	tok := c.Tokens[i%len(c.Tokens)]
	var last error
	for try := range c.Retries {
		if try > 0 {
			retried.Add(1)
			select {
			case <-ctx.Done():
				return nil, "", ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		base := c.Targets[(i+try)%len(c.Targets)]
		req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/events/"+c.EventID+"/purchase", bytes.NewReader(body))
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Idempotency-Key", key)
		resp, err := c.Client.Do(req)
		if err != nil {
			last = err
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		switch {
		case resp.StatusCode == 200:
			var out struct {
				Tickets []struct {
					ID string `json:"id"`
				} `json:"tickets"`
			}
			if err := json.Unmarshal(data, &out); err != nil {
				return nil, "", fmt.Errorf("attempt %d: %w", i, err)
			}
			ids := make([]string, len(out.Tickets))
			for k, t := range out.Tickets {
				ids[k] = t.ID
			}
			return ids, "", nil
		case resp.StatusCode == 409 || resp.StatusCode >= 500:
			// 409 order-in-progress: the same key is being processed elsewhere; retry.
			last = fmt.Errorf("attempt %d: HTTP %d: %s", i, resp.StatusCode, bytes.TrimSpace(data))
			continue
		default:
			var p struct {
				Title string `json:"title"`
			}
			if json.Unmarshal(data, &p) != nil || p.Title == "" {
				return nil, "", fmt.Errorf("attempt %d: HTTP %d: %s", i, resp.StatusCode, bytes.TrimSpace(data))
			}
			return nil, p.Title, nil
		}
	}
	return nil, "", fmt.Errorf("attempt %d: no node answered: %w", i, last)
}

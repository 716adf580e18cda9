package jlis

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// populateBase is the first serial of synthetic populations; issued certificates draw their
// serials below it, so the two never collide.
const populateBase = int64(1) << 62

// Populate adds n synthetic revoked certificates to the named CA, so that CRLs of national size
// (millions of entries) can be produced and measured. They have serials above 2^62 in increasing
// order, revocation times within the last five years, a realistic mix of reasons (moves most
// often, then renewals, holders' requests and lost cards, the last with an invalidity date) and
// no resident. progress, if not nil, is called after each batch with the count done so far.
func (s *Simulator) Populate(ctx context.Context, name string, n int64, progress func(done int64)) error {
	a, err := s.authority(name)
	if err != nil {
		return err
	}
	if n <= 0 {
		return invalidf("population size must be positive, not %d", n)
	}
	var seed [16]byte
	if _, err := s.rand.Read(seed[:]); err != nil {
		return fmt.Errorf("jlis: seed population: %w", err)
	}
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	s.mu.Lock()
	defer s.mu.Unlock()
	key := "populate_next_" + string(a.name)
	next := populateBase
	if v, ok, err := getMeta(ctx, s.db, key); err != nil {
		return err
	} else if ok {
		if next, err = strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("jlis: meta %s is corrupt: %w", key, err)
		}
	}
	now := s.clk.Now().Unix()
	notAfter := s.clk.Now().AddDate(5, 0, 0).Unix()
	const perStmt, perTx = 250, 100_000
	var done int64
	for done < n {
		batch := min(int64(perTx), n-done)
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("jlis: begin: %w", err)
		}
		for i := int64(0); i < batch; {
			k := min(int64(perStmt), batch-i)
			var q strings.Builder
			q.WriteString(`INSERT INTO cert (ca, serial, kind, not_before, not_after, revoked_at, reason, invalidity) VALUES `)
			args := make([]any, 0, k*7)
			for j := int64(0); j < k; j++ {
				if j > 0 {
					q.WriteByte(',')
				}
				q.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?)`)
				next += 1 + rng.Int64N(1000)
				revoked := now - rng.Int64N(5*365*24*3600)
				reason, inv := populationReason(rng), any(nil)
				if reason == ReasonKeyCompromise {
					inv = revoked - rng.Int64N(7*24*3600)
				}
				args = append(args, string(a.name), next, string(a.name.kind()), revoked-365*24*3600, notAfter, revoked, int(reason), inv)
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				tx.Rollback()
				return fmt.Errorf("jlis: insert population: %w", err)
			}
			i += k
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, key, strconv.FormatInt(next, 10)); err != nil {
			tx.Rollback()
			return fmt.Errorf("jlis: record population: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ca SET dirty = 1 WHERE name = ?`, string(a.name)); err != nil {
			tx.Rollback()
			return fmt.Errorf("jlis: mark CRL dirty: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("jlis: commit population: %w", err)
		}
		done += batch
		if progress != nil {
			progress(done)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func populationReason(rng *rand.Rand) Reason {
	switch p := rng.IntN(100); {
	case p < 50:
		return ReasonAffiliationChanged
	case p < 75:
		return ReasonSuperseded
	case p < 90:
		return ReasonCessationOfOperation
	default:
		return ReasonKeyCompromise
	}
}

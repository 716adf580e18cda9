package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
)

// readyCheck is one dependency /readyz checks, by the name its 503 gives when it fails.
type readyCheck struct {
	name  string
	check func(context.Context) error
}

// readiness is the check behind a node's /readyz: every dependency is checked (not only up to
// the first failure), and the error names each one that is not ready. A check gets at most two
// seconds, so a hung database makes the node not ready instead of hanging the probe.
func readiness(checks ...readyCheck) func(context.Context) error {
	return func(ctx context.Context) error {
		var errs []error
		for _, c := range checks {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := c.check(cctx)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			}
		}
		return errors.Join(errs...)
	}
}

// nodeReadiness checks the node's database (a trivial query through the store), the freshness
// of every J-LIS CRL the fetcher keeps, and the evidence log's background work.
func nodeReadiness(db *store.Store, crls *revocation.Fetcher, log *evidence.Log) func(context.Context) error {
	return readiness(
		readyCheck{"database", db.Ping},
		readyCheck{"jlis-crl", func(context.Context) error { return crls.Ready() }},
		readyCheck{"evidence-log", func(context.Context) error { return log.Ready() }},
	)
}

package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
)

// TrustRefresher keeps a running platform's trust in step with J-LIS: on each refresh it fetches
// the CA list again, checks it with CheckTrust exactly as at start (pins, the record, link
// certificates from trusted generations — no weaker path), records it, and then trusts the new
// generations and fetches their CRLs along with every other CRL. A refresh that fails — J-LIS
// down, a generation no trusted key links to — changes nothing: the CAs in force stay trusted and
// their CRLs are still fetched.
type TrustRefresher struct {
	JLIS     *jlisapi.Client
	Base     string // J-LIS base URL, as given to Trust
	Pins     *Pins  // nil: the record is the reference
	Store    AnchorStore
	Platform *platform.Platform
	Fetcher  *revocation.Fetcher
	Clock    clockwork.Clock
}

// Refresh checks J-LIS for new CA generations, then refreshes every CRL. It returns the names of
// the generations it began to trust and the errors of both steps joined.
func (r *TrustRefresher) Refresh(ctx context.Context) ([]string, error) {
	added, trustErr := r.refreshTrust(ctx)
	crlErr := r.Fetcher.Refresh(ctx)
	if trustErr != nil && crlErr != nil {
		return added, fmt.Errorf("%w; %w", trustErr, crlErr)
	}
	if trustErr != nil {
		return added, trustErr
	}
	return added, crlErr
}

func (r *TrustRefresher) refreshTrust(ctx context.Context) ([]string, error) {
	cas, sources, err := Trust(ctx, r.JLIS, r.Base)
	if err != nil {
		return nil, fmt.Errorf("trust refresh: %w; keeping the CAs in force", err)
	}
	if err := CheckTrust(ctx, cas, r.Pins, r.Store, r.Clock.Now()); err != nil {
		return nil, fmt.Errorf("trust refresh: %w; keeping the CAs in force", err)
	}
	known := map[string]bool{}
	for _, s := range r.Fetcher.Sources() {
		known[s.Name] = true
	}
	var newCAs []platform.CA
	var newSources []revocation.Source
	var names []string
	for i, ca := range cas {
		if known[ca.Name] {
			continue
		}
		newCAs, newSources, names = append(newCAs, ca), append(newSources, sources[i]), append(names, ca.Name)
	}
	if len(newCAs) == 0 {
		return nil, nil
	}
	// The CRL source first: a certificate of the new generation is never verified without it.
	r.Fetcher.AddSources(newSources...)
	if err := r.Platform.AddCAs(newCAs...); err != nil {
		return nil, fmt.Errorf("trust refresh: %w", err)
	}
	for _, ca := range newCAs {
		slog.InfoContext(ctx, "trusting new J-LIS CA generation", "ca", ca.Name, "subject", ca.Cert.Subject.String(), "key_id", platform.CAKey(ca.Cert), "sha256", Fingerprint(ca.Cert))
	}
	return names, nil
}

// Run refreshes every interval until ctx is done (it replaces Fetcher.Run in serve); a failed
// refresh is logged and the previous trust and CRLs stay in force.
func (r *TrustRefresher) Run(ctx context.Context, every time.Duration) {
	t := r.Clock.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "trust/CRL refresh failed; keeping the previous CAs and CRLs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

package wiring

// Revocation notification: the CRL fetcher of package revocation feeds the notifier of package
// platform, which do not import each other.

import (
	"context"
	"log/slog"
	"time"

	"github.com/mynagate/mynagate/notify"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
)

// OnCRLUpdate returns the fetcher hook that feeds each new CRL to n: the entries it added since the
// previous CRL of its CA, or — on the first CRL a process reads, or when the two cannot be diffed
// — the whole CRL checked against every watched certificate (Notifier.Reconcile). Certificates
// noticed before are never noticed again, so the choice only costs time, never a duplicate.
// Failures are logged; the notifier keeps failed work and retries it.
func OnCRLUpdate(n *notify.Notifier) revocation.UpdateFunc {
	return func(ctx context.Context, src revocation.Source, prev, next *revocation.Index) {
		crl := notify.CRLRef{CA: platform.CAKey(src.Issuer), Name: src.Name, Number: next.Metadata().Number.String()}
		if prev != nil {
			revs, err := revocation.NewlyRevoked(prev, next)
			if err == nil {
				out := make([]notify.RevokedCert, len(revs))
				for i, r := range revs {
					out[i] = notify.RevokedCert{Serial: r.Serial, RevokedAt: r.RevokedAt, Reason: int(r.Reason)}
				}
				if _, err := n.CertificatesRevoked(ctx, crl, out); err != nil {
					slog.WarnContext(ctx, "wiring: revocations not noticed yet; retrying", "crl", crl.String(), "err", err)
				}
				return
			}
			slog.WarnContext(ctx, "wiring: cannot diff consecutive CRLs; checking every watched certificate", "crl", crl.String(), "err", err)
		}
		lookup := func(serial string) (bool, time.Time, int) {
			ok, at, r := next.LookupText(serial)
			return ok, at, int(r)
		}
		if _, err := n.Reconcile(ctx, crl, lookup); err != nil {
			slog.WarnContext(ctx, "wiring: reconcile failed; retrying", "crl", crl.String(), "err", err)
		}
	}
}

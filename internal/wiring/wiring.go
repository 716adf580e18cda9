// Package wiring joins packages that must not know each other: revocation's Checker serves as
// platform's RevocationChecker through an adapter here, so that neither package imports the
// other. It is used by cmd/mynagate and by the end-to-end tests and benchmarks.
package wiring

import (
	"context"
	"crypto/x509"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
)

// Revocation adapts a revocation.Checker to platform.RevocationChecker.
type Revocation struct{ Checker *revocation.Checker }

// Status implements platform.RevocationChecker.
func (a Revocation) Status(ctx context.Context, cert, issuer *x509.Certificate, o platform.RevocationOptions) (*platform.RevocationStatus, error) {
	policy := revocation.Policy(o.Policy)
	if o.Policy == "" {
		policy = revocation.PolicyCRL
	}
	s, err := a.Checker.Status(ctx, cert, issuer, policy)
	if err != nil {
		return nil, err
	}
	out := &platform.RevocationStatus{Revoked: s.Revoked, RevokedAt: s.RevokedAt, Reason: s.Reason, Method: platform.RevocationMethod(s.Method),
		CRLThisUpdate: s.CRLThisUpdate, OCSPResponse: s.OCSPResponse}
	if s.CRLNumber != nil {
		out.CRLNumber = s.CRLNumber.String()
	}
	return out, nil
}

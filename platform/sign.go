package platform

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/mynagate/mynagate/cades"
	"github.com/mynagate/mynagate/challenge"
	"github.com/mynagate/mynagate/evidence"
)

// SignedDocument returns the detached CMS (CAdES-BES SignedData, DER) of an accepted
// document-signing verification of the tenant, with the document's SHA-256. Nothing but the
// verification's sealed evidence entry holds it: the CMS is assembled again from the entry's
// challenge (which states the document hash and the signing time), the certificate and the
// signature, so it is crypto-shredded with the rest of the holder's personal data at the end
// of the tenant's retention (then 410 personal-data-shredded). 404 for another tenant's
// verification, 409 not-a-signature for a verification that signed no document or was
// rejected.
func (p *Platform) SignedDocument(ctx context.Context, tenant *Tenant, verificationID string) (cms, digest []byte, err error) {
	notFound := newError(KindNotFound, "not-found", "verification %s does not exist", verificationID)
	if p.evidence == nil {
		return nil, nil, notFound
	}
	o, err := p.evidence.Open(ctx, tenant.ID, verificationID)
	if errors.Is(err, evidence.ErrNotFound) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, internal(fmt.Errorf("platform: open the evidence of %s: %w", verificationID, err))
	}
	f, err := challenge.Parse(o.Leaf.Challenge)
	if err != nil || !f.Signing() || o.Leaf.Decision != evidence.Accepted {
		return nil, nil, newError(KindConflict, "not-a-signature", "verification %s is not an accepted document signature", verificationID)
	}
	if o.Shredded() {
		return nil, nil, newError(KindGone, "personal-data-shredded", "the signature of verification %s was shredded at the end of the retention", verificationID)
	}
	cert, err := x509.ParseCertificate(o.Personal.Certificate)
	if err != nil {
		return nil, nil, internal(fmt.Errorf("platform: the certificate of %s: %w", verificationID, err))
	}
	attrs, err := cades.ChallengeAttributes(f.DocumentSHA256, cert, f.SigningTime, o.Leaf.Challenge)
	if err != nil {
		return nil, nil, internal(err)
	}
	cms, err = cades.SignedData(attrs, o.Personal.Signature, cert)
	if err != nil {
		return nil, nil, internal(fmt.Errorf("platform: the CMS of %s: %w", verificationID, err))
	}
	return cms, f.DocumentSHA256, nil
}

package platform

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/mynagate/mynagate/internal/kdf"
)

// A tenant's card id of a holder is what lets the tenant's own offline devices (a ticket
// service's gates, docs/design/gate.md) recognise the card a person verified with, without
// asking the platform and without an identifier other tenants share:
//
//	card key = the master secret's kdf.CardKey key for the tenant id (HKDF-SHA256, internal/kdf)
//	card id  = base64url(HMAC-SHA256(card key, "mynagate-card-id-v1" 0x00 SHA-256(auth certificate DER)))
//
// A login verification shows its card id to the tenant that ran it; the tenant fetches its
// card key once (GET /v1/tenant/card-key) and gives it to its gates, which compute the same id
// from the certificate a tapped card presents. Two tenants' ids of one card differ and neither
// can compute the other's: the card key is per tenant, so a bare fingerprint of the
// certificate, one value across every tenant, is never served. Package gate/manifest computes
// the same formula (CardID there); a test of internal/e2e holds them together.

// cardIDFormat names the card id's formula and is its domain separator.
const cardIDFormat = "mynagate-card-id-v1"

// CardKey returns a tenant's card key (see above). It follows from the master secret and the
// tenant id alone, like the pairwise key, so every node derives the same. A platform without
// the master secret has none (an internal error).
func (p *Platform) CardKey(tenantID string) ([]byte, error) {
	if p.keys == nil {
		return nil, internal(errors.New("platform: card keys need the master secret"))
	}
	return p.cardKey(tenantID), nil
}

func (p *Platform) cardKey(tenantID string) []byte { return p.keys.KeyFor(kdf.CardKey, tenantID) }

// CardID computes a card id from a tenant's card key and an authentication certificate (DER).
func CardID(cardKey, certDER []byte) string {
	fp := sha256.Sum256(certDER)
	m := hmac.New(sha256.New, cardKey)
	m.Write([]byte(cardIDFormat + "\x00"))
	m.Write(fp[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

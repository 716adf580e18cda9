package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"time"

	"github.com/mynagate/mynagate/client"
)

// signRaw signs SHA-256 of any bytes with a card's key, RSASSA-PKCS1-v1_5, as a holder's app
// would if it skipped the client's challenge check: the tests use it to show what the platform
// refuses. The client package signs only checked challenges.
func signRaw(signer crypto.Signer, msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	return signer.Sign(rand.Reader, sum[:], crypto.SHA256)
}

// checkedConsentCh fetches and checks a consent challenge as the holder's app does (nil when refused:
// the consent call then fails with "no checked consent challenge").
func checkedConsentCh(c *client.Client, now time.Time) *client.ConsentChallenge {
	cc, err := c.ConsentChallenge(ctx, now)
	if err != nil {
		return nil
	}
	return cc
}

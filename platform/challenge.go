package platform

import (
	"crypto/ed25519"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mynagate/mynagate/challenge"
	"github.com/mynagate/mynagate/internal/kdf"
)

// The challenge a holder signs is package challenge's format (docs/design/challenge.md); the
// holder's app parses and checks it with the same package (client.CheckChallenge), and the
// end-to-end tests check every challenge the platform serves with the client.

// maxChallengeTenantName bounds the tenant name a challenge carries (bytes of UTF-8); a longer
// name is cut at a character boundary.
const maxChallengeTenantName = challenge.MaxTenantName

// buildChallenge returns the exact bytes the holder signs for session s of tenant t.
func (p *Platform) buildChallenge(s *Session, t *Tenant) []byte {
	// Control characters never reach a holder's screen (holders refuse challenges carrying them).
	name := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(t.Name, "\uFFFD"))
	if len(name) > maxChallengeTenantName {
		name = name[:maxChallengeTenantName]
		for !utf8.ValidString(name) {
			name = name[:len(name)-1]
		}
	}
	f := challenge.Fields{Origin: p.origin(), SessionID: s.ID, TenantID: s.TenantID, TenantName: name,
		Purpose: string(s.Purpose), ExpiresAt: s.ExpiresAt, Nonce: s.Nonce}
	if s.Sign != nil {
		// The signing time is the session's creation, to the second: the platform and the
		// holder's app build the same signed attributes from it.
		f.DocumentSHA256, f.RP, f.SigningTime = s.Sign.DocumentSHA256, s.Sign.RP, s.CreatedAt.UTC().Truncate(time.Second)
	}
	return challenge.Encode(f)
}

// withChallenge fills in the challenge of a session of tenant t.
func (p *Platform) withChallenge(s *Session, t *Tenant) { s.challenge = p.buildChallenge(s, t) }

// origin is the origin of the holder base URL: scheme "://" host [":" port], in lower case,
// without the scheme's default port (as client.Origin computes it from a holder URL).
func (p *Platform) origin() string {
	o, err := challenge.Origin(p.holderBase)
	if err != nil {
		return p.holderBase // refused by every holder: New's callers pass an http(s) URL
	}
	return o
}

// challengeKey is the platform's Ed25519 key for signing challenges, derived from the master
// secret (its seed the kdf.ChallengeSigning key), so every node sharing the
// master signs with the same key and nothing more has to be kept. A holder's app that pins its
// public key (reader verify --platform-key) accepts only challenges this platform signed.
func (p *Platform) challengeKey() ed25519.PrivateKey {
	p.challengeKeyOnce.Do(func() {
		if p.keys == nil {
			return
		}
		p.challengeSigner = ed25519.NewKeyFromSeed(p.keys.Key(kdf.ChallengeSigning))
	})
	return p.challengeSigner
}

// ChallengePublicKey is the public key holders pin to accept only this platform's challenges;
// nil without a master secret.
func (p *Platform) ChallengePublicKey() ed25519.PublicKey {
	k := p.challengeKey()
	if k == nil {
		return nil
	}
	return k.Public().(ed25519.PublicKey)
}

// SignChallenge is the platform's signature over a session's challenge; nil without a master
// secret.
func (p *Platform) SignChallenge(s *Session) []byte {
	k := p.challengeKey()
	if k == nil || s.challenge == nil {
		return nil
	}
	return ed25519.Sign(k, s.challenge)
}

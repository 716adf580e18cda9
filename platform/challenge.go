package platform

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The challenge a holder signs (docs/design/challenge.md): eight LF-terminated lines in a fixed
// order, so that one challenge has one encoding and the holder's app can check, before the
// card signs, that it is a challenge of the platform its URL names, for the session in the
// URL, for the key it is about to use, and still valid:
//
//	mynagate-challenge/v1
//	origin=https://verify.example
//	session=s_…
//	tenant=t_…
//	tenant-name=<the tenant's display name, percent-encoded>
//	purpose=identity|login
//	expires=2026-04-01T01:05:00Z
//	nonce=<32 random bytes, unpadded base64url>
//
// The format is parsed and checked by client.CheckChallenge; the two are kept in step by the
// end-to-end tests, which check every challenge the platform serves with the client.

// challengeDomain starts every challenge, so a signature made for mynagate cannot be replayed
// as a signature over anything else, and vice versa.
const challengeDomain = "mynagate-challenge/v1"

// maxChallengeTenantName bounds the tenant name a challenge carries (bytes of UTF-8); a longer
// name is cut at a character boundary.
const maxChallengeTenantName = 256

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
	var b bytes.Buffer
	b.WriteString(challengeDomain + "\n")
	for _, kv := range [...][2]string{
		{"origin", p.origin()}, {"session", s.ID}, {"tenant", s.TenantID}, {"tenant-name", escapeName(name)},
		{"purpose", string(s.Purpose)}, {"expires", s.ExpiresAt.UTC().Format(time.RFC3339)},
		{"nonce", base64.RawURLEncoding.EncodeToString(s.Nonce)},
	} {
		b.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	return b.Bytes()
}

// withChallenge fills in the challenge of a session of tenant t.
func (p *Platform) withChallenge(s *Session, t *Tenant) { s.challenge = p.buildChallenge(s, t) }

// origin is the origin of the holder base URL: scheme "://" host [":" port], in lower case,
// without the scheme's default port (as client.Origin computes it from a holder URL).
func (p *Platform) origin() string {
	u, err := url.Parse(p.holderBase)
	if err != nil {
		return p.holderBase // refused by every holder: New's callers pass a URL
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return strings.ToLower(u.Scheme) + "://" + host
}

// escapeName percent-encodes every byte but RFC 3986's unreserved characters, upper-case hex.
func escapeName(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// challengeKey is the platform's Ed25519 key for signing challenges, derived from the master
// secret (seed HMAC-SHA256(master, "mynagate challenge key v1")), so every node sharing the
// master signs with the same key and nothing more has to be kept. A holder's app that pins its
// public key (reader verify --platform-key) accepts only challenges this platform signed.
func (p *Platform) challengeKey() ed25519.PrivateKey {
	p.challengeKeyOnce.Do(func() {
		if len(p.master) == 0 {
			return
		}
		m := hmac.New(sha256.New, p.master)
		m.Write([]byte("mynagate challenge key v1"))
		p.challengeSigner = ed25519.NewKeyFromSeed(m.Sum(nil))
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

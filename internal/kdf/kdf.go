// Package kdf derives keys from a secret: one derivation (HKDF-SHA256, crypto/hkdf) and one list
// of labels (labels.go), so that every key the platform takes from its master secret, and every
// key an application takes from its own secret, is named in one place a reviewer reads at a
// glance.
//
// A key is HKDF-SHA256(secret, no salt, info, 32 bytes), where info is the label's string, or
// for a key per tenant (or per other context) the label's string, a 0x00 byte and the context.
// Labels contain no 0x00 byte (checked by the package's test), so no two (label, context) pairs
// share an info, and a key handed to one party (a tenant's card key) reveals nothing of another
// (its pairwise key, the seal of webhook secrets). The secret's length is checked once, by New.
//
// The package derives keys only: where a key then MACs data (pairwise ids, card ids, holder
// tokens, event ids), the MAC stays at its user, with the key from here.
package kdf

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinSecret is the shortest secret New accepts, in bytes.
const MinSecret = 32

// Size is the length of every derived key, in bytes: an AES-256 key, an Ed25519 seed, an
// HMAC-SHA256 key.
const Size = 32

// ErrShortSecret is returned by New for a secret shorter than MinSecret. The caller should refuse
// to start: the secret (e.g. the data directory's master.key) is damaged or not the platform's.
var ErrShortSecret = errors.New("kdf: the secret is shorter than 32 bytes")

// A Secret derives keys from one secret. It keeps HKDF's pseudorandom key, not the secret.
type Secret struct {
	prk []byte
}

// New returns a Secret for secret, which must have at least MinSecret bytes.
func New(secret []byte) (*Secret, error) {
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("%w (it has %d)", ErrShortSecret, len(secret))
	}
	prk, err := hkdf.Extract(sha256.New, secret, nil)
	if err != nil {
		return nil, fmt.Errorf("kdf: %w", err)
	}
	return &Secret{prk: prk}, nil
}

// Key returns the key of label l.
func (s *Secret) Key(l Label) []byte { return s.expand(string(l)) }

// KeyFor returns the key of label l for one context, such as a tenant id: two contexts give
// unrelated keys.
func (s *Secret) KeyFor(l Label, context string) []byte {
	return s.expand(string(l) + "\x00" + context)
}

func (s *Secret) expand(info string) []byte {
	k, err := hkdf.Expand(sha256.New, s.prk, info, Size)
	if err != nil {
		// Expand fails only for a length over 255 hash blocks; Size is one block.
		panic("kdf: " + err.Error())
	}
	return k
}

package oidc

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/jonboulle/clockwork"
	zcrypto "github.com/zitadel/oidc/v3/pkg/crypto"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// keyAlg is the ID token signature algorithm: ECDSA P-256 with SHA-256.
const keyAlg = jose.ES256

// keyring keeps the provider's signing keys: sealed in the store (AES-256-GCM under a key
// derived from the master secret, the key id as additional data, so a sealed key copied to
// another row does not open), opened once per node. A key signs for the rotation period and
// stays in the published key set until the last token it may have signed has expired.
type keyring struct {
	st       Storage
	seal     []byte
	clk      clockwork.Clock
	rand     io.Reader
	rotation time.Duration
	linger   time.Duration

	mu      sync.Mutex
	opened  map[string]*ecdsa.PrivateKey
	current *signingKey
}

func newKeyring(st Storage, seal []byte, clk clockwork.Clock, r io.Reader, rotation, linger time.Duration) *keyring {
	return &keyring{st: st, seal: seal, clk: clk, rand: r, rotation: rotation, linger: linger, opened: map[string]*ecdsa.PrivateKey{}}
}

// signingKey implements op.SigningKey and op.Key.
type signingKey struct {
	id       string
	priv     *ecdsa.PrivateKey
	rotateAt time.Time
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return keyAlg }
func (k *signingKey) Algorithm() jose.SignatureAlgorithm          { return keyAlg }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }
func (k *signingKey) Use() string                                 { return "sig" }

type publicKey struct{ *signingKey }

func (k publicKey) Key() any { return &k.priv.PublicKey }

// signing returns the key to sign with now, making one when none is current.
func (kr *keyring) signing(ctx context.Context) (*signingKey, error) {
	now := kr.clk.Now()
	kr.mu.Lock()
	cur := kr.current
	kr.mu.Unlock()
	if cur != nil && now.Before(cur.rotateAt) {
		return cur, nil
	}
	keys, err := kr.published(ctx, now)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if now.Before(k.rotateAt) {
			kr.mu.Lock()
			kr.current = k
			kr.mu.Unlock()
			return k, nil
		}
	}
	k, err := kr.create(ctx, now)
	if err != nil {
		return nil, err
	}
	kr.mu.Lock()
	kr.current = k
	kr.mu.Unlock()
	return k, nil
}

// published returns the keys in the key set now, newest first. It reads the store every time,
// so that a key another node has just made is published by every node.
func (kr *keyring) published(ctx context.Context, now time.Time) ([]*signingKey, error) {
	sealed, err := kr.st.OIDCSigningKeys(ctx, now)
	if err != nil {
		return nil, err
	}
	var out []*signingKey
	for _, s := range sealed {
		priv, err := kr.open(s)
		if err != nil {
			return nil, err
		}
		out = append(out, &signingKey{id: s.ID, priv: priv, rotateAt: s.RotateAt})
	}
	return out, nil
}

func (kr *keyring) create(ctx context.Context, now time.Time) (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), kr.rand)
	if err != nil {
		return nil, fmt.Errorf("oidc: generate signing key: %w", err)
	}
	idb := make([]byte, 8)
	if _, err := io.ReadFull(kr.rand, idb); err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%x", idb)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	sealed, err := kr.sealKey(id, der)
	if err != nil {
		return nil, err
	}
	sk := SigningKey{ID: id, Alg: string(keyAlg), Sealed: sealed, CreatedAt: now, RotateAt: now.Add(kr.rotation), PublishUntil: now.Add(kr.rotation + kr.linger)}
	if err := kr.st.CreateOIDCSigningKey(ctx, sk); err != nil {
		return nil, err
	}
	kr.mu.Lock()
	kr.opened[id] = priv
	kr.mu.Unlock()
	return &signingKey{id: id, priv: priv, rotateAt: sk.RotateAt}, nil
}

func (kr *keyring) aead() (cipher.AEAD, error) {
	b, err := aes.NewCipher(kr.seal)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (kr *keyring) sealKey(id string, der []byte) ([]byte, error) {
	aead, err := kr.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(kr.rand, nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, der, []byte("oidc-key:"+id)), nil
}

func (kr *keyring) open(s SigningKey) (*ecdsa.PrivateKey, error) {
	kr.mu.Lock()
	priv, ok := kr.opened[s.ID]
	kr.mu.Unlock()
	if ok {
		return priv, nil
	}
	if s.Alg != string(keyAlg) {
		return nil, fmt.Errorf("oidc: signing key %s has algorithm %s, want %s", s.ID, s.Alg, keyAlg)
	}
	aead, err := kr.aead()
	if err != nil {
		return nil, err
	}
	if len(s.Sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("oidc: signing key %s: sealed data too short", s.ID)
	}
	der, err := aead.Open(nil, s.Sealed[:aead.NonceSize()], s.Sealed[aead.NonceSize():], []byte("oidc-key:"+s.ID))
	if err != nil {
		return nil, fmt.Errorf("oidc: signing key %s does not open with this master secret: %w", s.ID, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("oidc: signing key %s: %w", s.ID, err)
	}
	priv, ok = k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("oidc: signing key " + s.ID + " is not an ECDSA key")
	}
	kr.mu.Lock()
	kr.opened[s.ID] = priv
	kr.mu.Unlock()
	return priv, nil
}

// keySet returns the published public keys.
func (kr *keyring) keySet(ctx context.Context) ([]op.Key, error) {
	keys, err := kr.published(ctx, kr.clk.Now())
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, publicKey{k})
	}
	return out, nil
}

// SignIDToken signs an ID token for sub and clientID with the current signing key, through the
// library's own steps (op.SignerFromKey, then crypto.Sign of oidc.IDTokenClaims), as the token
// endpoint does for every token. `mynagate bench oidc` measures it beside a raw ECDSA P-256
// signature.
func (pr *Provider) SignIDToken(ctx context.Context, sub, clientID string) (string, error) {
	k, err := pr.keys.signing(ctx)
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims := zoidc.NewIDTokenClaims(pr.cfg.Issuer, sub, []string{clientID}, now.Add(pr.cfg.IDTokenTTL), now, "nonce", ACRLogin, amr, clientID, 0)
	signer, err := op.SignerFromKey(k)
	if err != nil {
		return "", err
	}
	return zcrypto.Sign(claims, signer)
}

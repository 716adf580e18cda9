package platform

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mynagate/mynagate/internal/kdf"
)

// Idempotency-Key for the API's state-changing requests (creating a webhook endpoint, rotating
// its secret, redelivering): the first request with a key runs and its answer is kept, sealed,
// for IdempotencyTTL; a retry with the same key and the same request gets that answer again and
// changes nothing; the same key with another request is refused. Keys are per tenant. POST
// /v1/sessions keeps its own key on the session row (CreateSession).

// IdempotencyTTL is how long a key's answer is kept; after it the key may be used afresh.
const IdempotencyTTL = 24 * time.Hour

// idempotencyAbandoned is how long a first request may run before a retry with its key is let
// through as a new one: the first is then taken to have died between its change and the
// recording of its answer (a node crash), and the retry runs again.
const idempotencyAbandoned = time.Minute

// IdempotencyRecord is what the store keeps of a request made with an Idempotency-Key.
type IdempotencyRecord struct {
	Digest    []byte // SHA-256 of the request (IdempotentRequestDigest)
	CreatedAt time.Time
	Status    int    // the answer's HTTP status; 0 while the first request runs
	Response  []byte // the answer, sealed (nil while the first request runs)
}

// IdempotencyStorage keeps Idempotency-Keys. Package store implements it.
type IdempotencyStorage interface {
	// ClaimIdempotencyKey records (tenantID, key) as running with digest and returns nil, after
	// removing the key's row if it was created before staleBefore, or is still running and was
	// created before abandonedBefore. If a row remains, it claims nothing and returns the row.
	// Two concurrent claims of one key MUST NOT both return nil.
	ClaimIdempotencyKey(ctx context.Context, tenantID, key string, digest []byte, at, staleBefore, abandonedBefore time.Time) (*IdempotencyRecord, error)
	// CompleteIdempotencyKey stores the answer of a claimed key.
	CompleteIdempotencyKey(ctx context.Context, tenantID, key string, status int, response []byte) error
	// ReleaseIdempotencyKey removes a claimed key whose request failed without changing anything,
	// so that a retry runs again.
	ReleaseIdempotencyKey(ctx context.Context, tenantID, key string) error
}

// IdempotentResponse is the answer kept for a key: what a retry gets again.
type IdempotentResponse struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header,omitempty"`
	Body   []byte            `json:"body,omitempty"`
}

// IdempotentRequestDigest is the digest a key is bound to: the method, the path and the body.
func IdempotentRequestDigest(method, path string, body []byte) []byte {
	h := sha256.New()
	io.WriteString(h, method+"\x00"+path+"\x00")
	h.Write(body)
	return h.Sum(nil)
}

func (p *Platform) idempotencyStorage() (IdempotencyStorage, error) {
	if p.keys == nil {
		return nil, internal(errors.New("platform: Idempotency-Keys need the master secret (WithMaster) to seal their answers"))
	}
	return p.store, nil
}

// BeginIdempotent starts a request made with an Idempotency-Key. It returns the kept answer
// when the key was used before for the same request (the caller sends it and does nothing
// else), or nil when the caller is to run the request and then call FinishIdempotent. The key
// used for another request, or while its first request still runs, is a conflict.
func (p *Platform) BeginIdempotent(ctx context.Context, tenant *Tenant, key string, digest []byte) (*IdempotentResponse, error) {
	if key == "" || len(key) > 200 {
		return nil, newError(KindInvalid, "invalid-request", "Idempotency-Key is 1 to 200 characters")
	}
	is, err := p.idempotencyStorage()
	if err != nil {
		return nil, err
	}
	now := p.clk.Now().UTC()
	rec, err := is.ClaimIdempotencyKey(ctx, tenant.ID, key, digest, now, now.Add(-IdempotencyTTL), now.Add(-idempotencyAbandoned))
	if err != nil {
		return nil, internal(err)
	}
	if rec == nil {
		return nil, nil
	}
	if !bytes.Equal(rec.Digest, digest) {
		return nil, newError(KindConflict, "idempotency-key-reused", "Idempotency-Key was used for a different request")
	}
	if rec.Status == 0 {
		return nil, newError(KindConflict, "idempotency-key-in-flight", "the first request with this Idempotency-Key is still running; retry later")
	}
	plain, err := p.idempotencyAEAD(func(a cipher.AEAD) ([]byte, error) {
		if len(rec.Response) < a.NonceSize() {
			return nil, errors.New("sealed answer too short")
		}
		n := a.NonceSize()
		return a.Open(nil, rec.Response[:n], rec.Response[n:], idempotencyAD(tenant.ID, key, digest))
	})
	if err != nil {
		return nil, internal(fmt.Errorf("platform: the answer kept for an Idempotency-Key does not open: %w", err))
	}
	var resp IdempotentResponse
	if err := json.Unmarshal(plain, &resp); err != nil {
		return nil, internal(err)
	}
	return &resp, nil
}

// FinishIdempotent keeps resp as the answer of a key BeginIdempotent let run, or, with a nil
// resp (the request failed without changing anything), forgets the key so a retry runs again.
func (p *Platform) FinishIdempotent(ctx context.Context, tenant *Tenant, key string, digest []byte, resp *IdempotentResponse) error {
	is, err := p.idempotencyStorage()
	if err != nil {
		return err
	}
	if resp == nil {
		if err := is.ReleaseIdempotencyKey(ctx, tenant.ID, key); err != nil {
			return internal(err)
		}
		return nil
	}
	plain, err := json.Marshal(resp)
	if err != nil {
		return internal(err)
	}
	sealed, err := p.idempotencyAEAD(func(a cipher.AEAD) ([]byte, error) {
		nonce, err := p.randomBytes(a.NonceSize())
		if err != nil {
			return nil, err
		}
		return a.Seal(nonce, nonce, plain, idempotencyAD(tenant.ID, key, digest)), nil
	})
	if err != nil {
		return internal(err)
	}
	if err := is.CompleteIdempotencyKey(ctx, tenant.ID, key, resp.Status, sealed); err != nil {
		return internal(err)
	}
	return nil
}

// idempotencyAEAD runs f with AES-256-GCM under the master secret's kdf.IdempotentAnswers key:
// kept answers may carry a webhook secret shown once, so the database never holds them in clear.
func (p *Platform) idempotencyAEAD(f func(cipher.AEAD) ([]byte, error)) ([]byte, error) {
	block, err := aes.NewCipher(p.keys.Key(kdf.IdempotentAnswers))
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return f(a)
}

// idempotencyAD binds a sealed answer to its tenant, key and request, so that it does not open
// in another row.
func idempotencyAD(tenantID, key string, digest []byte) []byte {
	return append([]byte(tenantID+"\x00"+key+"\x00"), digest...)
}

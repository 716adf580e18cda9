package evidence

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// Domain strings keep every use of SHA-256 and AES-GCM in this package apart from every other.
const (
	domainSealed = "mynagate-evidence/v1 sealed\x00"
	domainKey    = "mynagate-evidence/v1 key-commitment\x00"
	domainWrap   = "mynagate-evidence/v1 wrap\x00"
	domainKEKID  = "mynagate-evidence/v1 kek-id\x00"
	domainServed = "mynagate-evidence/v2 served\x00"
	domainMAC    = "mynagate-evidence/v2 served-mac-key\x00"
	domainSalt   = "mynagate-evidence/v2 disclosure-salt\x00"
	domainItem   = "mynagate-evidence/v2 disclosure\x00"
)

// dataKeySize is the size of a per-entry data key (AES-256).
const dataKeySize = 32

// zeroNonce is the GCM nonce of sealed personal data. Each data key is drawn fresh for one entry
// and seals exactly one message, so a fixed nonce is safe (NIST SP 800-38D §8: the requirement
// is uniqueness per key) and saves 12 bytes per entry.
var zeroNonce = make([]byte, 12)

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// keyCommitment returns the commitment to a data key that a leaf carries.
func keyCommitment(key []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(domainKey))
	h.Write(key)
	return [32]byte(h.Sum(nil))
}

// seal encrypts personal data under a fresh data key. The entry id is the associated data, so
// sealed data cannot be moved to another entry.
func seal(rand io.Reader, id string, plaintext []byte) ([]byte, []byte, error) {
	key := make([]byte, dataKeySize)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, nil, fmt.Errorf("evidence: draw data key: %w", err)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, nil, err
	}
	return aead.Seal(nil, zeroNonce, plaintext, []byte(domainSealed+id)), key, nil
}

// open decrypts sealed personal data.
func open(id string, key, sealed []byte) ([]byte, error) {
	if len(key) != dataKeySize {
		return nil, fmt.Errorf("evidence: data key has %d bytes, want %d", len(key), dataKeySize)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return aead.Open(nil, zeroNonce, sealed, []byte(domainSealed+id))
}

// Keyring holds the log master keys that wrap data keys (key-encryption keys). The current key
// wraps new data keys; older keys still unwrap what they wrapped, so the master key can be
// rotated without touching old entries. Every node of one log MUST hold the same keys.
type Keyring struct {
	current kek
	byID    map[[4]byte]kek
}

type kek struct {
	id   [4]byte
	aead cipher.AEAD
	mac  []byte // the key of served commitments, derived from the master key
}

// kekID names a master key in wrapped data keys: the first 4 bytes of a domain-separated
// SHA-256 of it.
func kekID(key []byte) [4]byte {
	h := sha256.Sum256(append([]byte(domainKEKID), key...))
	return [4]byte(h[:4])
}

// NewKeyring returns a keyring wrapping with current (32 bytes) and unwrapping with current and
// any of previous.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	kr := &Keyring{byID: map[[4]byte]kek{}}
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) != 32 {
			return nil, fmt.Errorf("evidence: master key %d has %d bytes, want 32", i, len(k))
		}
		aead, err := newGCM(k)
		if err != nil {
			return nil, err
		}
		m := hmac.New(sha256.New, k)
		m.Write([]byte(domainMAC))
		e := kek{id: kekID(k), aead: aead, mac: m.Sum(nil)}
		if i == 0 {
			kr.current = e
		}
		kr.byID[e.id] = e
	}
	return kr, nil
}

// CurrentID returns the hex id of the current master key.
func (kr *Keyring) CurrentID() string { return hex.EncodeToString(kr.current.id[:]) }

// wrap encrypts a data key for entry id: kek id (4) ‖ nonce (12) ‖ AES-GCM(key) (48).
func (kr *Keyring) wrap(rand io.Reader, id string, key []byte) ([]byte, error) {
	out := make([]byte, 16, 16+len(key)+16)
	copy(out, kr.current.id[:])
	if _, err := io.ReadFull(rand, out[4:16]); err != nil {
		return nil, fmt.Errorf("evidence: draw wrap nonce: %w", err)
	}
	return kr.current.aead.Seal(out, out[4:16], key, []byte(domainWrap+id)), nil
}

// errUnwrap is returned when a wrapped data key cannot be opened.
var errUnwrap = errors.New("evidence: cannot unwrap data key")

// unwrap decrypts a wrapped data key of entry id.
func (kr *Keyring) unwrap(id string, wrapped []byte) ([]byte, error) {
	if len(wrapped) != 16+dataKeySize+16 {
		return nil, fmt.Errorf("%w: it has %d bytes", errUnwrap, len(wrapped))
	}
	k, ok := kr.byID[[4]byte(wrapped[:4])]
	if !ok {
		return nil, fmt.Errorf("%w: master key %x is not in the keyring", errUnwrap, wrapped[:4])
	}
	key, err := k.aead.Open(nil, wrapped[4:16], wrapped[16:], []byte(domainWrap+id))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnwrap, err)
	}
	return key, nil
}

// encodeServed is the canonical encoding of a verification's stored columns.
func encodeServed(id string, sv *Served) []byte {
	b := cryptobyte.NewBuilder(nil)
	for _, f := range []string{id, sv.SessionID, sv.Purpose, sv.Decision, sv.Reason, sv.Detail, sv.PersonID, sv.CertCA, sv.CertSerial,
		sv.Method, sv.RevocationRef} {
		b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(f)) })
	}
	return b.BytesOrPanic()
}

// servedMAC is the commitment a leaf carries to a verification's stored columns, under the
// current master key: kek id (4) ‖ HMAC-SHA256.
func (kr *Keyring) servedMAC(id string, sv *Served) []byte {
	return macWith(kr.current, id, sv)
}

func macWith(k kek, id string, sv *Served) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(domainServed))
	m.Write(encodeServed(id, sv))
	return append(k.id[:], m.Sum(nil)...)
}

// checkServed reports whether mac is the commitment to sv of entry id, under whichever master
// key it names.
func (kr *Keyring) checkServed(id string, sv *Served, mac []byte) (bool, error) {
	if len(mac) != 4+32 {
		return false, fmt.Errorf("evidence: served commitment of %d bytes", len(mac))
	}
	k, ok := kr.byID[[4]byte(mac[:4])]
	if !ok {
		return false, fmt.Errorf("evidence: master key %x of a served commitment is not in the keyring", mac[:4])
	}
	return hmac.Equal(macWith(k, id, sv), mac), nil
}

// disclosureSalt is the salt of one item's commitment: derived from the data key, so that it
// needs no storage of its own and is shredded with the key (the commitments of a shredded
// entry then hide even low-entropy values such as a birth date).
func disclosureSalt(key []byte, name string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domainSalt))
	m.Write([]byte(name))
	return m.Sum(nil)
}

// itemCommitment is SHA-256(domain ‖ salt ‖ name ‖ 0 ‖ value).
func itemCommitment(salt []byte, name, value string) [32]byte {
	h := sha256.New()
	h.Write([]byte(domainItem))
	h.Write(salt)
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return [32]byte(h.Sum(nil))
}

// Item names of disclosures: the pairwise subject, the rejection detail, and each fact.
const (
	ItemSubject = "sub"
	ItemDetail  = "detail"
	itemFact    = "fact:"
)

// FactItem is the disclosure item name of a basic-4 fact ("fact:name", …).
func FactItem(fact string) string { return itemFact + fact }

// personalItems lists the items of personal data that can be disclosed one by one.
func personalItems(p *Personal) map[string]string {
	out := map[string]string{}
	if p.Subject != "" {
		out[ItemSubject] = p.Subject
	}
	if p.Detail != "" {
		out[ItemDetail] = p.Detail
	}
	for k, v := range p.Facts {
		out[FactItem(k)] = v
	}
	return out
}

// disclosures returns the commitments to p's items under data key, names ascending. One keyed
// HMAC and one SHA-256 state serve every item (Reset), as this runs once per verification.
func disclosures(key []byte, p *Personal) []Commitment {
	type item struct{ name, value string }
	items := make([]item, 0, 2+len(p.Facts))
	if p.Subject != "" {
		items = append(items, item{ItemSubject, p.Subject})
	}
	if p.Detail != "" {
		items = append(items, item{ItemDetail, p.Detail})
	}
	for k, v := range p.Facts {
		items = append(items, item{FactItem(k), v})
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.name, b.name) })
	mac := hmac.New(sha256.New, key)
	h := sha256.New()
	var salt, sum [32]byte
	out := make([]Commitment, len(items))
	for i, it := range items {
		mac.Reset()
		mac.Write([]byte(domainSalt))
		mac.Write([]byte(it.name))
		mac.Sum(salt[:0])
		h.Reset()
		h.Write([]byte(domainItem))
		h.Write(salt[:])
		h.Write([]byte(it.name))
		h.Write([]byte{0})
		h.Write([]byte(it.value))
		out[i] = Commitment{Name: it.name, Hash: [32]byte(h.Sum(sum[:0]))}
	}
	return out
}

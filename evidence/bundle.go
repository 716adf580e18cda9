package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/proof"
)

// Document formats, the first field of every JSON document this package writes.
const (
	FormatBundle      = "mynagate-evidence-bundle/v1"
	FormatConsistency = "mynagate-evidence-consistency/v1"
	FormatExport      = "mynagate-evidence-export/v1"
)

// Bundle is the self-contained evidence of one entry: the leaf, its inclusion proof into a
// signed checkpoint, and the log's public key; with disclosure, also the sealed personal data
// and its data key. Anyone holding the log's public key verifies it offline with VerifyBundle.
//
// Its file form (Marshal) is canonical JSON: the fields in this order, no insignificant white
// space, byte strings in padded standard base64, and a final newline. VerifyBundle accepts only
// that form, so every byte of the file is covered: a changed byte either breaks the syntax,
// changes a value that the proof or the signature covers, or makes the file non-canonical.
type Bundle struct {
	Format     string   `json:"format"`     // FormatBundle
	LogKey     string   `json:"log_key"`    // the log's public key (verifiers trust their own copy)
	Checkpoint string   `json:"checkpoint"` // the signed checkpoint the proof leads to
	Index      uint64   `json:"index"`      // the leaf's index
	Leaf       []byte   `json:"leaf"`       // the canonical leaf
	Inclusion  [][]byte `json:"inclusion"`  // RFC 9162 inclusion proof of Index in the checkpoint's tree
	// Sealed and DataKey disclose the personal data: both or neither. Absent after shredding.
	Sealed  []byte `json:"sealed,omitempty"`
	DataKey []byte `json:"data_key,omitempty"`
	// Disclosed discloses items of the personal data one by one (a version-2 leaf commits to
	// each): what a tenant may see, without the certificate or the other facts.
	Disclosed []Disclosed `json:"disclosed,omitempty"`
}

// Disclosed is one item of an entry's personal data with the salt of its commitment.
type Disclosed struct {
	Name  string `json:"name"` // ItemSubject, ItemDetail or FactItem(fact)
	Value string `json:"value"`
	Salt  []byte `json:"salt"`
}

// Disclosure says how much of an entry's personal data a bundle or an export reveals.
type Disclosure struct {
	// Full reveals the sealed personal data and its data key: the certificate, the signature
	// and everything else the entry holds.
	Full bool
	// Items, without Full, reveals these items one by one (those the entry has), each checked
	// offline against the leaf's commitment. Entries with a version-1 leaf have no item
	// commitments and reveal nothing this way.
	Items []string
}

// ConsistencyBundle proves that a log's older checkpoint is a prefix of a newer one.
type ConsistencyBundle struct {
	Format string   `json:"format"` // FormatConsistency
	LogKey string   `json:"log_key"`
	Older  string   `json:"older"` // signed checkpoint
	Newer  string   `json:"newer"` // signed checkpoint
	Proof  [][]byte `json:"proof"` // RFC 9162 consistency proof from Older's size to Newer's
}

// marshalCanonical returns the canonical JSON form of v: json.Marshal (struct fields in
// declaration order, padded standard base64, no white space) and a newline.
func marshalCanonical(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// unmarshalCanonical decodes data into v and requires data to be exactly v's canonical form
// (a missing final newline is tolerated).
func unmarshalCanonical(data []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &VerifyError{Reason: ReasonMalformed, Detail: fmt.Sprintf("the %s is not well-formed JSON of its format", what), Err: err}
	}
	again, err := marshalCanonical(v)
	if err != nil {
		return &VerifyError{Reason: ReasonMalformed, Detail: fmt.Sprintf("the %s cannot be re-encoded", what), Err: err}
	}
	if !bytes.Equal(data, again) && !bytes.Equal(append(bytes.Clone(data), '\n'), again) {
		at := 0
		for at < len(data) && at < len(again) && data[at] == again[at] {
			at++
		}
		return verifyErr(ReasonMalformed, "the %s is not in canonical form (it differs at byte %d): it was altered or re-encoded", what, at)
	}
	return nil
}

// DocumentFormat returns the format field of an evidence document (a bundle, a consistency
// bundle, or the first line of an export), or "" if data does not start like one.
func DocumentFormat(data []byte) string {
	var head struct {
		Format string `json:"format"`
	}
	if json.Unmarshal(data, &head) == nil {
		return head.Format
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	if json.Unmarshal(line, &head) == nil {
		return head.Format
	}
	return ""
}

// Marshal returns the bundle's canonical file form.
func (b *Bundle) Marshal() ([]byte, error) { return marshalCanonical(b) }

// Marshal returns the consistency bundle's canonical file form.
func (b *ConsistencyBundle) Marshal() ([]byte, error) { return marshalCanonical(b) }

// Bundle returns the evidence bundle of a tenant's entry, with an inclusion proof into the
// latest checkpoint (publishing one if the latest does not cover the entry yet). With disclose,
// the sealed personal data and its unwrapped data key are included if not yet shredded.
// ErrNotFound if the entry does not exist or is another tenant's; ErrNotIntegrated if it is not
// in the tree yet.
func (l *Log) Bundle(ctx context.Context, tenantID, id string, disclose bool) (*Bundle, error) {
	return l.BundleFor(ctx, tenantID, id, Disclosure{Full: disclose})
}

// BundleFor is Bundle with a disclosure chosen for the reader: a tenant allowed everything the
// certificate carries gets the sealed data and its key; another tenant gets the items it may see.
func (l *Log) BundleFor(ctx context.Context, tenantID, id string, d Disclosure) (*Bundle, error) {
	e, err := l.store.Entry(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && e.TenantID != tenantID) {
		return nil, fmt.Errorf("evidence: entry %s of tenant %s: %w", id, tenantID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: entry %s: %w", id, err)
	}
	if !e.Sequenced {
		l.Notify()
		return nil, fmt.Errorf("evidence: entry %s: %w", id, ErrNotIntegrated)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if cp.Size <= e.Index {
		if cp, err = l.publishTree(ctx); err != nil {
			return nil, err
		}
	}
	return l.bundleAt(ctx, e, cp, d)
}

func (l *Log) bundleAt(ctx context.Context, e *StoredEntry, cp *StoredCheckpoint, d Disclosure) (*Bundle, error) {
	p, err := l.InclusionProof(ctx, e.Index, cp.Size)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Format: FormatBundle, LogKey: l.keys.Public.String(), Checkpoint: string(cp.Note),
		Index: e.Index, Leaf: e.LeafData, Inclusion: p}
	if len(e.WrappedKey) == 0 || len(e.Sealed) == 0 || (!d.Full && len(d.Items) == 0) {
		return b, nil
	}
	if d.Full {
		key, err := l.keys.Wrap.unwrap(e.ID, e.WrappedKey)
		if err != nil {
			return nil, fmt.Errorf("evidence: entry %s: %w", e.ID, err)
		}
		b.Sealed, b.DataKey = e.Sealed, key
		return b, nil
	}
	o, err := l.open(e)
	if err != nil {
		return nil, err
	}
	if o.Leaf.Version < 2 || o.Personal == nil {
		return b, nil
	}
	key, err := l.keys.Wrap.unwrap(e.ID, e.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("evidence: entry %s: %w", e.ID, err)
	}
	defer clear(key)
	items := personalItems(o.Personal)
	for _, name := range slices.Sorted(slices.Values(d.Items)) {
		if v, ok := items[name]; ok {
			b.Disclosed = append(b.Disclosed, Disclosed{Name: name, Value: v, Salt: disclosureSalt(key, name)})
		}
	}
	return b, nil
}

// ConsistencyBundle returns the proof that the stored checkpoint of size older is a prefix of
// the latest checkpoint. ErrNotFound if no checkpoint of that size was published.
func (l *Log) ConsistencyBundle(ctx context.Context, older uint64) (*ConsistencyBundle, error) {
	cs, err := l.store.Checkpoints(ctx, older, 1)
	if err != nil {
		return nil, fmt.Errorf("evidence: read checkpoints: %w", err)
	}
	if len(cs) == 0 || cs[0].Size != older {
		return nil, fmt.Errorf("evidence: no checkpoint of size %d: %w", older, ErrNotFound)
	}
	newer, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	p, err := l.ConsistencyProof(ctx, older, newer.Size)
	if err != nil {
		return nil, err
	}
	return &ConsistencyBundle{Format: FormatConsistency, LogKey: l.keys.Public.String(),
		Older: string(cs[0].Note), Newer: string(newer.Note), Proof: p}, nil
}

// Verified is what a verified bundle proves.
type Verified struct {
	Checkpoint Checkpoint // the signed checkpoint the entry is included in
	Index      uint64     // the entry's leaf index
	Leaf       *Leaf      // the entry's public part and commitments
	// Personal is the disclosed personal data, checked against the leaf's commitments; nil
	// when the bundle does not disclose it (or it was shredded).
	Personal *Personal
	// Disclosed holds the items disclosed one by one, each checked against its commitment.
	Disclosed map[string]string
}

// checkLogKey compares the key a document names with the trusted one.
func checkLogKey(named string, key *PublicKey, what string) error {
	if named == key.String() {
		return nil
	}
	if k, err := ParsePublicKey(named); err == nil {
		return verifyErr(ReasonWrongKey, "the %s names log key %s, but the trusted key is %s", what, k.ID(), key.ID())
	}
	return verifyErr(ReasonWrongKey, "the %s names a log key that is not the trusted key %s (nor a valid key)", what, key.ID())
}

// VerifyBundle verifies a bundle file offline against the log's public key, which the caller
// trusts from elsewhere (the bundle's own copy only has to match it): the canonical form, the
// checkpoint's signature and origin, the leaf's inclusion in the checkpoint's tree, the leaf's
// encoding, and any disclosed personal data against the leaf's commitments. Every failure is a
// *VerifyError whose Reason says what failed and whose Detail says it in words.
func VerifyBundle(data []byte, key *PublicKey) (*Verified, error) {
	var b Bundle
	if err := unmarshalCanonical(data, &b, "bundle"); err != nil {
		return nil, err
	}
	if b.Format != FormatBundle {
		return nil, verifyErr(ReasonUnsupportedVersion, "the file is a %q document, not an evidence bundle (%s)", b.Format, FormatBundle)
	}
	if err := checkLogKey(b.LogKey, key, "bundle"); err != nil {
		return nil, err
	}
	cp, err := openCheckpoint([]byte(b.Checkpoint), key, "bundle's checkpoint")
	if err != nil {
		return nil, err
	}
	return verifyEntry(cp, b.Index, b.Leaf, b.Inclusion, b.Sealed, b.DataKey, b.Disclosed)
}

// verifyEntry checks one leaf against a verified checkpoint.
func verifyEntry(cp Checkpoint, index uint64, leaf []byte, inclusion [][]byte, sealed, dataKey []byte, disclosed []Disclosed) (*Verified, error) {
	if index >= cp.Size {
		return nil, verifyErr(ReasonNotIncluded, "entry index %d is not below the checkpoint's tree size %d", index, cp.Size)
	}
	for i, h := range inclusion {
		if len(h) != hashSize {
			return nil, verifyErr(ReasonMalformed, "hash %d of the inclusion proof has %d bytes, want 32", i, len(h))
		}
	}
	if err := proof.VerifyInclusion(hasher, index, cp.Size, hasher.HashLeaf(leaf), inclusion, cp.Root[:]); err != nil {
		return nil, &VerifyError{Reason: ReasonNotIncluded, Err: err,
			Detail: fmt.Sprintf("the entry is not leaf %d of the signed tree of size %d: the entry, its index or its proof was altered", index, cp.Size)}
	}
	l, err := ParseLeaf(leaf)
	var ve *versionError
	if errors.As(err, &ve) {
		return nil, &VerifyError{Reason: ReasonUnsupportedVersion, Detail: "the entry is in the log but in a format this program does not know", Err: err}
	}
	if err != nil {
		return nil, &VerifyError{Reason: ReasonMalformed, Detail: "the entry is in the log but does not decode", Err: err}
	}
	v := &Verified{Checkpoint: cp, Index: index, Leaf: l}
	if err := verifyDisclosed(l, disclosed, v); err != nil {
		return nil, err
	}
	if len(sealed) == 0 && len(dataKey) == 0 {
		return v, nil
	}
	if len(sealed) == 0 || len(dataKey) == 0 {
		return nil, verifyErr(ReasonMalformed, "personal data is disclosed without its data key, or the key without the data")
	}
	if got := sha256.Sum256(sealed); subtle.ConstantTimeCompare(got[:], l.SealedHash[:]) != 1 {
		return nil, verifyErr(ReasonSealedMismatch, "the sealed personal data is not what entry %s commits to: it was altered or belongs to another entry", l.ID)
	}
	if kc := keyCommitment(dataKey); subtle.ConstantTimeCompare(kc[:], l.KeyCommitment[:]) != 1 {
		return nil, verifyErr(ReasonDataKeyMismatch, "the data key is not the one entry %s commits to", l.ID)
	}
	plain, err := open(l.ID, dataKey, sealed)
	if err != nil {
		return nil, &VerifyError{Reason: ReasonDataKeyMismatch, Detail: fmt.Sprintf("the committed data key does not open the committed personal data of entry %s", l.ID), Err: err}
	}
	p, err := parsePersonal(plain, l.Method)
	if errors.As(err, &ve) {
		return nil, &VerifyError{Reason: ReasonUnsupportedVersion, Detail: "the personal data is in a format this program does not know", Err: err}
	}
	if err != nil {
		return nil, &VerifyError{Reason: ReasonMalformed, Detail: "the personal data does not decode", Err: err}
	}
	v.Personal = p
	if l.Version >= 2 {
		if got := disclosures(dataKey, p); !slices.EqualFunc(got, l.Disclosures, func(a, b Commitment) bool { return a == b }) {
			return nil, verifyErr(ReasonSealedMismatch, "the item commitments of entry %s are not those of its personal data", l.ID)
		}
	}
	return v, nil
}

// verifyDisclosed checks items disclosed one by one against the leaf's commitments.
func verifyDisclosed(l *Leaf, disclosed []Disclosed, v *Verified) error {
	for i, d := range disclosed {
		if i > 0 && d.Name <= disclosed[i-1].Name {
			return verifyErr(ReasonMalformed, "the disclosed items are not in ascending order of name")
		}
		j := slices.IndexFunc(l.Disclosures, func(c Commitment) bool { return c.Name == d.Name })
		if j < 0 {
			return verifyErr(ReasonSealedMismatch, "entry %s commits to no item %q", l.ID, d.Name)
		}
		if len(d.Salt) != 32 || !utf8.ValidString(d.Value) {
			return verifyErr(ReasonMalformed, "disclosed item %q has a %d-byte salt or a value that is not UTF-8", d.Name, len(d.Salt))
		}
		if itemCommitment(d.Salt, d.Name, d.Value) != l.Disclosures[j].Hash {
			return verifyErr(ReasonSealedMismatch, "the disclosed %s of entry %s is not what the entry commits to: it was altered", d.Name, l.ID)
		}
		if v.Disclosed == nil {
			v.Disclosed = map[string]string{}
		}
		v.Disclosed[d.Name] = d.Value
	}
	return nil
}

// VerifyConsistency verifies a consistency bundle offline: both checkpoints signed by the
// trusted key for its log, and the older one a prefix of the newer one. It returns both.
func VerifyConsistency(data []byte, key *PublicKey) (Checkpoint, Checkpoint, error) {
	var b ConsistencyBundle
	if err := unmarshalCanonical(data, &b, "consistency bundle"); err != nil {
		return Checkpoint{}, Checkpoint{}, err
	}
	if b.Format != FormatConsistency {
		return Checkpoint{}, Checkpoint{}, verifyErr(ReasonUnsupportedVersion, "the file is a %q document, not a consistency bundle (%s)", b.Format, FormatConsistency)
	}
	if err := checkLogKey(b.LogKey, key, "consistency bundle"); err != nil {
		return Checkpoint{}, Checkpoint{}, err
	}
	older, err := openCheckpoint([]byte(b.Older), key, "older checkpoint")
	if err != nil {
		return Checkpoint{}, Checkpoint{}, err
	}
	newer, err := openCheckpoint([]byte(b.Newer), key, "newer checkpoint")
	if err != nil {
		return Checkpoint{}, Checkpoint{}, err
	}
	if err := CheckConsistency(older, newer, b.Proof); err != nil {
		return Checkpoint{}, Checkpoint{}, err
	}
	return older, newer, nil
}

// CheckConsistency checks a consistency proof between two verified checkpoints of one log.
func CheckConsistency(older, newer Checkpoint, p [][]byte) error {
	switch {
	case older.Origin != newer.Origin:
		return verifyErr(ReasonInconsistent, "the checkpoints are of different logs (%q and %q)", older.Origin, newer.Origin)
	case older.Size > newer.Size:
		return verifyErr(ReasonInconsistent, "the older checkpoint (size %d) is larger than the newer one (size %d): the log shrank", older.Size, newer.Size)
	case older.Size == newer.Size && older.Root != newer.Root:
		return verifyErr(ReasonInconsistent, "two checkpoints of size %d have different roots: the log forked", older.Size)
	}
	for i, h := range p {
		if len(h) != hashSize {
			return verifyErr(ReasonMalformed, "hash %d of the consistency proof has %d bytes, want 32", i, len(h))
		}
	}
	if err := proof.VerifyConsistency(hasher, older.Size, newer.Size, p, older.Root[:], newer.Root[:]); err != nil {
		return &VerifyError{Reason: ReasonInconsistent, Err: err,
			Detail: fmt.Sprintf("the checkpoint of size %d is not a prefix of the checkpoint of size %d: the log was rewritten, or the proof was altered", older.Size, newer.Size)}
	}
	return nil
}

// ParseCheckpoint verifies a signed checkpoint (a note) with the trusted key and returns it.
func ParseCheckpoint(msg []byte, key *PublicKey) (Checkpoint, error) {
	return openCheckpoint(msg, key, "checkpoint")
}

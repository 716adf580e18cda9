package evidence

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"

	"github.com/mynagate/mynagate/jpki"
)

// Decision is the outcome of a verification attempt; platform.Decision is this type.
type Decision string

// Decisions. The leaf encodes each as one byte (decisionCodes).
const (
	Accepted Decision = "accepted"
	Rejected Decision = "rejected"
)

// decisionCodes are the decisions' bytes in the leaf encoding.
var decisionCodes = map[Decision]uint8{Accepted: 1, Rejected: 2}

func (d Decision) String() string { return string(d) }

// Method says how the revocation status of the certificate was established (jpki's one type
// for it).
type Method = jpki.RevocationMethod

// Revocation methods. The leaf encodes each as one byte (methodCodes).
const (
	MethodNone = jpki.RevocationNone // rejected before revocation was checked
	MethodCRL  = jpki.RevocationCRL  // a CRL, identified by its number and thisUpdate
	MethodOCSP = jpki.RevocationOCSP // an OCSP response, kept whole in the sealed personal data
)

// methodCodes are the methods' bytes in the leaf encoding.
var methodCodes = map[Method]uint8{MethodNone: 0, MethodCRL: 1, MethodOCSP: 2}

// codeOf returns the value of codes whose byte is c, or a name that no validation accepts.
func codeOf[T ~string](codes map[T]uint8, c uint8, kind string) T {
	for v, b := range codes {
		if b == c {
			return v
		}
	}
	return T(fmt.Sprintf("%s(%d)", kind, c))
}

// Header is the public part of an entry: what an auditor reads without any key, and what stays
// readable after the personal data is shredded.
type Header struct {
	ID        string    // the verification id ("v_…"); unique in the log
	SessionID string    // the session the verification completed
	TenantID  string    // the relying party
	Purpose   string    // "identity" or "login"
	Time      time.Time // when the platform decided; stored as UTC nanoseconds
	Decision  Decision
	// Reason is the problem type of a rejection ("cert-revoked", …); empty when accepted.
	Reason string
	// Challenge is the exact byte string the holder was asked to sign (it carries the tenant,
	// purpose, session and nonce, not personal data).
	Challenge []byte
	// Method, CRLNumber and CRLThisUpdate identify the revocation evidence. CRLNumber is the
	// CRL's number in decimal; with MethodOCSP the raw response is in Personal.OCSPResponse
	// (it names the certificate's serial, which is personal data).
	Method        Method
	CRLNumber     string
	CRLThisUpdate time.Time
}

// Personal is the holder's personal data in an entry. It is sealed (AES-256-GCM) under a data
// key of its own, which is deleted when the tenant's retention ends.
type Personal struct {
	Certificate  []byte // the DER certificate presented
	Signature    []byte // the holder's signature over Header.Challenge (a document signature: over the CAdES signed attributes that carry it, platform/sign.go)
	OCSPResponse []byte // the raw DER OCSP response, with MethodOCSP
	Detail       string // the human-readable detail of a rejection (it may name the certificate)
	Subject      string // the pairwise id the tenant received, if any
	// Facts are the basic-4 facts the tenant received ("name", "birthdate", "sex", "address").
	Facts map[string]string
}

// Entry is one verification attempt, accepted or rejected, as the log records it.
type Entry struct {
	Header
	Personal Personal
	// Served, when the entry records a verification, is what the platform's database keeps and
	// serves about it outside the seal. The leaf commits to it (Leaf.Served), so that an audit
	// catches any stored edit of what the API serves.
	Served *Served
}

// Served is a verification's columns as the platform's database stores them beside the entry:
// the strings exactly as written (empty for NULL).
type Served struct {
	SessionID, Purpose, Decision, Reason, Detail, PersonID, CertCA, CertSerial, Method, RevocationRef string
}

// Commitment is a salted commitment to one item of an entry's personal data, by which a bundle
// discloses that item alone (see Disclosed).
type Commitment struct {
	Name string
	Hash [32]byte
}

// Leaf is the decoded leaf of the Merkle tree: the public header and two commitments to the
// personal data. The tree commits to these bytes only, so deleting the personal data and its
// key changes no leaf hash, no root and no proof.
type Leaf struct {
	// Version is the leaf's encoding version: 1, or 2 with the fields below Header's.
	Version uint8
	Header
	// SealedHash is SHA-256 of the sealed personal data (the AES-GCM ciphertext and tag).
	SealedHash [32]byte
	// KeyCommitment is SHA-256 of a domain string and the data key. AES-GCM is not
	// key-committing; without it a log could disclose a different key that opens the same
	// ciphertext to other plaintext.
	KeyCommitment [32]byte

	// Version 2 only.
	// RetainUntil is when the personal data is to be shredded: shredding before it is caught.
	RetainUntil time.Time
	// Served is kek id (4) ‖ HMAC-SHA256 under a key derived from the log master key over the
	// verification's stored columns (Served); empty when the entry records no verification. The
	// key keeps it from being a public hash of guessable values (a serial, a person id).
	Served []byte
	// Disclosures commit to each item of the personal data (SHA-256 of a domain, a salt derived
	// from the data key, the name and the value), names ascending: a bundle can disclose some
	// facts without the certificate and the others.
	Disclosures []Commitment
}

// The leaf and personal-data encodings are TLS-presentation-language structures (RFC 8446 §3):
// fixed-width big-endian integers and length-prefixed byte strings, in a fixed order, behind a
// version byte. One value has exactly one encoding (no optional fields, no maps in arbitrary
// order, strict UTF-8, minimal decimal), so the encoding is canonical without a canonicalization
// step; the parsers refuse anything else, including trailing bytes. A new field means a new
// version byte; old versions stay parseable forever because old leaves never change.
//
//	struct {
//	    uint8  version = 1;
//	    opaque id<1..2^8-1>;
//	    opaque session_id<0..2^8-1>;
//	    opaque tenant_id<1..2^8-1>;
//	    opaque purpose<1..2^8-1>;
//	    uint64 time;                   // UTC unix nanoseconds
//	    uint8  decision;               // 1 accepted, 2 rejected
//	    opaque reason<0..2^8-1>;       // empty iff accepted
//	    opaque challenge<0..2^16-1>;
//	    uint8  method;                 // 0 none, 1 crl, 2 ocsp
//	    select (method) {
//	        case crl: opaque crl_number<1..2^8-1>; uint64 crl_this_update;
//	        case none, ocsp: struct {};
//	    };
//	    opaque sealed_hash[32];
//	    opaque key_commitment[32];
//	} Leaf;
//
//	struct {
//	    uint8  version = 1;
//	    opaque certificate<0..2^24-1>;
//	    opaque signature<0..2^16-1>;
//	    opaque ocsp_response<0..2^24-1>;
//	    opaque detail<0..2^16-1>;
//	    opaque subject<0..2^8-1>;
//	    uint8  fact_count;
//	    struct { opaque name<1..2^8-1>; opaque value<0..2^16-1>; } facts[fact_count];  // names ascending
//	} Personal;
//
// Version 2 of the leaf is version 1 with, after key_commitment:
//
//	uint64 retain_until;
//	opaque served<0..2^8-1>;
//	uint8  disclosure_count;
//	struct { opaque name<1..2^8-1>; opaque hash[32]; } disclosures[disclosure_count];  // names ascending
const (
	leafVersion     = 2
	personalVersion = 1
)

// maxNanos bounds times to what int64 unix nanoseconds hold (1970 to 2262).
func validTime(t time.Time) bool {
	return !t.IsZero() && t.Year() >= 1970 && t.Year() < 2262
}

func checkStr(field, s string, lo, hi int) error {
	if len(s) < lo || len(s) > hi {
		return &EntryError{Field: field, Reason: fmt.Sprintf("has %d bytes, want %d to %d", len(s), lo, hi)}
	}
	if !utf8.ValidString(s) {
		return &EntryError{Field: field, Reason: "is not valid UTF-8"}
	}
	return nil
}

func checkBytes(field string, b []byte, hi int) error {
	if len(b) > hi {
		return &EntryError{Field: field, Reason: fmt.Sprintf("has %d bytes, more than %d", len(b), hi)}
	}
	return nil
}

// canonicalDecimal reports whether s is a non-negative integer in decimal without leading
// zeros.
func canonicalDecimal(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validate checks that h can be encoded.
func (h *Header) validate() error {
	for _, c := range []struct {
		field, v string
		lo, hi   int
	}{{"ID", h.ID, 1, 255}, {"SessionID", h.SessionID, 0, 255}, {"TenantID", h.TenantID, 1, 255}, {"Purpose", h.Purpose, 1, 255}, {"Reason", h.Reason, 0, 255}} {
		if err := checkStr(c.field, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	if !validTime(h.Time) {
		return &EntryError{Field: "Time", Reason: "is zero or outside 1970–2261"}
	}
	switch h.Decision {
	case Accepted:
		if h.Reason != "" {
			return &EntryError{Field: "Reason", Reason: "is set on an accepted entry"}
		}
	case Rejected:
		if h.Reason == "" {
			return &EntryError{Field: "Reason", Reason: "is empty on a rejected entry"}
		}
	default:
		return &EntryError{Field: "Decision", Reason: fmt.Sprintf("%q is not accepted or rejected", h.Decision)}
	}
	if err := checkBytes("Challenge", h.Challenge, 1<<16-1); err != nil {
		return err
	}
	switch h.Method {
	case MethodCRL:
		if !canonicalDecimal(h.CRLNumber) || len(h.CRLNumber) > 255 {
			return &EntryError{Field: "CRLNumber", Reason: fmt.Sprintf("%q is not a decimal number without leading zeros (at most 255 digits)", h.CRLNumber)}
		}
		if !validTime(h.CRLThisUpdate) {
			return &EntryError{Field: "CRLThisUpdate", Reason: "is zero or outside 1970–2261"}
		}
	case MethodNone, MethodOCSP:
		if h.CRLNumber != "" || !h.CRLThisUpdate.IsZero() {
			return &EntryError{Field: "CRLNumber", Reason: fmt.Sprintf("is set with method %s", h.Method)}
		}
	default:
		return &EntryError{Field: "Method", Reason: fmt.Sprintf("%q is not a known method", h.Method)}
	}
	return nil
}

// validate checks that p can be encoded.
func (p *Personal) validate(m Method) error {
	if err := checkBytes("Personal.Certificate", p.Certificate, 1<<24-1); err != nil {
		return err
	}
	if err := checkBytes("Personal.Signature", p.Signature, 1<<16-1); err != nil {
		return err
	}
	if err := checkBytes("Personal.OCSPResponse", p.OCSPResponse, 1<<24-1); err != nil {
		return err
	}
	if (m == MethodOCSP) != (len(p.OCSPResponse) > 0) {
		return &EntryError{Field: "Personal.OCSPResponse", Reason: fmt.Sprintf("must be present exactly when the method is ocsp (it is %s)", m)}
	}
	if err := checkStr("Personal.Detail", p.Detail, 0, 1<<16-1); err != nil {
		return err
	}
	if err := checkStr("Personal.Subject", p.Subject, 0, 255); err != nil {
		return err
	}
	if len(p.Facts) > 255 {
		return &EntryError{Field: "Personal.Facts", Reason: "has more than 255 facts"}
	}
	for k, v := range p.Facts {
		if err := checkStr("Personal.Facts name", k, 1, 255); err != nil {
			return err
		}
		if err := checkStr("Personal.Facts["+k+"]", v, 0, 1<<16-1); err != nil {
			return err
		}
	}
	return nil
}

func addTime(b *cryptobyte.Builder, t time.Time) { b.AddUint64(uint64(t.UnixNano())) }

func addString8(b *cryptobyte.Builder, s string) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

// encodeLeaf returns the canonical leaf encoding of l (version 1 or 2). The header MUST have
// been validated.
func encodeLeaf(l *Leaf) ([]byte, error) {
	h := &l.Header
	b := cryptobyte.NewBuilder(make([]byte, 0, 256+len(h.Challenge)+40*len(l.Disclosures)))
	b.AddUint8(l.Version)
	addString8(b, h.ID)
	addString8(b, h.SessionID)
	addString8(b, h.TenantID)
	addString8(b, h.Purpose)
	addTime(b, h.Time)
	b.AddUint8(decisionCodes[h.Decision])
	addString8(b, h.Reason)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.Challenge) })
	b.AddUint8(methodCodes[h.Method])
	if h.Method == MethodCRL {
		addString8(b, h.CRLNumber)
		addTime(b, h.CRLThisUpdate)
	}
	b.AddBytes(l.SealedHash[:])
	b.AddBytes(l.KeyCommitment[:])
	if l.Version == 1 {
		return b.Bytes()
	}
	addTime(b, l.RetainUntil)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(l.Served) })
	if len(l.Disclosures) > 255 {
		return nil, fmt.Errorf("evidence: %d disclosures, at most 255", len(l.Disclosures))
	}
	b.AddUint8(uint8(len(l.Disclosures)))
	for _, c := range l.Disclosures {
		addString8(b, c.Name)
		b.AddBytes(c.Hash[:])
	}
	return b.Bytes()
}

// encodePersonal returns the canonical personal-data encoding. p MUST have been validated.
func encodePersonal(p *Personal) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 64+len(p.Certificate)+len(p.Signature)+len(p.OCSPResponse)+len(p.Detail)))
	b.AddUint8(personalVersion)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.Certificate) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.Signature) })
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.OCSPResponse) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p.Detail)) })
	addString8(b, p.Subject)
	names := slices.Sorted(maps.Keys(p.Facts))
	b.AddUint8(uint8(len(names)))
	for _, k := range names {
		addString8(b, k)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p.Facts[k])) })
	}
	return b.Bytes()
}

// parseError is the error of the strict parsers.
type parseError struct{ what, why string }

func (e *parseError) Error() string { return fmt.Sprintf("evidence: %s: %s", e.what, e.why) }

// errUnknownVersion marks a well-formed prefix with a version byte this program does not know.
type versionError struct {
	what    string
	version uint8
}

func (e *versionError) Error() string {
	return fmt.Sprintf("evidence: %s version %d is not supported (this program knows versions 1 and 2 of the leaf, 1 of the personal data)", e.what, e.version)
}

func readString8(s *cryptobyte.String, out *string, lo int) bool {
	var v cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&v) || len(v) < lo || !utf8.Valid(v) {
		return false
	}
	*out = string(v)
	return true
}

func readTime(s *cryptobyte.String, out *time.Time) bool {
	var n uint64
	if !s.ReadUint64(&n) || n > 1<<63-1 {
		return false
	}
	t := time.Unix(0, int64(n)).UTC()
	if !validTime(t) {
		return false
	}
	*out = t
	return true
}

// ParseLeaf decodes a leaf strictly: a known version, every field well-formed, nothing left
// over, and the input exactly the canonical encoding of what it decodes to.
func ParseLeaf(data []byte) (*Leaf, error) {
	s := cryptobyte.String(data)
	var v uint8
	if !s.ReadUint8(&v) {
		return nil, &parseError{"leaf", "empty"}
	}
	if v != 1 && v != 2 {
		return nil, &versionError{"leaf", v}
	}
	l := Leaf{Version: v}
	var challenge cryptobyte.String
	var decision, method uint8
	ok := readString8(&s, &l.ID, 1) && readString8(&s, &l.SessionID, 0) && readString8(&s, &l.TenantID, 1) &&
		readString8(&s, &l.Purpose, 1) && readTime(&s, &l.Time) && s.ReadUint8(&decision) &&
		readString8(&s, &l.Reason, 0) && s.ReadUint16LengthPrefixed(&challenge) && s.ReadUint8(&method)
	if !ok {
		return nil, &parseError{"leaf", "truncated or malformed header"}
	}
	l.Decision, l.Method = codeOf(decisionCodes, decision, "decision"), codeOf(methodCodes, method, "method")
	l.Challenge = bytes.Clone(challenge)
	if l.Method == MethodCRL {
		if !readString8(&s, &l.CRLNumber, 1) || !readTime(&s, &l.CRLThisUpdate) {
			return nil, &parseError{"leaf", "truncated or malformed CRL reference"}
		}
	}
	if !s.CopyBytes(l.SealedHash[:]) || !s.CopyBytes(l.KeyCommitment[:]) {
		return nil, &parseError{"leaf", "truncated commitments"}
	}
	if v == 2 {
		var served cryptobyte.String
		var n uint8
		if !readTime(&s, &l.RetainUntil) || !s.ReadUint8LengthPrefixed(&served) || !s.ReadUint8(&n) {
			return nil, &parseError{"leaf", "truncated retention or served commitment"}
		}
		if len(served) != 0 && len(served) != 4+32 {
			return nil, &parseError{"leaf", fmt.Sprintf("served commitment of %d bytes", len(served))}
		}
		l.Served = nilIfEmpty(served)
		for i := 0; i < int(n); i++ {
			var c Commitment
			if !readString8(&s, &c.Name, 1) || !s.CopyBytes(c.Hash[:]) {
				return nil, &parseError{"leaf", "truncated disclosure commitment"}
			}
			if i > 0 && c.Name <= l.Disclosures[i-1].Name {
				return nil, &parseError{"leaf", "disclosure commitments not in ascending order"}
			}
			l.Disclosures = append(l.Disclosures, c)
		}
	}
	if !s.Empty() {
		return nil, &parseError{"leaf", fmt.Sprintf("%d bytes after the end", len(s))}
	}
	if err := l.Header.validate(); err != nil {
		return nil, &parseError{"leaf", err.Error()}
	}
	again, err := encodeLeaf(&l)
	if err != nil || !bytes.Equal(again, data) {
		return nil, &parseError{"leaf", "not in canonical form"}
	}
	return &l, nil
}

// parsePersonal decodes sealed personal data strictly.
func parsePersonal(data []byte, m Method) (*Personal, error) {
	s := cryptobyte.String(data)
	var v uint8
	if !s.ReadUint8(&v) {
		return nil, &parseError{"personal data", "empty"}
	}
	if v != personalVersion {
		return nil, &versionError{"personal data", v}
	}
	var cert, sig, ocsp, detail cryptobyte.String
	var p Personal
	var n uint8
	if !s.ReadUint24LengthPrefixed(&cert) || !s.ReadUint16LengthPrefixed(&sig) || !s.ReadUint24LengthPrefixed(&ocsp) ||
		!s.ReadUint16LengthPrefixed(&detail) || !utf8.Valid(detail) || !readString8(&s, &p.Subject, 0) || !s.ReadUint8(&n) {
		return nil, &parseError{"personal data", "truncated or malformed"}
	}
	p.Certificate, p.Signature, p.OCSPResponse, p.Detail = nilIfEmpty(cert), nilIfEmpty(sig), nilIfEmpty(ocsp), string(detail)
	prev := ""
	for i := 0; i < int(n); i++ {
		var k string
		var val cryptobyte.String
		if !readString8(&s, &k, 1) || !s.ReadUint16LengthPrefixed(&val) || !utf8.Valid(val) {
			return nil, &parseError{"personal data", "truncated or malformed fact"}
		}
		if i > 0 && k <= prev {
			return nil, &parseError{"personal data", "facts not in ascending order"}
		}
		if p.Facts == nil {
			p.Facts = map[string]string{}
		}
		p.Facts[k], prev = string(val), k
	}
	if !s.Empty() {
		return nil, &parseError{"personal data", fmt.Sprintf("%d bytes after the end", len(s))}
	}
	if err := p.validate(m); err != nil {
		return nil, &parseError{"personal data", err.Error()}
	}
	return &p, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

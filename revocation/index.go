package revocation

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"math/big"
	"math/bits"
	"slices"
	"sort"
	"time"
)

// CRLReason is an RFC 5280 §5.3.1 CRLReason code, or NoReason when the entry has no reasonCode
// extension. (It is not Reason, which says why a whole CRL was refused.)
type CRLReason int8

// CRL reason codes (RFC 5280 §5.3.1). 7 is unused.
const (
	NoReason             CRLReason = -1
	Unspecified          CRLReason = 0
	KeyCompromise        CRLReason = 1
	CACompromise         CRLReason = 2
	AffiliationChanged   CRLReason = 3 // JPKI: 異動 (move, name change, death)
	Superseded           CRLReason = 4
	CessationOfOperation CRLReason = 5
	CertificateHold      CRLReason = 6
	RemoveFromCRL        CRLReason = 8
	PrivilegeWithdrawn   CRLReason = 9
	AACompromise         CRLReason = 10
)

var crlReasonNames = [...]string{
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
	"cessationOfOperation", "certificateHold", "", "removeFromCRL", "privilegeWithdrawn", "aACompromise",
}

// String returns the RFC 5280 name of r, or "none" for NoReason.
func (r CRLReason) String() string {
	if r == NoReason {
		return "none"
	}
	if r >= 0 && int(r) < len(crlReasonNames) && crlReasonNames[r] != "" {
		return crlReasonNames[r]
	}
	return fmt.Sprintf("CRLReason(%d)", int(r))
}

func validCRLReason(v byte) bool { return v <= 10 && v != 7 }

// Entry is one revoked certificate as the index reports it.
type Entry struct {
	// Serial is the content of the DER INTEGER: big-endian two's complement, minimal. It is the
	// form a store can keep and compare without big.Int.
	Serial    []byte
	RevokedAt time.Time // UTC, to the second
	Reason    CRLReason
}

// SerialNumber returns the serial as a big.Int.
func (e Entry) SerialNumber() *big.Int { return serialFromBytes(e.Serial) }

// Index answers "is this serial on the CRL, since when, and why" for one CRL, in about 14 bytes
// per entry and without a pointer per entry (so the garbage collector does not scan it).
//
// Serials that are non-negative and fit in 64 bits (nearly all, in practice) live in a sorted
// []uint64 with parallel []uint32 revocation times (seconds since 1970) and []uint8 reasons.
// Others (longer, or negative as non-conforming CAs issue) live in one sorted table per
// encoded length, keyed by their DER content octets. An Index is immutable and safe for
// concurrent use.
type Index struct {
	meta Metadata

	serials []uint64
	at      []uint32
	reasons []uint8
	// buckets[j] is the index of the first serial whose value >> shift is at least j, so that a
	// lookup binary-searches a handful of neighbours instead of the whole column: two or three
	// cache misses instead of twenty. Nil for small indexes.
	buckets []uint32
	shift   uint

	long []*longTable // ordered by width
}

// longTable holds the serials whose DER content is width octets and that are not in the
// []uint64 part, as width-octet records sorted bytewise.
type longTable struct {
	width   int
	keys    []byte
	at      []uint32
	reasons []uint8
}

func (t *longTable) key(i int) []byte { return t.keys[i*t.width : (i+1)*t.width] }

// Metadata returns the CRL's metadata. Number is a copy; the byte slices MUST NOT be modified.
func (ix *Index) Metadata() Metadata {
	m := ix.meta
	m.Number = new(big.Int).Set(ix.meta.Number)
	return m
}

// Len returns the number of distinct revoked serials.
func (ix *Index) Len() int {
	n := len(ix.serials)
	for _, t := range ix.long {
		n += len(t.at)
	}
	return n
}

// Lookup reports whether serial is revoked, and if so since when and why.
func (ix *Index) Lookup(serial *big.Int) (bool, time.Time, CRLReason) {
	if serial.Sign() >= 0 && serial.BitLen() <= 64 {
		return ix.lookupShort(serial.Uint64())
	}
	return ix.lookupLong(serialBytes(serial))
}

// LookupBytes is Lookup for a serial given as the content octets of its DER INTEGER
// (big-endian two's complement, as in a certificate). Redundant leading 0x00 or 0xFF octets are
// tolerated; an empty slice is never revoked.
func (ix *Index) LookupBytes(serial []byte) (bool, time.Time, CRLReason) {
	serial = trimInteger(serial)
	if len(serial) == 0 {
		return false, time.Time{}, NoReason
	}
	if k, ok := shortKey(serial); ok {
		return ix.lookupShort(k)
	}
	return ix.lookupLong(serial)
}

func (ix *Index) lookupShort(k uint64) (bool, time.Time, CRLReason) {
	lo, hi := 0, len(ix.serials)
	if ix.buckets != nil {
		j := k >> ix.shift
		if j >= uint64(len(ix.buckets)-1) {
			return false, time.Time{}, NoReason // above the largest serial
		}
		lo, hi = int(ix.buckets[j]), int(ix.buckets[j+1])
	}
	i, found := slices.BinarySearch(ix.serials[lo:hi], k)
	if !found {
		return false, time.Time{}, NoReason
	}
	i += lo
	return true, unixTime(ix.at[i]), CRLReason(int8(ix.reasons[i]))
}

func (ix *Index) lookupLong(serial []byte) (bool, time.Time, CRLReason) {
	for _, t := range ix.long {
		if t.width != len(serial) {
			continue
		}
		i := sort.Search(len(t.at), func(i int) bool { return bytes.Compare(t.key(i), serial) >= 0 })
		if i < len(t.at) && bytes.Equal(t.key(i), serial) {
			return true, unixTime(t.at[i]), CRLReason(int8(t.reasons[i]))
		}
	}
	return false, time.Time{}, NoReason
}

// All yields every entry: first the 64-bit serials in ascending order, then the others by
// encoded length and then bytewise. Each Entry's Serial is freshly allocated.
func (ix *Index) All() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		for i, k := range ix.serials {
			if !yield(Entry{Serial: shortBytes(k), RevokedAt: unixTime(ix.at[i]), Reason: CRLReason(int8(ix.reasons[i]))}) {
				return
			}
		}
		for _, t := range ix.long {
			for i := range t.at {
				if !yield(Entry{Serial: bytes.Clone(t.key(i)), RevokedAt: unixTime(t.at[i]), Reason: CRLReason(int8(t.reasons[i]))}) {
					return
				}
			}
		}
	}
}

func unixTime(s uint32) time.Time { return time.Unix(int64(s), 0).UTC() }

// trimInteger drops redundant sign octets from two's-complement content.
func trimInteger(b []byte) []byte {
	for len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xff && b[1]&0x80 != 0) {
		b = b[1:]
	}
	return b
}

// shortKey returns the value of minimal two's-complement content b if it is non-negative and
// fits in 64 bits.
func shortKey(b []byte) (uint64, bool) {
	if b[0]&0x80 != 0 {
		return 0, false
	}
	if len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > 8 {
		return 0, false
	}
	var k uint64
	for _, c := range b {
		k = k<<8 | uint64(c)
	}
	return k, true
}

// shortBytes is the minimal DER INTEGER content of non-negative k.
func shortBytes(k uint64) []byte {
	var b [9]byte
	binary.BigEndian.PutUint64(b[1:], k)
	return bytes.Clone(trimInteger(b[:]))
}

// serialBytes is the minimal DER INTEGER content of n (two's complement), as encoding/asn1
// writes it.
func serialBytes(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -n-1 inverted bitwise is n in two's complement.
	m := new(big.Int).Neg(n)
	m.Sub(m, big.NewInt(1))
	b := m.Bytes()
	for i := range b {
		b[i] ^= 0xff
	}
	if len(b) == 0 || b[0]&0x80 == 0 {
		b = append([]byte{0xff}, b...)
	}
	return b
}

func serialFromBytes(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return n
}

// finish sorts the tables and removes duplicate serials, keeping the earliest revocation time
// (the safe answer: the certificate was revoked at least since then). It returns the number of
// duplicates removed.
func (ix *Index) finish() int {
	dups := 0
	if !slices.IsSorted(ix.serials) {
		radixSort(ix.serials, ix.at, ix.reasons)
	}
	ix.serials, ix.at, ix.reasons, dups = dedupShort(ix.serials, ix.at, ix.reasons)
	ix.buildBuckets()
	for _, t := range ix.long {
		sort.Sort(t)
		dups += t.dedup()
	}
	slices.SortFunc(ix.long, func(a, b *longTable) int { return a.width - b.width })
	return dups
}

// buildBuckets makes the bucket table, about eight serials per bucket on average (half a byte
// per entry). Serials spread unevenly make some buckets fuller; lookups stay correct, only
// slower in those.
func (ix *Index) buildBuckets() {
	n := len(ix.serials)
	if n < 1024 {
		return
	}
	maxKey := ix.serials[n-1]
	ix.shift = uint(max(bits.Len64(maxKey)-(bits.Len(uint(n))-3), 0))
	nb := int(maxKey>>ix.shift) + 2
	b := make([]uint32, nb)
	j := 0
	for i, k := range ix.serials {
		for ; j <= int(k>>ix.shift); j++ {
			b[j] = uint32(i)
		}
	}
	for ; j < nb; j++ {
		b[j] = uint32(n)
	}
	ix.buckets = b
}

func dedupShort(keys []uint64, at []uint32, rs []uint8) ([]uint64, []uint32, []uint8, int) {
	if len(keys) < 2 {
		return keys, at, rs, 0
	}
	w := 0
	for r := 1; r < len(keys); r++ {
		if keys[r] == keys[w] {
			if at[r] < at[w] {
				at[w], rs[w] = at[r], rs[r]
			}
			continue
		}
		w++
		keys[w], at[w], rs[w] = keys[r], at[r], rs[r]
	}
	n := w + 1
	return keys[:n:n], at[:n:n], rs[:n:n], len(keys) - n
}

func (t *longTable) Len() int           { return len(t.at) }
func (t *longTable) Less(i, j int) bool { return bytes.Compare(t.key(i), t.key(j)) < 0 }
func (t *longTable) Swap(i, j int) {
	a, b := t.key(i), t.key(j)
	for k := range a {
		a[k], b[k] = b[k], a[k]
	}
	t.at[i], t.at[j] = t.at[j], t.at[i]
	t.reasons[i], t.reasons[j] = t.reasons[j], t.reasons[i]
}

func (t *longTable) dedup() int {
	n := len(t.at)
	if n < 2 {
		return 0
	}
	w := 0
	for r := 1; r < n; r++ {
		if bytes.Equal(t.key(r), t.key(w)) {
			if t.at[r] < t.at[w] {
				t.at[w], t.reasons[w] = t.at[r], t.reasons[r]
			}
			continue
		}
		w++
		copy(t.key(w), t.key(r))
		t.at[w], t.reasons[w] = t.at[r], t.reasons[r]
	}
	m := w + 1
	t.keys, t.at, t.reasons = t.keys[:m*t.width:m*t.width], t.at[:m:m], t.reasons[:m:m]
	return n - m
}

package revocation

import (
	"bytes"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// index reads the entries into an Index in two passes. The first reads only headers: it counts
// entries per serial size, so that every column is allocated once at its final size (growing
// by doubling would need up to twice the memory), and notes where to split the entries so that
// the second pass, which validates and stores them, can run on several cores.
func (f *frame) index() (*Index, error) {
	c := f.count()

	ix := &Index{
		meta:    f.meta,
		serials: make([]uint64, c.short),
		at:      make([]uint32, c.short),
		reasons: make([]uint8, c.short),
	}
	adviseHugePages(ix.serials)
	adviseHugePages(ix.at)
	ix.meta.Issuer = bytes.Clone(f.meta.Issuer)
	ix.meta.AuthorityKeyID = bytes.Clone(f.meta.AuthorityKeyID)
	ix.meta.IssuingDistributionPoint = bytes.Clone(f.meta.IssuingDistributionPoint)
	tables := map[int]*longTable{}
	for w, n := range c.long {
		t := &longTable{width: w, keys: make([]byte, n*w), at: make([]uint32, n), reasons: make([]uint8, n)}
		tables[w] = t
		ix.long = append(ix.long, t)
	}

	segs := c.segments(fillWorkers())
	errs := make([]error, len(segs))
	if len(segs) == 1 {
		errs[0] = f.fill(ix, tables, segs[0])
	} else {
		var wg sync.WaitGroup
		for i, sg := range segs {
			wg.Go(func() {
				errs[i] = guardFaults(func() error { return f.fill(ix, tables, sg) })
			})
		}
		wg.Wait()
	}
	for _, err := range errs { // the first error in CRL order
		if err != nil {
			return nil, err
		}
	}
	ix.meta.Entries = c.entries
	ix.meta.Duplicates = ix.finish()
	return ix, nil
}

// counts is what the first pass learns.
type counts struct {
	entries int
	short   int         // serials for the []uint64 column
	long    map[int]int // the others, per length
	// marks are positions every markEvery entries, from which the second pass can start.
	marks []position
	// complete is false when the first pass could not follow the entries to their end; the
	// second pass then runs alone and reports what is wrong.
	complete bool
}

// position is a point between two entries, with where their data goes in the columns.
type position struct {
	rest  cryptobyte.String // the entries from here to the end
	entry int               // number of the next entry
	short int               // its slot in the []uint64 column, if it goes there
	long  map[int]int       // per length, its slot in that table
}

// markEvery and fillWorkers are variables so that tests can split small CRLs.
var (
	markEvery   = 1 << 15
	fillWorkers = func() int { return min(runtime.GOMAXPROCS(0), 4) }
)

// count reads only entry headers, by hand for the short-form lengths of nearly every entry. It
// does not validate: the second pass does.
func (f *frame) count() counts {
	c := counts{long: map[int]int{}}
	s := f.entries
	for len(s) > 0 {
		if c.entries%markEvery == 0 {
			c.marks = append(c.marks, position{rest: s, entry: c.entries, short: c.short, long: clone(c.long)})
		}
		var ser []byte
		// SEQUENCE { INTEGER serial, ... }, both with short-form lengths.
		if len(s) >= 5 && s[0] == 0x30 && s[1] < 0x80 && s[2] == 0x02 && s[3] < 0x80 && int(s[3])+4 <= int(s[1])+2 && int(s[1])+2 <= len(s) {
			ser = s[4 : 4+int(s[3])]
			s = s[2+int(s[1]):]
		} else {
			var e, sr cryptobyte.String
			if !s.ReadASN1(&e, cbasn1.SEQUENCE) || !e.ReadASN1(&sr, cbasn1.INTEGER) {
				return c
			}
			ser = sr
		}
		ser = trimInteger(ser)
		if len(ser) == 0 {
			return c
		}
		if _, ok := shortKey(ser); ok {
			c.short++
		} else {
			c.long[len(ser)]++
		}
		c.entries++
	}
	c.complete = true
	return c
}

func clone(m map[int]int) map[int]int {
	if len(m) == 0 {
		return nil
	}
	out := make(map[int]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// segment is a run of entries for one goroutine of the second pass.
type segment struct {
	from, to position // to.rest is what follows the segment; to.entry == c.entries at the end
}

// segments splits the entries into up to n runs of about equal size, at marks.
func (c *counts) segments(n int) []segment {
	end := position{entry: c.entries, short: c.short, long: c.long}
	if !c.complete || len(c.marks) < 2 || n < 2 || c.entries < 4*markEvery {
		start := position{rest: nil, long: nil}
		if len(c.marks) > 0 {
			start = c.marks[0]
		}
		return []segment{{from: start, to: end}}
	}
	var segs []segment
	from := c.marks[0]
	for i := 1; i < n; i++ {
		m := slices.IndexFunc(c.marks, func(p position) bool { return p.entry >= i*c.entries/n })
		if m <= 0 || c.marks[m].entry <= from.entry {
			continue
		}
		segs = append(segs, segment{from: from, to: c.marks[m]})
		from = c.marks[m]
	}
	return append(segs, segment{from: from, to: end})
}

// fill validates the entries of sg and stores them in their slots.
func (f *frame) fill(ix *Index, tables map[int]*longTable, sg segment) error {
	var dates dateMemo
	s := sg.from.rest
	stop := len(sg.to.rest) // bytes left after the segment
	n, short := sg.from.entry, sg.from.short
	long := clone(sg.from.long)
	if long == nil {
		long = map[int]int{}
	}
	for ; len(s) > stop; n++ {
		at := s
		var e, ser cryptobyte.String
		if !readASN1(&s, &e, cbasn1.SEQUENCE) {
			return f.malformed(at, "entry %d: not a SEQUENCE", n)
		}
		if !readASN1(&e, &ser, cbasn1.INTEGER) || !minimalInteger(ser) {
			return f.malformed(at, "entry %d: bad serial number", n)
		}
		when, ok := dates.readTime(&e)
		if !ok {
			return f.malformed(at, "entry %d: bad revocationDate", n)
		}
		if when < 0 || when > math.MaxUint32 {
			return errorf(ReasonUnsupported, "entry %d: revocation time %v outside 1970–2106", n, time.Unix(when, 0).UTC())
		}
		reason := uint8(0xff) // NoReason
		if !e.Empty() {
			r, err := f.entryExtensions(at, n, e, &dates)
			if err != nil {
				return err
			}
			reason = r
		}
		// The first pass counted what this one stores; both read the same headers, so the
		// checks below fail only if the bytes changed in between (a mapped file rewritten).
		if k, ok := shortKey(ser); ok {
			if short >= sg.to.short {
				return f.malformed(at, "entry %d: entries changed while being read", n)
			}
			ix.serials[short], ix.at[short], ix.reasons[short] = k, uint32(when), reason
			short++
			continue
		}
		w := len(ser)
		t, i := tables[w], long[w]
		if t == nil || i >= sg.to.long[w] {
			return f.malformed(at, "entry %d: entries changed while being read", n)
		}
		copy(t.keys[i*w:], ser)
		t.at[i], t.reasons[i] = uint32(when), reason
		long[w]++
	}
	if len(s) != stop || n != sg.to.entry || short != sg.to.short {
		return f.malformed(s, "entries changed while being read")
	}
	return nil
}

// entryExtensions reads crlEntryExtensions and returns the reason code (0xff for none).
func (f *frame) entryExtensions(at []byte, n int, e cryptobyte.String, dates *dateMemo) (uint8, error) {
	var exts cryptobyte.String
	if !readASN1(&e, &exts, cbasn1.SEQUENCE) || !e.Empty() || exts.Empty() {
		return 0, f.malformed(at, "entry %d: bad crlEntryExtensions", n)
	}
	reason := uint8(0xff)
	var haveReason, haveInvalidity bool
	for !exts.Empty() {
		// Fast paths for the two extensions of nearly every entry, in the only encodings DER
		// allows for them; anything else takes the general path below, which accepts the same.
		if len(exts) >= len(reasonCodePrefix)+1 && bytes.Equal(exts[:len(reasonCodePrefix)], reasonCodePrefix) {
			v := exts[len(reasonCodePrefix)]
			if haveReason || !validCRLReason(v) {
				return 0, f.malformed(at, "entry %d: bad or repeated reasonCode", n)
			}
			haveReason, reason = true, v
			exts = exts[len(reasonCodePrefix)+1:]
			continue
		}
		if len(exts) >= len(invalidityPrefix)+15 && bytes.Equal(exts[:len(invalidityPrefix)], invalidityPrefix) {
			value := exts[len(invalidityPrefix)-2 : len(invalidityPrefix)+15]
			if _, ok := dates.readTime(&value); haveInvalidity || !ok {
				return 0, f.malformed(at, "entry %d: bad or repeated invalidityDate", n)
			}
			haveInvalidity = true
			exts = exts[len(invalidityPrefix)+15:]
			continue
		}
		oid, critical, value, ok := readExtension(&exts)
		if !ok {
			return 0, f.malformed(at, "entry %d: bad extension", n)
		}
		switch {
		case bytes.Equal(oid, oidReasonCode):
			var v cryptobyte.String
			if haveReason || !value.ReadASN1(&v, cbasn1.ENUM) || !value.Empty() || len(v) != 1 || !validCRLReason(v[0]) {
				return 0, f.malformed(at, "entry %d: bad or repeated reasonCode", n)
			}
			haveReason, reason = true, v[0]
		case bytes.Equal(oid, oidInvalidityDate):
			// InvalidityDate ::= GeneralizedTime. Checked, not kept: status depends on the
			// revocation date.
			if haveInvalidity || !value.PeekASN1Tag(cbasn1.GeneralizedTime) {
				return 0, f.malformed(at, "entry %d: bad or repeated invalidityDate", n)
			}
			if _, ok := dates.readTime(&value); !ok || !value.Empty() {
				return 0, f.malformed(at, "entry %d: bad invalidityDate", n)
			}
			haveInvalidity = true
		case bytes.Equal(oid, oidCertificateIssuer):
			return 0, errorf(ReasonUnsupported, "entry %d: certificateIssuer (indirect CRL)", n)
		case critical:
			return 0, errorf(ReasonUnsupported, "entry %d: unknown critical extension %s", n, oidString(oid))
		}
	}
	return reason, nil
}

// The DER of a reasonCode extension up to its one-octet value, and of an invalidityDate
// extension up to its fifteen-octet GeneralizedTime (tag and length included).
var (
	reasonCodePrefix = []byte{0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01}
	invalidityPrefix = []byte{0x30, 0x18, 0x06, 0x03, 0x55, 0x1d, 0x18, 0x04, 0x11, 0x18, 0x0f}
)

package revocation

import (
	"bytes"
	"cmp"
	"slices"
)

// Changes is what changed between two consecutive CRLs of one issuer.
type Changes struct {
	// Added are the entries on the new CRL only: certificates newly revoked.
	Added []Entry
	// Removed are the entries on the old CRL only. RFC 5280 §3.3 lets a CA drop an entry only
	// after the certificate has expired; any other removal is a CA error (or an un-hold), and
	// the caller, which knows the certificates' expiry, decides which it is.
	Removed []Entry
	// Changed are serials on both whose revocation time or reason differ (for example a
	// certificateHold that became keyCompromise).
	Changed []Change
}

// Change is one serial whose entry differs between two CRLs.
type Change struct {
	Old, New Entry
}

// Diff compares the index of a CRL with the index of the previous CRL of the same issuer. It
// walks both in order, in time linear in their sizes. The entries in each list are in the
// order of Index.All.
//
// It refuses indexes of different issuers (ReasonWrongIssuer) and a next whose cRLNumber is
// lower than prev's (ReasonNumberWentBackwards).
func Diff(prev, next *Index) (*Changes, error) {
	if !bytes.Equal(prev.meta.Issuer, next.meta.Issuer) || !bytes.Equal(prev.meta.AuthorityKeyID, next.meta.AuthorityKeyID) {
		return nil, errorf(ReasonWrongIssuer, "cannot diff CRLs of %q and %q", nameString(prev.meta.Issuer), nameString(next.meta.Issuer))
	}
	if next.meta.Number.Cmp(prev.meta.Number) < 0 {
		return nil, errorf(ReasonNumberWentBackwards, "cRLNumber %v after %v", next.meta.Number, prev.meta.Number)
	}
	c := &Changes{}
	diffShort(c, prev, next)
	// Long tables: pair them by width (both lists are sorted by width).
	i, j := 0, 0
	for i < len(prev.long) || j < len(next.long) {
		switch {
		case j == len(next.long) || i < len(prev.long) && prev.long[i].width < next.long[j].width:
			diffLong(c, prev.long[i], nil)
			i++
		case i == len(prev.long) || next.long[j].width < prev.long[i].width:
			diffLong(c, nil, next.long[j])
			j++
		default:
			diffLong(c, prev.long[i], next.long[j])
			i++
			j++
		}
	}
	return c, nil
}

func diffShort(c *Changes, prev, next *Index) {
	entry := func(ix *Index, i int) Entry {
		return Entry{Serial: shortBytes(ix.serials[i]), RevokedAt: unixTime(ix.at[i]), Reason: CRLReason(int8(ix.reasons[i]))}
	}
	i, j := 0, 0
	for i < len(prev.serials) || j < len(next.serials) {
		var d int
		switch {
		case i == len(prev.serials):
			d = 1
		case j == len(next.serials):
			d = -1
		default:
			d = cmp.Compare(prev.serials[i], next.serials[j])
		}
		switch {
		case d < 0:
			c.Removed = append(c.Removed, entry(prev, i))
			i++
		case d > 0:
			c.Added = append(c.Added, entry(next, j))
			j++
		default:
			if prev.at[i] != next.at[j] || prev.reasons[i] != next.reasons[j] {
				c.Changed = append(c.Changed, Change{Old: entry(prev, i), New: entry(next, j)})
			}
			i++
			j++
		}
	}
}

// diffLong compares two tables of one width; either may be nil.
func diffLong(c *Changes, prev, next *longTable) {
	entry := func(t *longTable, i int) Entry {
		return Entry{Serial: slices.Clone(t.key(i)), RevokedAt: unixTime(t.at[i]), Reason: CRLReason(int8(t.reasons[i]))}
	}
	np, nn := 0, 0
	if prev != nil {
		np = len(prev.at)
	}
	if next != nil {
		nn = len(next.at)
	}
	i, j := 0, 0
	for i < np || j < nn {
		var d int
		switch {
		case i == np:
			d = 1
		case j == nn:
			d = -1
		default:
			d = bytes.Compare(prev.key(i), next.key(j))
		}
		switch {
		case d < 0:
			c.Removed = append(c.Removed, entry(prev, i))
			i++
		case d > 0:
			c.Added = append(c.Added, entry(next, j))
			j++
		default:
			if prev.at[i] != next.at[j] || prev.reasons[i] != next.reasons[j] {
				c.Changed = append(c.Changed, Change{Old: entry(prev, i), New: entry(next, j)})
			}
			i++
			j++
		}
	}
}

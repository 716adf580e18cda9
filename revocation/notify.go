package revocation

import (
	"math/big"
	"strconv"
	"strings"
	"time"
)

// This file is the part of change notification that needs only CRLs: what a new CRL adds, and
// lookups by serial in the text form the platform stores (upper-case hex, no leading zeros).
// Which certificates matter, and to whom, is the platform's business.

// Revoked is a certificate a new CRL added.
type Revoked struct {
	Serial    string    // upper-case hex, no leading zeros; "-" first for a negative serial
	RevokedAt time.Time // revocationDate, UTC
	Reason    CRLReason // NoReason when the entry has no reasonCode
}

// SerialText returns the text form of a serial given as DER INTEGER content octets (Entry.Serial):
// the upper-case hex of its value, as the platform writes serials.
func SerialText(content []byte) string {
	return strings.ToUpper(serialFromBytes(content).Text(16))
}

// NewlyRevoked returns the certificates on next that were not on prev, the previous CRL of the
// same issuer, in the order of Index.All. It refuses what Diff refuses. Entries that disappeared
// (expired certificates) and entries whose time or reason changed are not reported: a
// certificate is revoked once.
func NewlyRevoked(prev, next *Index) ([]Revoked, error) {
	c, err := Diff(prev, next)
	if err != nil {
		return nil, err
	}
	out := make([]Revoked, len(c.Added))
	for i, e := range c.Added {
		out[i] = Revoked{Serial: SerialText(e.Serial), RevokedAt: e.RevokedAt, Reason: e.Reason}
	}
	return out, nil
}

// LookupText is Lookup for a serial in text form (SerialText). Serials of up to 16 hex digits,
// nearly all of them, are looked up without allocating, so a million watched certificates are
// checked against a national CRL in well under a second. Text that is not hex is never revoked.
func (ix *Index) LookupText(serial string) (bool, time.Time, CRLReason) {
	if len(serial) > 0 && len(serial) <= 16 && serial[0] != '-' {
		k, err := strconv.ParseUint(serial, 16, 64)
		if err != nil {
			return false, time.Time{}, NoReason
		}
		return ix.lookupShort(k)
	}
	n, ok := new(big.Int).SetString(serial, 16)
	if !ok {
		return false, time.Time{}, NoReason
	}
	return ix.Lookup(n)
}

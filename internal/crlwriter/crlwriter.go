// Package crlwriter writes RFC 5280 certificate revocation lists of any size in constant memory.
//
// It exists because x509.CreateRevocationList takes every entry as a struct holding a *big.Int and
// a slice of extensions, marshals the whole TBSCertList into one byte slice, then marshals the
// signed list into another: a CRL of the size J-LIS publishes (millions of entries) needs
// gigabytes of heap that way. Write makes two passes over an iterator instead. The first pass
// computes the length of the TBSCertList (DER lengths come before contents, so the length must be
// known before the first byte is written); the second writes the same bytes while hashing them,
// then signs the hash. Memory use is a few kilobytes, whatever the number of entries.
//
// The output is the one x509.CreateRevocationList produces for the same input (the tests check
// it byte for byte): a v2 CRL signed with sha256WithRSAEncryption, carrying the
// authorityKeyIdentifier and cRLNumber extensions, and per entry an invalidityDate and a
// reasonCode extension, in that order, when present.
//
// It owns encoding only. It does not decide what is revoked (package jlis does), and it does not
// read CRLs (package revocation does). It lives in internal/ because it is plumbing for the J-LIS
// simulator and the benchmarks, not a concept of its own.
//
// [RFC 5280 §5]: https://www.rfc-editor.org/rfc/rfc5280#section-5
package crlwriter

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// Entry is one revoked certificate.
//
// Write does not keep an Entry or its Serial after the yield call that passed it returns, so an
// Entries function may reuse one big.Int for every entry.
type Entry struct {
	Serial         *big.Int  // positive, at most 20 octets (RFC 5280 §4.1.2.2)
	RevokedAt      time.Time // revocationDate; MUST NOT be zero
	Reason         int       // RFC 5280 CRLReason code (0–6, 8–10), or -1 for no reasonCode extension
	InvalidityDate time.Time // zero = no invalidityDate extension
}

// NoReason is the Entry.Reason that writes no reasonCode extension. RFC 5280 §5.3.1 asks CRL
// issuers to prefer it over an explicit unspecified (0).
const NoReason = -1

// Template is everything in the CRL that is not an entry.
type Template struct {
	// Issuer is the CA certificate: its RawSubject becomes the CRL's issuer and its SubjectKeyId
	// the authorityKeyIdentifier. It MUST have the cRLSign key usage and a subject key identifier,
	// and its public key MUST be the public half of the signing key.
	Issuer *x509.Certificate
	// Number is the cRLNumber: non-negative, at most 20 octets (RFC 5280 §5.2.3).
	Number *big.Int
	// ThisUpdate and NextUpdate are both required; NextUpdate MUST NOT be before ThisUpdate.
	ThisUpdate, NextUpdate time.Time
}

// Entries yields the revoked entries. Write calls it twice (a length pass and a write pass); it
// MUST yield the same sequence both times. An error returned by yield MUST be returned unchanged.
type Entries func(yield func(Entry) error) error

// Stats describes a written CRL.
type Stats struct {
	Entries  int64 // number of revoked entries
	TBSBytes int64 // length of the encoded TBSCertList, tag and length included
	Bytes    int64 // length of the whole CRL
}

// ErrEntriesChanged is returned by Write when the second pass over Entries yields a different
// sequence than the first. The bytes already written are unusable; the caller MUST discard them.
var ErrEntriesChanged = errors.New("crlwriter: entries changed between the length pass and the write pass")

// Object identifiers and fixed encodings (RFC 5280 §4.2.1.1, §5.2.3, §5.3.1, §5.3.2; RFC 4055 §5).
var (
	// AlgorithmIdentifier{sha256WithRSAEncryption, NULL}, as Go and OpenSSL write it.
	algSHA256WithRSA  = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}
	oidAuthorityKeyID = []byte{0x06, 0x03, 0x55, 0x1d, 0x23} // 2.5.29.35
	oidCRLNumber      = []byte{0x06, 0x03, 0x55, 0x1d, 0x14} // 2.5.29.20
	oidReasonCode     = []byte{0x06, 0x03, 0x55, 0x1d, 0x15} // 2.5.29.21
	oidInvalidityDate = []byte{0x06, 0x03, 0x55, 0x1d, 0x18} // 2.5.29.24
)

// DER tags used here.
const (
	tagInteger         = 0x02
	tagBitString       = 0x03
	tagOctetString     = 0x04
	tagEnumerated      = 0x0a
	tagUTCTime         = 0x17
	tagGeneralizedTime = 0x18
	tagSequence        = 0x30
	tagContext0        = 0xa0 // [0] constructed
	tagContext0Prim    = 0x80 // [0] primitive
)

// flushSize is how many bytes the write pass gathers before hashing and writing them.
const flushSize = 64 << 10

// Write writes the DER encoding of a CRL for t and entries to w, signed by key with
// sha256WithRSAEncryption, and returns its statistics.
//
// Every entry is checked in the first pass, before anything is written, so an invalid entry
// leaves w untouched. An error from w or from the second pass leaves a partial CRL in w.
func Write(w io.Writer, t Template, entries Entries, key crypto.Signer) (Stats, error) {
	pub, err := checkTemplate(t, key)
	if err != nil {
		return Stats{}, err
	}
	sigLen := (pub.N.BitLen() + 7) / 8

	// Pass 1: the length of the revokedCertificates contents.
	var (
		enc        encoder
		scratch    = make([]byte, 0, 256)
		count      int64
		entriesLen int64
		yieldErr   error
	)
	err = entries(func(e Entry) error {
		if yieldErr != nil {
			return yieldErr
		}
		scratch, yieldErr = enc.appendEntry(scratch[:0], e)
		if yieldErr != nil {
			yieldErr = fmt.Errorf("crlwriter: entry %d: %w", count, yieldErr)
			return yieldErr
		}
		count++
		entriesLen += int64(len(scratch))
		return nil
	})
	if err := passError(err, yieldErr); err != nil {
		return Stats{}, err
	}

	head, tail, tbsLen := tbsFrame(t, count, entriesLen)
	contents := headerLen(tbsLen) + tbsLen + int64(len(algSHA256WithRSA)) + headerLen(int64(sigLen)+1) + int64(sigLen) + 1
	total := headerLen(contents) + contents

	// Pass 2: write and hash the TBSCertList.
	h := sha256.New()
	out := make([]byte, 0, flushSize+256)
	out = appendHeader(out, tagSequence, contents)
	out = append(out, head...)
	var (
		written int64 // bytes of out already flushed
		seen    int64
		seenLen int64
		prefix  = headerLen(total) // bytes of out that are not TBS
	)
	flush := func() error {
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("crlwriter: write: %w", err)
		}
		h.Write(out[prefix:])
		prefix = 0
		written += int64(len(out))
		out = out[:0]
		return nil
	}
	err = entries(func(e Entry) error {
		if yieldErr != nil {
			return yieldErr
		}
		before := len(out)
		out, yieldErr = enc.appendEntry(out, e)
		if yieldErr != nil {
			yieldErr = fmt.Errorf("%w: entry %d: %w", ErrEntriesChanged, seen, yieldErr)
			return yieldErr
		}
		seen++
		seenLen += int64(len(out) - before)
		if seen > count || seenLen > entriesLen {
			yieldErr = ErrEntriesChanged
			return yieldErr
		}
		if len(out) >= flushSize {
			yieldErr = flush()
		}
		return yieldErr
	})
	if err := passError(err, yieldErr); err != nil {
		return Stats{}, err
	}
	if seen != count || seenLen != entriesLen {
		return Stats{}, ErrEntriesChanged
	}
	out = append(out, tail...)
	if err := flush(); err != nil {
		return Stats{}, err
	}

	sig, err := key.Sign(rand.Reader, h.Sum(nil), crypto.SHA256)
	if err != nil {
		return Stats{}, fmt.Errorf("crlwriter: sign: %w", err)
	}
	if len(sig) != sigLen {
		return Stats{}, fmt.Errorf("crlwriter: signer returned %d bytes, want %d (the modulus size)", len(sig), sigLen)
	}
	out = append(out, algSHA256WithRSA...)
	out = appendHeader(out, tagBitString, int64(sigLen)+1)
	out = append(out, 0) // no unused bits
	out = append(out, sig...)
	if _, err := w.Write(out); err != nil {
		return Stats{}, fmt.Errorf("crlwriter: write: %w", err)
	}
	written += int64(len(out))
	if written != total {
		// Unreachable unless the length arithmetic above is wrong.
		return Stats{}, fmt.Errorf("crlwriter: wrote %d bytes, computed %d", written, total)
	}
	return Stats{Entries: count, TBSBytes: headerLen(tbsLen) + tbsLen, Bytes: total}, nil
}

// passError is the error of one pass over Entries: the one Write's yield returned, even if the
// iterator dropped it, or else the iterator's own.
func passError(iterErr, yieldErr error) error {
	if yieldErr != nil {
		return yieldErr
	}
	if iterErr != nil {
		return fmt.Errorf("crlwriter: entries: %w", iterErr)
	}
	return nil
}

func checkTemplate(t Template, key crypto.Signer) (*rsa.PublicKey, error) {
	if key == nil {
		return nil, errors.New("crlwriter: no signing key")
	}
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("crlwriter: signing key is %T; only RSA keys are supported (sha256WithRSAEncryption)", key.Public())
	}
	switch {
	case t.Issuer == nil:
		return nil, errors.New("crlwriter: template has no issuer")
	case len(t.Issuer.RawSubject) == 0:
		return nil, errors.New("crlwriter: issuer has no raw subject")
	case len(t.Issuer.SubjectKeyId) == 0:
		return nil, errors.New("crlwriter: issuer has no subject key identifier")
	case t.Issuer.KeyUsage&x509.KeyUsageCRLSign == 0:
		return nil, errors.New("crlwriter: issuer lacks the cRLSign key usage")
	case !pub.Equal(t.Issuer.PublicKey):
		return nil, errors.New("crlwriter: signing key does not match the issuer's public key")
	case t.Number == nil:
		return nil, errors.New("crlwriter: template has no CRL number")
	case t.Number.Sign() < 0:
		return nil, errors.New("crlwriter: CRL number is negative")
	case (t.Number.BitLen()+8)/8 > 20:
		return nil, errors.New("crlwriter: CRL number exceeds 20 octets")
	case t.ThisUpdate.IsZero() || t.NextUpdate.IsZero():
		return nil, errors.New("crlwriter: thisUpdate and nextUpdate are both required")
	case t.NextUpdate.Before(t.ThisUpdate):
		return nil, errors.New("crlwriter: nextUpdate is before thisUpdate")
	}
	for _, at := range []time.Time{t.ThisUpdate, t.NextUpdate} {
		if _, err := appendTime(nil, at); err != nil {
			return nil, err
		}
	}
	return pub, nil
}

// tbsFrame returns the TBSCertList bytes before and after the entries, given their number and
// total length, and the length of the TBSCertList contents.
func tbsFrame(t Template, count, entriesLen int64) ([]byte, []byte, int64) {
	var body []byte
	body = append(body, tagInteger, 1, 1) // version v2
	body = append(body, algSHA256WithRSA...)
	body = append(body, t.Issuer.RawSubject...)
	body, _ = appendTime(body, t.ThisUpdate) // checked in checkTemplate
	body, _ = appendTime(body, t.NextUpdate)
	if count > 0 {
		// revokedCertificates is omitted, not empty, when there are no entries (RFC 5280 §5.1.2.6).
		body = appendHeader(body, tagSequence, entriesLen)
	}

	var exts []byte
	// authorityKeyIdentifier: SEQUENCE { [0] IMPLICIT KeyIdentifier }
	aki := appendHeader(nil, tagContext0Prim, int64(len(t.Issuer.SubjectKeyId)))
	aki = append(aki, t.Issuer.SubjectKeyId...)
	aki = append(appendHeader(nil, tagSequence, int64(len(aki))), aki...)
	exts = appendExtension(exts, oidAuthorityKeyID, aki)
	exts = appendExtension(exts, oidCRLNumber, appendInteger(nil, t.Number))
	var tail []byte
	tail = appendHeader(tail, tagContext0, headerLen(int64(len(exts)))+int64(len(exts)))
	tail = appendHeader(tail, tagSequence, int64(len(exts)))
	tail = append(tail, exts...)

	bodyLen := int64(len(body)) + entriesLen + int64(len(tail))
	head := appendHeader(nil, tagSequence, bodyLen)
	head = append(head, body...)
	return head, tail, bodyLen
}

// encoder encodes entries. It remembers the last day it formatted for each of the two times of
// an entry: consecutive entries are mostly revoked on the same day, and calendar arithmetic and
// formatting were a third of the cost of writing a CRL.
type encoder struct {
	revoked, invalidity dayCache
}

// appendEntry appends one revokedCertificates element.
func (enc *encoder) appendEntry(b []byte, e Entry) ([]byte, error) {
	if e.Serial == nil || e.Serial.Sign() <= 0 {
		return b, errors.New("serial number must be positive")
	}
	if e.Serial.BitLen() > 20*8-1 {
		return b, errors.New("serial number exceeds 20 octets")
	}
	if e.RevokedAt.IsZero() {
		return b, errors.New("revocation time is zero")
	}
	if e.Reason < NoReason || e.Reason == 7 || e.Reason > 10 {
		return b, fmt.Errorf("reason code %d is not an RFC 5280 CRLReason", e.Reason)
	}

	// Encode the contents after a placeholder for the longest header an entry can need, then
	// move them down once the length is known. Entries are short, so this is one small copy.
	const room = 4
	start := len(b)
	b = append(b, make([]byte, room)...)
	b = appendInteger(b, e.Serial)
	var err error
	if b, err = enc.revoked.appendTime(b, e.RevokedAt, false); err != nil {
		return b[:start], err
	}
	if !e.InvalidityDate.IsZero() || e.Reason != NoReason {
		extStart := len(b)
		b = append(b, make([]byte, room)...)
		// Order as x509.CreateRevocationList: extra extensions, then reasonCode. RFC 5280 leaves
		// the order open; matching Go keeps the output byte-identical with the reference.
		if !e.InvalidityDate.IsZero() {
			// InvalidityDate ::= GeneralizedTime, whatever the year (RFC 5280 §5.3.2).
			var v [17]byte
			val, err := enc.invalidity.appendTime(v[:0], e.InvalidityDate, true)
			if err != nil {
				return b[:start], err
			}
			b = appendExtension(b, oidInvalidityDate, val)
		}
		if e.Reason != NoReason {
			b = appendExtension(b, oidReasonCode, []byte{tagEnumerated, 1, byte(e.Reason)})
		}
		b = closeHeader(b, extStart, room, tagSequence)
	}
	return closeHeader(b, start, room, tagSequence), nil
}

// closeHeader writes the tag and length of the contents at b[start+room:] into the room bytes
// reserved at b[start:], moving the contents down if the header is shorter than room.
func closeHeader(b []byte, start, room int, tag byte) []byte {
	n := int64(len(b) - start - room)
	var h [8]byte
	hdr := appendHeader(h[:0], tag, n)
	shift := room - len(hdr)
	copy(b[start+shift:], hdr)
	if shift > 0 {
		copy(b[start:], b[start+shift:])
		b = b[:len(b)-shift]
	}
	return b
}

func appendExtension(b, oid, value []byte) []byte {
	octets := headerLen(int64(len(value))) + int64(len(value))
	b = appendHeader(b, tagSequence, int64(len(oid))+octets)
	b = append(b, oid...)
	b = appendHeader(b, tagOctetString, int64(len(value)))
	return append(b, value...)
}

// appendInteger appends a non-negative INTEGER without allocating.
func appendInteger(b []byte, n *big.Int) []byte {
	size := (n.BitLen() + 7) / 8
	pad := 0
	if size == 0 || n.Bit(size*8-1) == 1 {
		pad = 1 // zero, or the high bit is set: a leading 0x00 keeps the value positive
	}
	b = appendHeader(b, tagInteger, int64(size+pad))
	if pad == 1 {
		b = append(b, 0)
	}
	start := len(b)
	b = append(b, make([]byte, size)...)
	n.FillBytes(b[start:])
	return b
}

// appendTime appends a Time as RFC 5280 §5.1.2.4 requires: UTCTime for years 1950 through 2049,
// GeneralizedTime otherwise, in UTC, to the second.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	var c dayCache
	return c.appendTime(b, t, false)
}

// dayCache holds the date digits of the last day formatted.
type dayCache struct {
	valid bool
	day   int64   // days since 1970-01-01
	year  int     // of that day
	ymd   [8]byte // YYYYMMDD
}

// appendTime appends t as a UTCTime or GeneralizedTime (always the latter when generalized is
// set), truncated to the second, as encoding/asn1 does.
func (c *dayCache) appendTime(b []byte, t time.Time, generalized bool) ([]byte, error) {
	secs := t.Unix()
	day := secs / 86400
	if secs%86400 < 0 {
		day--
	}
	if !c.valid || c.day != day {
		u := t.UTC()
		y, m, d := u.Date()
		if y < 0 || y > 9999 {
			return b, fmt.Errorf("crlwriter: time %v cannot be encoded (year outside 0000–9999)", t)
		}
		c.valid, c.day, c.year = true, day, y
		copy(c.ymd[0:], twoDigits(y/100))
		copy(c.ymd[2:], twoDigits(y%100))
		copy(c.ymd[4:], twoDigits(int(m)))
		copy(c.ymd[6:], twoDigits(d))
	}
	if !generalized && c.year >= 1950 && c.year < 2050 {
		b = append(b, tagUTCTime, 13)
		b = append(b, c.ymd[2:]...)
	} else {
		b = append(b, tagGeneralizedTime, 15)
		b = append(b, c.ymd[:]...)
	}
	sod := int(secs - day*86400)
	b = append(b, twoDigits(sod/3600)...)
	b = append(b, twoDigits(sod/60%60)...)
	b = append(b, twoDigits(sod%60)...)
	return append(b, 'Z'), nil
}

const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// twoDigits returns the two decimal digits of 0 <= v < 100.
func twoDigits(v int) string { return digitPairs[2*v : 2*v+2] }

// appendHeader appends a DER tag and definite length.
func appendHeader(b []byte, tag byte, n int64) []byte {
	b = append(b, tag)
	if n < 0x80 {
		return append(b, byte(n))
	}
	k := lengthOctets(n)
	b = append(b, 0x80|byte(k))
	for i := k - 1; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

// headerLen is the size of a tag and a definite length n.
func headerLen(n int64) int64 {
	if n < 0x80 {
		return 2
	}
	return 2 + int64(lengthOctets(n))
}

func lengthOctets(n int64) int {
	k := 0
	for ; n > 0; n >>= 8 {
		k++
	}
	return k
}

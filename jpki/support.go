package jpki

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// MarshalSupportMyNumber encodes EF 0001 of the 券面事項入力補助AP: FF 10 0C <12 ASCII digits>
// followed by the FF FF filler (17 bytes).
func MarshalSupportMyNumber(myNumber string) ([]byte, error) {
	if !ValidMyNumber(myNumber) {
		return nil, fmt.Errorf("jpki: %q is not a valid 12-digit individual number", myNumber)
	}
	out := []byte{0xFF, 0x10, 0x0C}
	out = append(out, myNumber...)
	return append(out, 0xFF, 0xFF), nil
}

// ParseSupportMyNumber decodes EF 0001 (filler after the record is ignored).
func ParseSupportMyNumber(b []byte) (string, error) {
	if len(b) < 15 || b[0] != 0xFF || b[1] != 0x10 || b[2] != 0x0C {
		return "", errors.New("jpki: individual number record is not FF 10 0C <12 digits>")
	}
	n := string(b[3:15])
	if !ValidMyNumber(n) {
		return "", fmt.Errorf("jpki: individual number record holds %q, not a valid number", n)
	}
	return n, nil
}

// cardTLV appends a tag of the card's private two-byte form (FF xx or DF xx) with a BER length.
func cardTLV(out []byte, t1, t2 byte, value []byte) []byte {
	out = append(out, t1, t2)
	out = appendBERLength(out, len(value))
	return append(out, value...)
}

func appendBERLength(out []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(out, byte(n))
	case n <= 0xFF:
		return append(out, 0x81, byte(n))
	default:
		return append(out, 0x82, byte(n>>8), byte(n))
	}
}

// MarshalSupportBasic4 encodes EF 0002 of the 券面事項入力補助AP:
//
//	FF 20 <len> { DF 21 08 <4 × u16 offsets of DF22..DF25 from the start of the file>,
//	              DF 22 name, DF 23 address, DF 24 YYYYMMDD, DF 25 sex }
//
// The name carries the alias, when there is one, as Basic4.Name does.
func MarshalSupportBasic4(b Basic4) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	birth := fmt.Sprintf("%04d%02d%02d", b.Birth.Year, b.Birth.Month, b.Birth.Day)
	fields := [][]byte{[]byte(b.Name), []byte(b.Address), []byte(birth), []byte(b.Sex.CardCode())}
	var body []byte
	offsets := make([]byte, 8)
	body = cardTLV(body, 0xDF, 0x21, offsets) // placeholder, patched below
	var starts []int
	for i, f := range fields {
		starts = append(starts, len(body))
		body = cardTLV(body, 0xDF, byte(0x22+i), f)
	}
	header := cardTLV(nil, 0xFF, 0x20, body)
	hlen := len(header) - len(body)
	for i, s := range starts {
		binary.BigEndian.PutUint16(header[hlen+3+2*i:], uint16(hlen+s))
	}
	return header, nil
}

// ParseSupportBasic4 decodes EF 0002 (filler after the record is ignored). It checks the offset
// table against the positions of the fields it points at.
func ParseSupportBasic4(b []byte) (Basic4, error) {
	var out Basic4
	if len(b) < 3 || b[0] != 0xFF || b[1] != 0x20 {
		return out, errors.New("jpki: basic 4 record does not start with FF 20")
	}
	body, hlen, err := readCardValue(b, 2)
	if err != nil {
		return out, err
	}
	var offsets []int
	vals := map[byte][]byte{}
	pos := hlen
	for pos < hlen+len(body) {
		if b[pos] != 0xDF || pos+2 > len(b) {
			return out, fmt.Errorf("jpki: basic 4 record has an unexpected tag at offset %d", pos)
		}
		tag := b[pos+1]
		v, vlen, err := readCardValue(b, pos+2)
		if err != nil {
			return out, err
		}
		if tag == 0x21 {
			if len(v) != 8 {
				return out, errors.New("jpki: basic 4 offset table is not 8 bytes")
			}
			for i := 0; i < 4; i++ {
				offsets = append(offsets, int(binary.BigEndian.Uint16(v[2*i:])))
			}
		} else {
			if tag >= 0x22 && tag <= 0x25 && offsets != nil && offsets[tag-0x22] != pos {
				return out, fmt.Errorf("jpki: basic 4 offset table points at %d for DF%02X, found at %d", offsets[tag-0x22], tag, pos)
			}
			vals[tag] = v
		}
		pos = vlen + len(v)
	}
	for _, t := range []byte{0x22, 0x23, 0x24, 0x25} {
		if _, ok := vals[t]; !ok {
			return out, fmt.Errorf("jpki: basic 4 record lacks DF%02X", t)
		}
	}
	out.Name = string(vals[0x22])
	out.Address = string(vals[0x23])
	if out.Birth, err = parseCompactDate(string(vals[0x24])); err != nil {
		return out, err
	}
	if out.Sex, err = ParseSex(string(vals[0x25])); err != nil {
		return out, err
	}
	return out, out.Validate()
}

// readCardValue reads a BER length at b[at:] and returns the value and the offset where the
// value starts.
func readCardValue(b []byte, at int) ([]byte, int, error) {
	s := cryptobyte.String(b[at:])
	var l0 uint8
	if !s.ReadUint8(&l0) {
		return nil, 0, errors.New("jpki: record is truncated in a length")
	}
	n, start := int(l0), at+1
	switch l0 {
	case 0x81:
		var v uint8
		if !s.ReadUint8(&v) {
			return nil, 0, errors.New("jpki: record is truncated in a length")
		}
		n, start = int(v), at+2
	case 0x82:
		var v uint16
		if !s.ReadUint16(&v) {
			return nil, 0, errors.New("jpki: record is truncated in a length")
		}
		n, start = int(v), at+3
	default:
		if l0 >= 0x80 {
			return nil, 0, fmt.Errorf("jpki: record has unsupported length byte %02X", l0)
		}
	}
	if start+n > len(b) {
		return nil, 0, errors.New("jpki: record is truncated")
	}
	return b[start : start+n], start, nil
}

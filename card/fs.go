package card

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/mynagate/mynagate/jpki"
)

// df is a dedicated file: one application with its AID and files.
type df struct {
	name  string
	aid   []byte
	files map[uint16]*ef
}

type efKind int

const (
	efBinary efKind = iota // transparent EF: READ BINARY
	efRecord               // linear record EF: READ RECORD
	efKey                  // internal EF holding a private key: COMPUTE DIGITAL SIGNATURE
	efPIN                  // internal EF holding a PIN: VERIFY, CHANGE REFERENCE DATA
)

// ef is an elementary file.
type ef struct {
	id   uint16
	kind efKind

	data    []byte   // efBinary
	records [][]byte // efRecord

	// readPINs: reading needs one of these PINs verified in the current DF; empty = free.
	readPINs []uint16

	key    *rsa.PrivateKey // efKey
	keyPIN uint16          // efKey: the PIN that must be verified to use the key

	pin *pinObj // efPIN
}

func (f *ef) readable(verified map[uint16]bool) bool {
	if len(f.readPINs) == 0 {
		return true
	}
	for _, p := range f.readPINs {
		if verified[p] {
			return true
		}
	}
	return false
}

func (f *ef) size() int {
	switch f.kind {
	case efBinary:
		return len(f.data)
	case efRecord:
		n := 0
		for _, r := range f.records {
			n += len(r)
		}
		return n
	}
	return 0
}

func (d *df) add(f *ef) { d.files[f.id] = f }

func (c *Card) findDF(aid []byte) *df {
	for _, d := range c.dfs {
		if bytes.Equal(d.aid, aid) {
			return d
		}
	}
	return nil
}

// tlv appends a card-private two-byte tag (FF xx, DF xx) with a BER length.
func tlv(out []byte, t1, t2 byte, value []byte) []byte {
	out = append(out, t1, t2)
	n := len(value)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n <= 0xFF:
		out = append(out, 0x81, byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, value...)
}

// offsetRecord builds FF <tag> { DF <tag+1> <offset table>, DF <tag+2> v0, DF <tag+3> v1, … }
// where the offset table holds, for each field, its u16 offset from the start of the record,
// as EF 0002 of the 券面事項入力補助AP and of the 券面事項確認AP do.
func offsetRecord(tag byte, fields [][]byte) []byte {
	offsets := make([]byte, 2*len(fields))
	var body []byte
	body = tlv(body, 0xDF, tag+1, offsets)
	starts := make([]int, len(fields))
	for i, f := range fields {
		starts[i] = len(body)
		body = tlv(body, 0xDF, tag+2+byte(i), f)
	}
	rec := tlv(nil, 0xFF, tag, body)
	hlen := len(rec) - len(body)
	tableAt := hlen + 3 // DF xx <len> — the table is shorter than 0x80 bytes
	for i, s := range starts {
		o := hlen + s
		rec[tableAt+2*i] = byte(o >> 8)
		rec[tableAt+2*i+1] = byte(o)
	}
	return rec
}

func parseRSAKey(der []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("is a %T, not an RSA key", k)
	}
	return rk, nil
}

// checkSlot checks what OpenSC and readers rely on: certificates are DER starting 30 82 (the
// jpki driver computes the file size from bytes 2–3) and the key matches the certificate.
func checkSlot(name string, s *jpki.KeySlot, key *rsa.PrivateKey) error {
	for what, der := range map[string][]byte{"certificate": s.Cert, "CA certificate": s.CACert} {
		if len(der) < 4 || der[0] != 0x30 || der[1] != 0x82 {
			return fmt.Errorf("%w: %s %s does not start with 30 82 (DER of at least 256 bytes)", ErrCardFile, name, what)
		}
	}
	cert, err := x509.ParseCertificate(s.Cert)
	if err != nil {
		return fmt.Errorf("%w: %s certificate: %v", ErrCardFile, name, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return fmt.Errorf("%w: %s key does not match its certificate", ErrCardFile, name)
	}
	return nil
}

var errNoSerial = errors.New("card serial must be 15 digits, municipality code 5 digits and card expiry YYYY-MM-DD")

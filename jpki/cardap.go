package jpki

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
)

// The signed data of the 券面事項入力補助AP (docs/design/jpki-reference.md §2.2, §12.4).
//
// EF 0003 is FF 30 { DF 31 SHA-256 of EF 0001 (17 bytes with filler), DF 32 SHA-256 of EF 0002's
// value after the offset table, DF 33 the AP key's RSA PKCS#1 v1.5 SHA-256 signature }. EF 0004
// is the AP's card-verifiable certificate 7F 21 { 5F 4E body, 5F 37 signature }, the body being
// the certification authority reference (16 bytes), the holder reference (16 bytes) and the public
// key 90 <exponent> 91 <modulus>. jpki/myna reads these files with fixed lengths (336 and 568
// bytes); with RSA-2048 keys these records are exactly that long, and the files have those
// physical sizes (filled after the record, should a record be shorter).
const (
	SupportSignatureSize = 336  // EF 0003
	SupportCertSize      = 568  // EF 0004
	SupportInfoSize      = 256  // EF 0005
	SupportBasic4Size    = 512  // EF 0002 (assumption: the real size is not published)
	SurfaceAgeSize       = 547  // 券面AP EF 0001: FF 10 82 02 1E and its 542-byte value [MC-SURF]
	SurfaceFaceSize      = 8192 // 券面AP EF 0002 (assumption)
	CardFiller           = 0xFF
)

// What is signed, read from the public descriptions and readers (assumptions, §12.4): DF 33 signs
// the DF 31 and DF 32 TLVs as they stand in EF 0003; the certificate's signature covers the
// whole 5F 4E TLV.

// CVCert is a card-verifiable certificate of an AP key.
type CVCert struct {
	CAR, CHR  []byte // certification authority and holder references, 16 bytes each
	PublicKey *rsa.PublicKey
	Body      []byte // the 5F 4E TLV the signature covers
	Signature []byte
}

// MarshalCVCert builds a certificate for pub, signed with the CA's key.
func MarshalCVCert(car, chr []byte, pub *rsa.PublicKey, ca crypto.Signer) ([]byte, error) {
	if len(car) != 16 || len(chr) != 16 {
		return nil, errors.New("jpki: CV certificate references must be 16 bytes")
	}
	var key []byte
	key = simpleTLV(key, 0x90, big.NewInt(int64(pub.E)).Bytes())
	key = simpleTLV(key, 0x91, pub.N.Bytes())
	body := appTLV(nil, 0x5F, 0x4E, append(append(append([]byte{}, car...), chr...), key...))
	sig, err := signSHA256(ca, body)
	if err != nil {
		return nil, err
	}
	return appTLV(nil, 0x7F, 0x21, appTLV(body, 0x5F, 0x37, sig)), nil
}

// ParseCVCert reads a certificate (filler after it is ignored).
func ParseCVCert(b []byte) (*CVCert, error) {
	if len(b) < 2 || b[0] != 0x7F || b[1] != 0x21 {
		return nil, errors.New("jpki: AP certificate does not start with 7F 21")
	}
	outer, _, err := readCardValue(b, 2)
	if err != nil {
		return nil, err
	}
	if len(outer) < 2 || outer[0] != 0x5F || outer[1] != 0x4E {
		return nil, errors.New("jpki: AP certificate body is not 5F 4E")
	}
	v, start, err := readCardValue(outer, 2)
	if err != nil {
		return nil, err
	}
	c := &CVCert{Body: outer[:start+len(v)]}
	rest := outer[start+len(v):]
	if len(rest) < 2 || rest[0] != 0x5F || rest[1] != 0x37 {
		return nil, errors.New("jpki: AP certificate has no 5F 37 signature")
	}
	if c.Signature, _, err = readCardValue(rest, 2); err != nil {
		return nil, err
	}
	if len(v) < 32 {
		return nil, errors.New("jpki: AP certificate body is too short")
	}
	c.CAR, c.CHR = v[:16], v[16:32]
	if c.PublicKey, err = parseAPKey(v[32:]); err != nil {
		return nil, err
	}
	return c, nil
}

// parseAPKey reads 90 <exponent> 91 <modulus>.
func parseAPKey(b []byte) (*rsa.PublicKey, error) {
	e, rest, err := readSimpleTLV(b, 0x90)
	if err != nil {
		return nil, err
	}
	n, _, err := readSimpleTLV(rest, 0x91)
	if err != nil {
		return nil, err
	}
	exp := new(big.Int).SetBytes(e)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31 || len(n) < 256 {
		return nil, errors.New("jpki: AP public key is not RSA-2048 or larger with a usual exponent")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
}

// CheckSignatureFrom verifies the certificate's signature with the CA's public key.
func (c *CVCert) CheckSignatureFrom(ca *rsa.PublicKey) error {
	h := sha256.Sum256(c.Body)
	if err := rsa.VerifyPKCS1v15(ca, crypto.SHA256, h[:], c.Signature); err != nil {
		return fmt.Errorf("jpki: AP certificate not signed by this CA: %w", err)
	}
	return nil
}

// SupportDigests computes the DF 31 and DF 32 TLVs of EF 0003 from EF 0001 (the 17-byte file
// with its filler) and EF 0002 (the record; filler after it is ignored).
func SupportDigests(myNumberEF, basic4EF []byte) ([]byte, error) {
	if len(myNumberEF) < 17 {
		return nil, errors.New("jpki: individual number file is shorter than 17 bytes")
	}
	if len(basic4EF) < 3 || basic4EF[0] != 0xFF || basic4EF[1] != 0x20 {
		return nil, errors.New("jpki: basic 4 record does not start with FF 20")
	}
	body, _, err := readCardValue(basic4EF, 2)
	if err != nil {
		return nil, err
	}
	if len(body) < 11 || body[0] != 0xDF || body[1] != 0x21 || body[2] != 0x08 {
		return nil, errors.New("jpki: basic 4 record does not begin with its DF 21 offset table")
	}
	d1, d2 := sha256.Sum256(myNumberEF[:17]), sha256.Sum256(body[11:])
	out := cardTLV(nil, 0xDF, 0x31, d1[:])
	return cardTLV(out, 0xDF, 0x32, d2[:]), nil
}

// MarshalSupportSignature builds EF 0003 (the record, without filler) and signs the digests
// with the AP's key.
func MarshalSupportSignature(digests []byte, apKey crypto.Signer) ([]byte, error) {
	sig, err := signSHA256(apKey, digests)
	if err != nil {
		return nil, err
	}
	return cardTLV(nil, 0xFF, 0x30, cardTLV(append([]byte{}, digests...), 0xDF, 0x33, sig)), nil
}

// SupportSignature is EF 0003 read back.
type SupportSignature struct {
	Digests   []byte // the DF 31 and DF 32 TLVs
	Signature []byte // DF 33; empty when the record has none
}

// ParseSupportSignature reads EF 0003 (filler after the record is ignored).
func ParseSupportSignature(b []byte) (*SupportSignature, error) {
	if len(b) < 3 || b[0] != 0xFF || b[1] != 0x30 {
		return nil, errors.New("jpki: signature record does not start with FF 30")
	}
	body, _, err := readCardValue(b, 2)
	if err != nil {
		return nil, err
	}
	out := &SupportSignature{}
	pos := 0
	for pos < len(body) {
		if pos+2 > len(body) || body[pos] != 0xDF {
			return nil, fmt.Errorf("jpki: signature record has an unexpected tag at %d", pos)
		}
		tag := body[pos+1]
		v, start, err := readCardValue(body, pos+2)
		if err != nil {
			return nil, err
		}
		switch tag {
		case 0x31, 0x32:
			if len(v) != sha256.Size {
				return nil, fmt.Errorf("jpki: DF%02X is not a SHA-256 digest", tag)
			}
			out.Digests = append(out.Digests, body[pos:start+len(v)]...)
		case 0x33:
			out.Signature = v
		}
		pos = start + len(v)
	}
	if len(out.Digests) != 2*(3+sha256.Size) {
		return nil, errors.New("jpki: signature record lacks DF 31 or DF 32")
	}
	return out, nil
}

// The failures of VerifySupportBasic4, each wrapped with its detail; a chip-reading verifier maps
// them to its rejection reasons with errors.Is.
var (
	// ErrCardDataMalformed: a record is not in the card's format (or larger than its file).
	ErrCardDataMalformed = errors.New("jpki: the card data is malformed")
	// ErrCardDataDigest: a record does not match its digest in EF 0003 (edited after issuance).
	ErrCardDataDigest = errors.New("jpki: the card data does not match its signed digest")
	// ErrCardDataSignature: the DF 33 signature does not verify with the AP certificate's key.
	ErrCardDataSignature = errors.New("jpki: the AP signature does not verify")
	// ErrCardAPUntrusted: the AP certificate is not signed by the trusted card-AP CA.
	ErrCardAPUntrusted = errors.New("jpki: the AP certificate is not issued by a trusted card-AP CA")
)

// VerifySupportAP checks the 券面事項入力補助AP's data as a chip-reading verifier does: the
// digests in EF 0003 against EF 0001 and EF 0002, the DF 33 signature with the key of the AP
// certificate (EF 0004), and — when ca is not nil — that certificate's signature by the card-AP
// certification authority.
func VerifySupportAP(myNumberEF, basic4EF, signatureEF, certEF []byte, ca *rsa.PublicKey) error {
	want, err := SupportDigests(myNumberEF, basic4EF)
	if err != nil {
		return err
	}
	rec, err := ParseSupportSignature(signatureEF)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(want[:35], rec.Digests[:35]) != 1 {
		return errors.New("jpki: the individual number does not match its digest in EF 0003")
	}
	_, err = verifySupportBasic4(basic4EF, rec, certEF, ca)
	return err
}

// VerifySupportBasic4 checks the basic 4 facts of the 券面事項入力補助AP without its
// individual number, as a platform that must not receive the number does: EF 0002 against the
// DF 32 digest of EF 0003, the DF 33 signature (over DF 31 and DF 32, so the number's digest is
// covered but the number itself is not needed) with the AP certificate's key, and that
// certificate's signature by ca, which is required. Each record may carry its file's filler but
// no more than the file's size. It returns the facts; errors wrap ErrCardDataMalformed,
// ErrCardDataDigest, ErrCardDataSignature or ErrCardAPUntrusted.
func VerifySupportBasic4(basic4EF, signatureEF, certEF []byte, ca *rsa.PublicKey) (Basic4, error) {
	if ca == nil {
		return Basic4{}, errors.New("jpki: VerifySupportBasic4 needs the card-AP CA's key")
	}
	for _, f := range []struct {
		name string
		b    []byte
		max  int
	}{{"EF 0002 (basic 4)", basic4EF, SupportBasic4Size}, {"EF 0003 (signature)", signatureEF, SupportSignatureSize}, {"EF 0004 (AP certificate)", certEF, SupportCertSize}} {
		if len(f.b) == 0 || len(f.b) > f.max {
			return Basic4{}, fmt.Errorf("%w: %s is %d bytes, not 1 to %d", ErrCardDataMalformed, f.name, len(f.b), f.max)
		}
	}
	rec, err := ParseSupportSignature(signatureEF)
	if err != nil {
		return Basic4{}, fmt.Errorf("%w: %w", ErrCardDataMalformed, err)
	}
	return verifySupportBasic4(basic4EF, rec, certEF, ca)
}

func verifySupportBasic4(basic4EF []byte, rec *SupportSignature, certEF []byte, ca *rsa.PublicKey) (Basic4, error) {
	facts, err := ParseSupportBasic4(basic4EF)
	if err != nil {
		return Basic4{}, fmt.Errorf("%w: %w", ErrCardDataMalformed, err)
	}
	want, err := SupportDigests(make([]byte, 17), basic4EF)
	if err != nil {
		return Basic4{}, fmt.Errorf("%w: %w", ErrCardDataMalformed, err)
	}
	if subtle.ConstantTimeCompare(want[35:], rec.Digests[35:]) != 1 {
		return Basic4{}, fmt.Errorf("%w: the basic 4 facts do not match their digest in EF 0003", ErrCardDataDigest)
	}
	if len(rec.Signature) == 0 {
		return Basic4{}, fmt.Errorf("%w: EF 0003 carries no signature (DF 33)", ErrCardDataSignature)
	}
	cert, err := ParseCVCert(certEF)
	if err != nil {
		return Basic4{}, fmt.Errorf("%w: %w", ErrCardDataMalformed, err)
	}
	h := sha256.Sum256(rec.Digests)
	if err := rsa.VerifyPKCS1v15(cert.PublicKey, crypto.SHA256, h[:], rec.Signature); err != nil {
		return Basic4{}, fmt.Errorf("%w: the signature in EF 0003 does not verify with the AP certificate: %w", ErrCardDataSignature, err)
	}
	if ca != nil {
		if err := cert.CheckSignatureFrom(ca); err != nil {
			return Basic4{}, fmt.Errorf("%w: %w", ErrCardAPUntrusted, err)
		}
	}
	return facts, nil
}

// PadFile fills a record to a file's physical size.
func PadFile(rec []byte, size int) ([]byte, error) {
	if len(rec) > size {
		return nil, fmt.Errorf("jpki: record of %d bytes does not fit its %d-byte file", len(rec), size)
	}
	return append(append([]byte{}, rec...), bytes.Repeat([]byte{CardFiller}, size-len(rec))...), nil
}

func signSHA256(k crypto.Signer, msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	sig, err := k.Sign(nil, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("jpki: sign: %w", err)
	}
	return sig, nil
}

// appTLV appends a two-byte application tag (7F xx, 5F xx) with a BER length.
func appTLV(out []byte, t1, t2 byte, v []byte) []byte { return cardTLV(out, t1, t2, v) }

// simpleTLV appends a one-byte tag with a BER length.
func simpleTLV(out []byte, tag byte, v []byte) []byte {
	out = append(out, tag)
	out = appendBERLength(out, len(v))
	return append(out, v...)
}

func readSimpleTLV(b []byte, tag byte) ([]byte, []byte, error) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, fmt.Errorf("jpki: expected tag %02X", tag)
	}
	v, start, err := readCardValue(b, 1)
	if err != nil {
		return nil, nil, err
	}
	return v, b[start+len(v):], nil
}

// The signed records of the 券面事項確認AP (card-face AP, §2.3, §12.4): EF 0001 is the age
// record FF 10 { DF 11 birth date, DF 12 the AP's public key, DF 13 signature over the DF 11 and
// DF 12 TLVs }; EF 0002 is the face FF 20 { DF 21 offsets, DF 22 birth date, DF 23 sex, DF 24
// the AP's public key, DF 25 name image, DF 26 address image, DF 27 photo (JPEG 2000), DF 28
// signature over the DF 22–DF 27 TLVs, DF 29 expiry, DF 2A security-code image }. What each
// signature covers is this simulator's reading (assumption).

// SurfaceFace is the content of the card-face AP's EF 0002.
type SurfaceFace struct {
	Birth, Sex, Expiry             []byte // YYYYMMDD, sex code, YYYYMMDD
	APKey                          *rsa.PublicKey
	NameImage, AddressImage, Photo []byte
	SecurityCodeImage, Signature   []byte
}

// APKeyValue encodes an AP public key as the cards hold it: 90 <exponent> 91 <modulus>.
func APKeyValue(pub *rsa.PublicKey) []byte {
	v := simpleTLV(nil, 0x90, big.NewInt(int64(pub.E)).Bytes())
	return simpleTLV(v, 0x91, pub.N.Bytes())
}

// SurfaceFaceTBS is what DF 28 signs: the DF 22 to DF 27 TLVs.
func SurfaceFaceTBS(f SurfaceFace) []byte {
	var out []byte
	for i, v := range [][]byte{f.Birth, f.Sex, APKeyValue(f.APKey), f.NameImage, f.AddressImage, f.Photo} {
		out = cardTLV(out, 0xDF, 0x22+byte(i), v)
	}
	return out
}

// MarshalSurfaceFace builds EF 0002 with its offset table.
func MarshalSurfaceFace(f SurfaceFace) []byte {
	fields := [][]byte{f.Birth, f.Sex, APKeyValue(f.APKey), f.NameImage, f.AddressImage, f.Photo, f.Signature, f.Expiry, f.SecurityCodeImage}
	offsets := make([]byte, 2*len(fields))
	body := cardTLV(nil, 0xDF, 0x21, offsets)
	starts := make([]int, len(fields))
	for i, v := range fields {
		starts[i] = len(body)
		body = cardTLV(body, 0xDF, 0x22+byte(i), v)
	}
	rec := cardTLV(nil, 0xFF, 0x20, body)
	hlen := len(rec) - len(body)
	for i, st := range starts {
		o := hlen + st
		rec[hlen+3+2*i], rec[hlen+3+2*i+1] = byte(o>>8), byte(o)
	}
	return rec
}

// ParseSurfaceFace reads EF 0002 (filler after the record is ignored).
func ParseSurfaceFace(b []byte) (*SurfaceFace, error) {
	vals, err := readDFRecord(b, 0x20)
	if err != nil {
		return nil, err
	}
	for t := byte(0x22); t <= 0x2A; t++ {
		if _, ok := vals[t]; !ok {
			return nil, fmt.Errorf("jpki: face record lacks DF%02X", t)
		}
	}
	key, err := parseAPKey(vals[0x24])
	if err != nil {
		return nil, err
	}
	return &SurfaceFace{Birth: vals[0x22], Sex: vals[0x23], APKey: key, NameImage: vals[0x25], AddressImage: vals[0x26],
		Photo: vals[0x27], Signature: vals[0x28], Expiry: vals[0x29], SecurityCodeImage: vals[0x2A]}, nil
}

// SurfaceAgeTBS is what DF 13 signs: the DF 11 and DF 12 TLVs.
func SurfaceAgeTBS(birth []byte, key *rsa.PublicKey) []byte {
	return cardTLV(cardTLV(nil, 0xDF, 0x11, birth), 0xDF, 0x12, APKeyValue(key))
}

// MarshalSurfaceAge builds EF 0001.
func MarshalSurfaceAge(birth []byte, key *rsa.PublicKey, sig []byte) []byte {
	return cardTLV(nil, 0xFF, 0x10, cardTLV(SurfaceAgeTBS(birth, key), 0xDF, 0x13, sig))
}

// SignAP signs a record's to-be-signed bytes with an AP key (RSASSA-PKCS1-v1_5, SHA-256).
func SignAP(key crypto.Signer, tbs []byte) ([]byte, error) { return signSHA256(key, tbs) }

// VerifySurfaceAP checks the card-face AP's records: the age record's and the face's
// signatures with the AP key they carry, that key against the AP certificate (EF 0004), and —
// when ca is not nil — the certificate's signature by the card-AP CA. It also checks that the
// photo is JPEG 2000.
func VerifySurfaceAP(ageEF, faceEF, certEF []byte, ca *rsa.PublicKey) error {
	cert, err := ParseCVCert(certEF)
	if err != nil {
		return err
	}
	if ca != nil {
		if err := cert.CheckSignatureFrom(ca); err != nil {
			return err
		}
	}
	age, err := readDFRecord(ageEF, 0x10)
	if err != nil {
		return err
	}
	ageKey, err := parseAPKey(age[0x12])
	if err != nil {
		return err
	}
	if !ageKey.Equal(cert.PublicKey) {
		return errors.New("jpki: the age record's key is not the AP certificate's")
	}
	if err := verifyAP(ageKey, SurfaceAgeTBS(age[0x11], ageKey), age[0x13]); err != nil {
		return fmt.Errorf("jpki: the age record's signature (DF 13): %w", err)
	}
	face, err := ParseSurfaceFace(faceEF)
	if err != nil {
		return err
	}
	if !face.APKey.Equal(cert.PublicKey) {
		return errors.New("jpki: the face record's key is not the AP certificate's")
	}
	if err := verifyAP(face.APKey, SurfaceFaceTBS(*face), face.Signature); err != nil {
		return fmt.Errorf("jpki: the face record's signature (DF 28): %w", err)
	}
	if !bytes.Equal(face.Birth, age[0x11]) {
		return errors.New("jpki: the age record and the face disagree on the date of birth")
	}
	if !bytes.HasPrefix(face.Photo, []byte{0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20}) {
		return errors.New("jpki: the face photo is not JPEG 2000")
	}
	return nil
}

func verifyAP(key *rsa.PublicKey, tbs, sig []byte) error {
	h := sha256.Sum256(tbs)
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, h[:], sig)
}

// readDFRecord reads FF <tag> { DF xx … } into its values by tag.
func readDFRecord(b []byte, tag byte) (map[byte][]byte, error) {
	if len(b) < 3 || b[0] != 0xFF || b[1] != tag {
		return nil, fmt.Errorf("jpki: record does not start with FF %02X", tag)
	}
	body, _, err := readCardValue(b, 2)
	if err != nil {
		return nil, err
	}
	vals := map[byte][]byte{}
	for pos := 0; pos < len(body); {
		if pos+2 > len(body) || body[pos] != 0xDF {
			return nil, fmt.Errorf("jpki: record FF %02X has an unexpected tag at %d", tag, pos)
		}
		v, start, err := readCardValue(body, pos+2)
		if err != nil {
			return nil, err
		}
		vals[body[pos+1]] = v
		pos = start + len(v)
	}
	return vals, nil
}

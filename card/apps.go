package card

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/mynagate/mynagate/jpki"
)

// PIN and key references of the applications other than the JPKI AP (REFERENCE §2.2–§2.4).
const (
	efSupportBlocked  uint16 = 0x0012 // 入力補助AP: key reference blocked from issuance
	efSupportCollateA uint16 = 0x0014 // 入力補助AP 照合番号A (the individual number)
	efSupportCollateB uint16 = 0x0015 // 入力補助AP 照合番号B (DOB + expiry year + security code)
	efSurfaceBirthKey uint16 = 0x0011 // 券面AP 生年月日 key (和暦 YYMMDD)
	efSurfaceCollateB uint16 = 0x0012 // 券面AP 照合番号B
	efSurfaceCollateA uint16 = 0x0013 // 券面AP 照合番号A
	efJukiPIN         uint16 = 0x001C // 住基AP / 共通カードAP PIN
)

// build creates the applications from the card file.
func (c *Card) build() error {
	cf := c.cf
	normalise(&cf.Auth.PIN, jpki.AuthPINTries)
	if cf.Sign != nil {
		normalise(&cf.Sign.PIN, jpki.SignPINTries)
	}
	normalise(&cf.SupportPIN, jpki.SupportPINTries)
	normalise(&cf.JukiPIN, jpki.JukiPINTries)

	ap, err := c.buildJPKI()
	if err != nil {
		return err
	}
	c.dfs = []*df{ap}
	if cf.Medium.IsPhone() {
		// A smartphone credential is a JPKI AP in a secure element; the other APs are card-only.
		return nil
	}
	support, err := c.buildSupport()
	if err != nil {
		return err
	}
	surface, err := c.buildSurface()
	if err != nil {
		return err
	}
	record, err := commonRecord(cf)
	if err != nil {
		return err
	}
	juki := &df{name: "住基AP", aid: jpki.AIDJuki, files: map[uint16]*ef{}}
	jukiPIN := &pinObj{p: &cf.JukiPIN, rule: PINJuki, persistent: true, minLen: 4, maxLen: 4}
	// EF 0002 holds a 16-byte key reference whose content is not published.
	juki.add(&ef{id: 0x0002, kind: efBinary, data: make([]byte, 16)})
	juki.add(&ef{id: efJukiPIN, kind: efPIN, pin: jukiPIN})
	common := &df{name: "共通カードAP", aid: jpki.AIDCommon, files: map[uint16]*ef{}}
	common.add(&ef{id: 0x0001, kind: efRecord, records: [][]byte{record}})
	// The reference lists a separate 001C reference here; one counter (the card file's juki
	// PIN) serves both, since the holder has one 住民基本台帳用暗証番号.
	common.add(&ef{id: efJukiPIN, kind: efPIN, pin: jukiPIN})
	c.dfs = append(c.dfs, support, surface, juki, common)
	return nil
}

// buildJPKI creates the 公的個人認証AP (REFERENCE §2.1).
func (c *Card) buildJPKI() (*df, error) {
	cf := c.cf
	ap := &df{name: "JPKI AP", aid: jpki.AIDJPKI, files: map[uint16]*ef{}}
	authKey, err := keyOf("auth", cf.Auth)
	if err != nil {
		return nil, err
	}
	if err := checkSlot("auth", cf.Auth, authKey); err != nil {
		return nil, err
	}
	authCertRead := []uint16(nil)
	if cf.Medium.IsPhone() {
		// On the phone the auth certificate is readable only after the auth PIN (REFERENCE §7).
		authCertRead = []uint16{jpki.EFAuthPIN}
	}
	ap.add(&ef{id: jpki.EFAuthCert, kind: efBinary, data: cf.Auth.Cert, readPINs: authCertRead})
	ap.add(&ef{id: jpki.EFAuthCACert, kind: efBinary, data: cf.Auth.CACert})
	ap.add(&ef{id: jpki.EFAuthKey, kind: efKey, key: authKey, keyPIN: jpki.EFAuthPIN})
	ap.add(&ef{id: jpki.EFAuthPIN, kind: efPIN, pin: &pinObj{p: &cf.Auth.PIN, rule: PINAuth, persistent: true, minLen: 4, maxLen: 4}})
	avail := []byte{0x00, 0x8F, 0x00} // byte 0 signing, byte 1 auth (REFERENCE §2.1, UNCONFIRMED)
	if cf.Sign != nil {
		signKey, err := keyOf("sign", cf.Sign)
		if err != nil {
			return nil, err
		}
		if err := checkSlot("sign", cf.Sign, signKey); err != nil {
			return nil, err
		}
		ap.add(&ef{id: jpki.EFSignCert, kind: efBinary, data: cf.Sign.Cert, readPINs: []uint16{jpki.EFSignPIN}})
		ap.add(&ef{id: jpki.EFSignCACert, kind: efBinary, data: cf.Sign.CACert})
		ap.add(&ef{id: jpki.EFSignKey, kind: efKey, key: signKey, keyPIN: jpki.EFSignPIN})
		ap.add(&ef{id: jpki.EFSignPIN, kind: efPIN, pin: &pinObj{p: &cf.Sign.PIN, rule: PINSign, persistent: true, minLen: 6, maxLen: 16}})
		avail[0] = 0x8F
	} else {
		// Without a signing certificate (a holder under 15) the signing password's IEF is still
		// there but was never set: query 63C0, VERIFY 6984, as the 入力補助AP's reference that
		// was blocked at issuance answers. OpenSC's jpki driver asks for the tries of both PINs
		// when it binds and fails the whole card if selecting 001B fails. What a real child's
		// card answers here is not published (assumption, docs/design/jpki-reference.md).
		ap.add(&ef{id: jpki.EFSignPIN, kind: efPIN, pin: &pinObj{p: &jpki.PIN{}, blocked: true, minLen: 6, maxLen: 16}})
	}
	ap.add(&ef{id: jpki.EFToken, kind: efBinary, data: tokenInfo(cf.Medium)})
	ap.add(&ef{id: jpki.EFCertAvail, kind: efBinary, data: avail})
	return ap, nil
}

// tokenInfo builds EF 0006: a 160-byte serialised PKCS#11 CK_TOKEN_INFO with big-endian
// 32-bit CK_ULONGs (REFERENCE §2.1). Readers look only at the space-padded label; the other
// fields are this card's plausible values.
// The iPhone credential's token also carries CKF_PROTECTED_AUTHENTICATION_PATH: its holder
// unlocks the authentication key with biometrics (jpki.Medium.AuthBiometric).
func tokenInfo(m jpki.Medium) []byte {
	b := make([]byte, 160)
	pad := func(off, n int, s string) { copy(b[off:off+n], s+strings.Repeat(" ", n-len(s))) }
	pad(0, 32, m.TokenLabel())
	pad(32, 32, "") // manufacturerID
	pad(64, 16, "") // model
	pad(80, 16, "") // serialNumber
	flags := uint32(jpki.TokenFlagLoginRequired | jpki.TokenFlagUserPINInitialized | jpki.TokenFlagTokenInitialized)
	if m.AuthBiometric() {
		flags |= jpki.TokenFlagProtectedAuthPath
	}
	binary.BigEndian.PutUint32(b[jpki.TokenFlagsOffset:], flags)
	binary.BigEndian.PutUint32(b[116:], 16) // maxPinLen
	binary.BigEndian.PutUint32(b[120:], 4)  // minPinLen
	copy(b[140:], "03")                     // hardwareVersion, as observed
	copy(b[142:], "01")                     // firmwareVersion, as observed
	pad(144, 16, "")                        // utcTime (no clock on token)
	return b
}

// buildSupport creates the 券面事項入力補助AP (REFERENCE §2.2).
func (c *Card) buildSupport() (*df, error) {
	cf := c.cf
	myNumber, err := jpki.MarshalSupportMyNumber(cf.MyNumber)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
	}
	basic4, err := jpki.MarshalSupportBasic4(cf.Basic4)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
	}
	collateB, err := collationB(cf)
	if err != nil {
		return nil, err
	}
	ap := &df{name: "券面事項入力補助AP", aid: jpki.AIDSupport, files: map[uint16]*ef{}}
	// Files have fixed physical sizes, filled after their record, as jpki/myna's fixed-length
	// reads expect (jpki.Support*Size).
	basic4File, err := jpki.PadFile(basic4, jpki.SupportBasic4Size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
	}
	ap.add(&ef{id: jpki.EFSupportMyNumber, kind: efBinary, data: myNumber,
		readPINs: []uint16{jpki.EFSupportPIN, efSupportCollateA}})
	ap.add(&ef{id: jpki.EFSupportBasic4, kind: efBinary, data: basic4File,
		readPINs: []uint16{jpki.EFSupportPIN, efSupportCollateB}})
	// EF 0003: digests of EF 0001 and of EF 0002's fields, and the issuer's signature (DF 33)
	// when the card file carries it; EF 0004: the AP's certificate (jpki/cardap.go).
	sigRecord, keyID := []byte(nil), make([]byte, 16)
	if cf.SupportAP != nil {
		cert, err := jpki.ParseCVCert(cf.SupportAP.Cert)
		if err != nil {
			return nil, fmt.Errorf("%w: support AP certificate: %v", ErrCardFile, err)
		}
		certFile, err := jpki.PadFile(cf.SupportAP.Cert, jpki.SupportCertSize)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
		}
		ap.add(&ef{id: 0x0004, kind: efBinary, data: certFile})
		sigRecord, keyID = cf.SupportAP.Signature, cert.CHR
	} else {
		digests, err := jpki.SupportDigests(myNumber, basic4)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
		}
		sigRecord = tlv(nil, 0xFF, 0x30, digests) // an unsigned card file: digests only
	}
	sigFile, err := jpki.PadFile(sigRecord, jpki.SupportSignatureSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
	}
	ap.add(&ef{id: jpki.EFSupportDigest, kind: efBinary, data: sigFile,
		readPINs: []uint16{jpki.EFSupportPIN, efSupportCollateA, efSupportCollateB}})
	// EF 0005: AP basic information FF 40 { DF 41 APInfo, DF 42 KeyID } — free.
	var info []byte
	info = tlv(info, 0xDF, 0x41, []byte{0x06, 0x03, 0x0E, 0x01})
	info = tlv(info, 0xDF, 0x42, keyID)
	infoFile, err := jpki.PadFile(tlv(nil, 0xFF, 0x40, info), jpki.SupportInfoSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
	}
	ap.add(&ef{id: 0x0005, kind: efBinary, data: infoFile})
	ap.add(&ef{id: 0x0008, kind: efBinary, data: []byte(strings.Repeat("\xFF", 16))})
	ap.add(&ef{id: jpki.EFSupportPIN, kind: efPIN, pin: &pinObj{p: &cf.SupportPIN, rule: PINSupport, persistent: true, minLen: 4, maxLen: 4}})
	ap.add(&ef{id: efSupportBlocked, kind: efPIN, pin: &pinObj{p: &jpki.PIN{}, blocked: true, minLen: 4, maxLen: 4}})
	ap.add(&ef{id: efSupportCollateA, kind: efPIN, pin: collationPIN(cf, jpki.CollationSupportA, cf.MyNumber)})
	ap.add(&ef{id: efSupportCollateB, kind: efPIN, pin: collationPIN(cf, jpki.CollationSupportB, collateB)})
	return ap, nil
}

// buildSurface creates the 券面事項確認AP (REFERENCE §2.3) with the face photo.
func (c *Card) buildSurface() (*df, error) {
	cf := c.cf
	birthKey, err := warekiYYMMDD(cf.Basic4.Birth)
	if err != nil {
		return nil, err
	}
	collateB, err := collationB(cf)
	if err != nil {
		return nil, err
	}
	expiry, err := jpki.ParseDate(cf.CardExpiry)
	if err != nil {
		return nil, fmt.Errorf("%w: card expiry: %v", ErrCardFile, err)
	}
	dob := compactDate(cf.Basic4.Birth)
	ap := &df{name: "券面事項確認AP", aid: jpki.AIDSurface, files: map[uint16]*ef{}}
	if cf.SurfaceAP != nil {
		// Signed by the issuer (jpki/cardap.go): the age record and the face carry the AP key
		// and their signatures, EF 0004 the AP's certificate.
		ss := cf.SurfaceAP
		cert, err := jpki.ParseCVCert(ss.Cert)
		if err != nil {
			return nil, fmt.Errorf("%w: card-face AP certificate: %v", ErrCardFile, err)
		}
		age, err := jpki.PadFile(jpki.MarshalSurfaceAge(dob, cert.PublicKey, ss.AgeSignature), jpki.SurfaceAgeSize)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
		}
		face, err := jpki.PadFile(jpki.MarshalSurfaceFace(jpki.SurfaceFace{Birth: dob, Sex: []byte(cf.Basic4.Sex.CardCode()),
			APKey: cert.PublicKey, NameImage: ss.NameImage, AddressImage: ss.AddressImage, Photo: cf.Photo,
			Signature: ss.FaceSignature, Expiry: compactDate(expiry), SecurityCodeImage: ss.SecurityCodeImage}), jpki.SurfaceFaceSize)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
		}
		certFile, err := jpki.PadFile(ss.Cert, jpki.SupportCertSize)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCardFile, err)
		}
		ap.add(&ef{id: 0x0001, kind: efBinary, data: age, readPINs: []uint16{efSurfaceBirthKey}})
		ap.add(&ef{id: 0x0002, kind: efBinary, data: face, readPINs: []uint16{efSurfaceCollateA, efSurfaceCollateB}})
		ap.add(&ef{id: 0x0004, kind: efBinary, data: certFile})
	} else {
		// A card file written before the simulator signed this AP: unsigned records and a
		// JPEG placeholder photo.
		photo := cf.Photo
		if len(photo) == 0 {
			if photo, err = Portrait(cf.MyNumber + cf.Basic4.Name); err != nil {
				return nil, err
			}
		}
		ap.add(&ef{id: 0x0001, kind: efBinary, data: tlv(nil, 0xFF, 0x10, tlv(nil, 0xDF, 0x11, dob)),
			readPINs: []uint16{efSurfaceBirthKey}})
		face := offsetRecord(0x20, [][]byte{dob, []byte(cf.Basic4.Sex.CardCode()), nil, nil, nil, photo, nil, compactDate(expiry), nil})
		ap.add(&ef{id: 0x0002, kind: efBinary, data: face, readPINs: []uint16{efSurfaceCollateA, efSurfaceCollateB}})
	}
	// EF 0003: AP basic data, free, with the issuing municipality.
	var basic []byte
	basic = tlv(basic, 0xDF, 0x31, []byte{0x06, 0x03, 0x0E, 0x01})
	basic = tlv(basic, 0xDF, 0x32, make([]byte, 16))
	basic = tlv(basic, 0xDF, 0x33, []byte{0x01})
	basic = tlv(basic, 0xDF, 0x34, []byte(cf.MunicipalityCode))
	ap.add(&ef{id: 0x0003, kind: efBinary, data: tlv(nil, 0xFF, 0x30, basic)})
	ap.add(&ef{id: efSurfaceBirthKey, kind: efPIN, pin: collationPIN(cf, jpki.CollationSurfaceBirth, birthKey)})
	ap.add(&ef{id: efSurfaceCollateB, kind: efPIN, pin: collationPIN(cf, jpki.CollationSurfaceB, collateB)})
	ap.add(&ef{id: efSurfaceCollateA, kind: efPIN, pin: collationPIN(cf, jpki.CollationSurfaceA, cf.MyNumber)})
	return ap, nil
}

// collationPIN is a key whose value is derived from the card face (a collation number or the
// birth-date key) and whose counter is kept in the card file under name, so that pulling the
// card does not give fresh tries. Its length is the value's.
func collationPIN(cf *jpki.CardFile, name, value string) *pinObj {
	tries := jpki.CollationMaxTries
	if n, ok := cf.CollationTries[name]; ok {
		tries = n
	}
	return &pinObj{p: &jpki.PIN{Value: value, Tries: tries, MaxTries: jpki.CollationMaxTries},
		persistent: true, collation: name, minLen: len(value), maxLen: len(value)}
}

func compactDate(d jpki.Date) []byte {
	return []byte(fmt.Sprintf("%04d%02d%02d", d.Year, d.Month, d.Day))
}

// commonRecord builds record 1 of EF 0001 of the 共通カードAP: simple TLV 01 1C followed by
// the 15-digit card serial, the 5-digit municipality code and the card expiry YYYYMMDD
// (REFERENCE §2.4).
func commonRecord(cf *jpki.CardFile) ([]byte, error) {
	digits := func(s string, n int) bool { return len(s) == n && strings.Trim(s, "0123456789") == "" }
	expiry, err := jpki.ParseDate(cf.CardExpiry)
	if err != nil || !digits(cf.CardSerial, 15) || !digits(cf.MunicipalityCode, 5) {
		return nil, fmt.Errorf("%w: %v (have %q, %q, %q)", ErrCardFile, errNoSerial, cf.CardSerial, cf.MunicipalityCode, cf.CardExpiry)
	}
	rec := []byte{0x01, 0x1C}
	rec = append(rec, cf.CardSerial...)
	rec = append(rec, cf.MunicipalityCode...)
	return append(rec, compactDate(expiry)...), nil
}

// warekiYYMMDD formats a date as the 券面AP birth-date key (jpki.BirthKey).
func warekiYYMMDD(d jpki.Date) (string, error) {
	k, err := jpki.BirthKey(d)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrCardFile, err)
	}
	return k, nil
}

// collationB builds 照合番号B: the birth-date key (6), the card's expiry year (4) and the
// security code (4). The order is the reference's reading (UNCONFIRMED, REFERENCE §4).
func collationB(cf *jpki.CardFile) (string, error) {
	birth, err := warekiYYMMDD(cf.Basic4.Birth)
	if err != nil {
		return "", err
	}
	expiry, err := jpki.ParseDate(cf.CardExpiry)
	if err != nil {
		return "", fmt.Errorf("%w: card expiry %q: %v", ErrCardFile, cf.CardExpiry, err)
	}
	if len(cf.SecurityCode) != 4 || strings.Trim(cf.SecurityCode, "0123456789") != "" {
		return "", fmt.Errorf("%w: security code %q is not 4 digits", ErrCardFile, cf.SecurityCode)
	}
	return fmt.Sprintf("%s%04d%s", birth, expiry.Year, cf.SecurityCode), nil
}

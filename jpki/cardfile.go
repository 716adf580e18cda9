package jpki

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// CardFileVersion is the version of the card file format written by this package.
const CardFileVersion = 1

// Medium says what carries a JPKI credential.
type Medium string

// The media a credential can be issued to.
const (
	MediumCard    Medium = "card"    // the physical My Number Card (token label JPKIAPICCTOKEN2)
	MediumAndroid Medium = "android" // スマホ用電子証明書 in an Android secure element (JPKIAPGPSETOKEN)
	MediumIPhone  Medium = "iphone"  // the iPhone credential (JPKIAPIOSTOKEN)
)

// TokenLabel returns the label of the JPKI AP token EF 0006 for the medium.
func (m Medium) TokenLabel() string {
	switch m {
	case MediumAndroid:
		return "JPKIAPGPSETOKEN"
	case MediumIPhone:
		return "JPKIAPIOSTOKEN"
	default:
		return "JPKIAPICCTOKEN2"
	}
}

// AuthBiometric reports whether the holder unlocks the authentication key with the phone's
// biometrics (Face ID / Touch ID) instead of typing the 4-digit PIN: true for the iPhone
// credential, false for the card and the Android credential. The token says so with the
// PKCS#11 flag CKF_PROTECTED_AUTHENTICATION_PATH (see TokenFlagProtectedAuthPath). An
// assumption from public descriptions of the iPhone service (docs/design/jpki-reference.md
// §12.5); the virtual phone still takes the PIN in place of the biometric match.
func (m Medium) AuthBiometric() bool { return m == MediumIPhone }

// Flags of the JPKI token EF 0006 (PKCS#11 CK_TOKEN_INFO.flags, a big-endian 32-bit word at
// offset 96).
const (
	TokenFlagLoginRequired      = 0x00000004
	TokenFlagUserPINInitialized = 0x00000008
	TokenFlagProtectedAuthPath  = 0x00000100 // the user logs in without passing a PIN (biometrics)
	TokenFlagTokenInitialized   = 0x00000400
)

// TokenFlagsOffset is where CK_TOKEN_INFO.flags starts in EF 0006.
const TokenFlagsOffset = 96

// IsPhone reports whether the medium is a smartphone credential.
func (m Medium) IsPhone() bool { return m == MediumAndroid || m == MediumIPhone }

// CardFile is everything the virtual card holds: what J-LIS and the municipality write onto the
// chip at issuance (keys, certificates, card-face data) and the card's mutable state (PIN retry
// counters). The J-LIS simulator writes it; the virtual card reads it and writes back the
// counters, so that pulling the card does not reset them.
//
// Byte slices are DER (certificates) or PKCS#8 DER (keys), base64 in JSON.
type CardFile struct {
	Version int    `json:"version"`
	Medium  Medium `json:"medium"`
	// CardSerial is the 15-digit card serial of the 共通カードAP record.
	CardSerial string `json:"card_serial"`
	// MunicipalityCode is the 5-digit 全国地方公共団体コード of the issuing municipality.
	MunicipalityCode string `json:"municipality_code"`
	// CardExpiry is the card's expiry date, YYYY-MM-DD (JST calendar date).
	CardExpiry string `json:"card_expiry"`
	// MyNumber is the 12-digit individual number (with its check digit).
	MyNumber string `json:"my_number"`
	// Basic4 is the card-face data as the 券面事項入力補助AP stores it.
	Basic4 Basic4 `json:"basic4"`
	// SecurityCode is the 4-digit code printed on the card face (part of 照合番号B).
	SecurityCode string `json:"security_code"`
	// Photo is the face photo of the 券面事項確認AP: JPEG 2000 on cards the simulator signed
	// (SurfaceAP), a JPEG placeholder on older ones.
	Photo []byte `json:"photo,omitempty"`

	// Auth is the 利用者証明用 key, certificate and 4-digit PIN (JPKI AP EFs 000A, 000B, 0017, 0018).
	Auth *KeySlot `json:"auth"`
	// Sign is the 署名用 key, certificate and password (EFs 0001, 0002, 001A, 001B). Nil when no
	// signing certificate was issued (holders under 15).
	Sign *KeySlot `json:"sign,omitempty"`
	// SupportPIN is the 券面事項入力補助用暗証番号 (4 digits, 3 tries).
	SupportPIN PIN `json:"support_pin"`
	// JukiPIN is the 住民基本台帳用暗証番号 (4 digits, 3 tries).
	JukiPIN PIN `json:"juki_pin"`
	// CollationTries holds the retry counters of the keys derived from the card face (照合番号A
	// and B of the 券面事項入力補助AP and the 券面AP, the 券面AP's birth-date key), by the names
	// in Collation; a key absent from the map has all CollationMaxTries tries left. Their values
	// are derived from the card, so only the counters are stored.
	CollationTries map[string]int `json:"collation_tries,omitempty"`
	// SupportAP is the issuer's signature over the 券面事項入力補助AP's data (EF 0003) and the
	// AP's certificate (EF 0004); nil on cards written before the simulator signed them.
	SupportAP *SignedAP `json:"support_ap,omitempty"`
	// SurfaceAP is the issuer's signed data of the 券面事項確認AP (the photo is Photo, in JPEG
	// 2000 when SurfaceAP is set); nil on cards written before the simulator signed it.
	SurfaceAP *SignedSurface `json:"surface_ap,omitempty"`
}

// SignedSurface is the card-face AP's signed data: its AP certificate, the signatures of the
// age record (EF 0001 DF 13) and of the face (EF 0002 DF 28), and the face's images (PNG).
type SignedSurface struct {
	Cert              []byte `json:"cert"`
	AgeSignature      []byte `json:"age_signature"`
	FaceSignature     []byte `json:"face_signature"`
	NameImage         []byte `json:"name_image"`
	AddressImage      []byte `json:"address_image"`
	SecurityCodeImage []byte `json:"security_code_image"`
}

// SignedAP is what the issuer writes to make an AP's data verifiable: the signature record and
// the AP's card-verifiable certificate (whose holder reference is the AP's key id).
type SignedAP struct {
	Signature []byte `json:"signature"` // the record of EF 0003, FF 30 { DF 31, DF 32, DF 33 }
	Cert      []byte `json:"cert"`      // EF 0004, 7F 21 { 5F 4E, 5F 37 }
}

// The collation keys whose counters CardFile.CollationTries holds.
const (
	CollationSupportA     = "support_a"     // 入力補助AP EF 0014, 照合番号A
	CollationSupportB     = "support_b"     // 入力補助AP EF 0015, 照合番号B
	CollationSurfaceA     = "surface_a"     // 券面AP EF 0013, 照合番号A
	CollationSurfaceB     = "surface_b"     // 券面AP EF 0012, 照合番号B
	CollationSurfaceBirth = "surface_birth" // 券面AP EF 0011, 生年月日 key
)

// Collation lists the collation keys.
var Collation = []string{CollationSupportA, CollationSupportB, CollationSurfaceA, CollationSurfaceB, CollationSurfaceBirth}

// CollationMaxTries is the retry limit given to the collation keys. The real limit is not
// published (REFERENCE §4 "?"); ten is this simulator's assumption.
const CollationMaxTries = 10

// KeySlot is one JPKI key pair with its certificate, its CA certificate and its PIN.
type KeySlot struct {
	Cert   []byte `json:"cert"`
	CACert []byte `json:"ca_cert"`
	Key    []byte `json:"key"`
	PIN    PIN    `json:"pin"`
}

// PIN is a card PIN with its retry counter.
type PIN struct {
	Value    string `json:"value"`
	Tries    int    `json:"tries"`     // tries left; 0 = blocked
	MaxTries int    `json:"max_tries"` // value the counter is reset to
}

// The retry limits of the real card (REFERENCE §4).
const (
	AuthPINTries    = 3
	SignPINTries    = 5
	SupportPINTries = 3
	JukiPINTries    = 3
)

// LoadCardFile reads and validates a card file.
func LoadCardFile(path string) (*CardFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jpki: read card file: %w", err)
	}
	var cf CardFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return nil, fmt.Errorf("jpki: card file %s is not valid JSON: %w", path, err)
	}
	if err := cf.Validate(); err != nil {
		return nil, fmt.Errorf("jpki: card file %s: %w", path, err)
	}
	return &cf, nil
}

// Validate checks that the card file is complete enough to run a card.
func (cf *CardFile) Validate() error {
	if cf.Version != CardFileVersion {
		return fmt.Errorf("unsupported version %d (want %d)", cf.Version, CardFileVersion)
	}
	switch cf.Medium {
	case MediumCard, MediumAndroid, MediumIPhone:
	default:
		return fmt.Errorf("unknown medium %q", cf.Medium)
	}
	if cf.Auth == nil {
		return errors.New("no authentication key slot")
	}
	for name, n := range cf.CollationTries {
		if !slices.Contains(Collation, name) {
			return fmt.Errorf("unknown collation key %q in collation_tries", name)
		}
		if n < 0 || n > CollationMaxTries {
			return fmt.Errorf("collation key %s counter %d is out of range 0..%d", name, n, CollationMaxTries)
		}
	}
	for name, s := range map[string]*KeySlot{"auth": cf.Auth, "sign": cf.Sign} {
		if s == nil {
			continue
		}
		if len(s.Cert) == 0 || len(s.CACert) == 0 || len(s.Key) == 0 {
			return fmt.Errorf("%s key slot lacks its certificate, CA certificate or key", name)
		}
		if s.PIN.MaxTries <= 0 || s.PIN.Tries < 0 || s.PIN.Tries > s.PIN.MaxTries {
			return fmt.Errorf("%s PIN counter %d/%d is out of range", name, s.PIN.Tries, s.PIN.MaxTries)
		}
	}
	return nil
}

// Save writes the card file atomically (write to a temporary file, then rename), so that a
// crash never leaves a half-written card.
func (cf *CardFile) Save(path string) error {
	b, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return fmt.Errorf("jpki: encode card file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".card-*.json")
	if err != nil {
		return fmt.Errorf("jpki: save card file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("jpki: save card file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("jpki: save card file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("jpki: save card file: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("jpki: save card file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("jpki: save card file: %w", err)
	}
	return nil
}

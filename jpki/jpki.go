// Package jpki holds the facts of the Japanese Public Key Infrastructure (公的個人認証サービス)
// that more than one part of mynagate must agree on: the card's application identifiers and
// elementary files, the object identifiers of the certificate profiles, the basic 4 facts
// (基本4情報) and their encodings in the signing certificate and on the card, and the card file
// that the J-LIS simulator writes and the virtual card reads.
//
// It owns encoding and decoding only. It does not verify chains or signatures (package verify),
// does not talk to cards (packages card and reader) and does not issue certificates (package jlis).
//
// Facts and their sources are collected in docs/design/jpki-reference.md; the authoritative text
// is J-LIS 「署名用電子証明書及び利用者証明用電子証明書のプロファイル仕様書」.
package jpki

import "encoding/asn1"

// Application identifiers of the card (REFERENCE §1).
var (
	AIDJPKI    = []byte{0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01} // 公的個人認証AP
	AIDSupport = []byte{0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08} // 券面事項入力補助AP
	AIDSurface = []byte{0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02} // 券面事項確認AP
	AIDJuki    = []byte{0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x01} // 住基AP
	AIDCommon  = []byte{0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x01, 0x00} // 共通カードAP
)

// Elementary files of the JPKI AP (REFERENCE §2.1).
const (
	EFSignCert   uint16 = 0x0001 // 署名用電子証明書 (needs the signing password)
	EFSignCACert uint16 = 0x0002 // 署名用CA証明書
	EFToken      uint16 = 0x0006 // token info (CK_TOKEN_INFO, label first)
	EFCertAvail  uint16 = 0x0008 // certificate availability flags
	EFAuthCert   uint16 = 0x000A // 利用者証明用電子証明書 (free on the card)
	EFAuthCACert uint16 = 0x000B // 利用者証明用CA証明書
	EFAuthKey    uint16 = 0x0017 // 利用者証明用秘密鍵
	EFAuthPIN    uint16 = 0x0018 // 利用者証明用暗証番号 (4 digits, 3 tries)
	EFSignKey    uint16 = 0x001A // 署名用秘密鍵
	EFSignPIN    uint16 = 0x001B // 署名用パスワード (6–16 chars, 5 tries)
)

// Elementary files of the 券面事項入力補助AP (REFERENCE §2.2).
const (
	EFSupportMyNumber uint16 = 0x0001 // FF 10 0C <12 digits> FF FF
	EFSupportBasic4   uint16 = 0x0002 // FF 20 … DF21 offsets, DF22–DF25
	EFSupportDigest   uint16 = 0x0003
	EFSupportPIN      uint16 = 0x0011 // 券面事項入力補助用暗証番号
)

// Object identifiers of the JPKI certificate profiles (REFERENCE §5.2.1).
var (
	OIDName                = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 1} // 氏名
	OIDNameAltPositions    = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 2} // 氏名の代替文字の使用位置情報
	OIDSex                 = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 3} // 性別
	OIDBirthDate           = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 4} // 生年月日
	OIDAddress             = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 5} // 住所
	OIDAddressAltPositions = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 6} // 住所の代替文字の使用位置情報

	OIDPolicySign     = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 1, 1, 20} // jpki-cp-sign-class20
	OIDPolicyAuth     = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 1, 3, 30} // jpki-cp-auth-class30
	OIDPolicySignTest = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 1, 0, 20} // JPKI test environment, signing
	// OIDPolicyAuthTest is the test-environment authentication policy. Its value is not
	// published; …1.0.30 mirrors the signing one and is this project's assumption.
	OIDPolicyAuthTest = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 1, 0, 30}
)

// Kind names the two JPKI certificates.
type Kind string

// The two kinds of JPKI certificate.
const (
	KindSign Kind = "sign" // 署名用電子証明書: carries the basic 4 facts
	KindAuth Kind = "auth" // 利用者証明用電子証明書: carries no personal data
)

// ParseKind parses "sign" or "auth".
func ParseKind(s string) (Kind, bool) {
	switch Kind(s) {
	case KindSign, KindAuth:
		return Kind(s), true
	}
	return "", false
}

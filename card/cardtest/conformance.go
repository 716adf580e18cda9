package cardtest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/apdu"
	"github.com/mynagate/mynagate/jpki"
)

// Transport reaches a virtual card made from CardFile(t, jpki.MediumCard): in-process, or
// through pcscd and vpcd.
type Transport interface {
	// Transmit sends a command APDU and returns the response APDU.
	Transmit(capdu []byte) ([]byte, error)
	// Reset resets the card (warm reset).
	Reset() error
}

// H decodes hex with spaces ("00 A4 04 0C").
func H(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// SelectAID, SelectEF and friends build the APDUs real readers send (REFERENCE §3).
func SelectAID(aid []byte) []byte {
	return apdu.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: aid}.MustBytes()
}

// SelectEF selects an EF of the current application by id.
func SelectEF(id uint16) []byte {
	return apdu.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{byte(id >> 8), byte(id)}}.MustBytes()
}

// Verify sends VERIFY for the current EF; an empty pin queries the counter.
func Verify(pin string) []byte {
	return apdu.Command{INS: 0x20, P2: 0x80, Data: []byte(pin)}.MustBytes()
}

// ReadBinary reads ne bytes at offset of the current EF.
func ReadBinary(offset, ne int) []byte {
	return apdu.Command{INS: 0xB0, P1: byte(offset >> 8), P2: byte(offset), Ne: ne}.MustBytes()
}

// Sign is COMPUTE DIGITAL SIGNATURE of data with the current key EF.
func Sign(data []byte) []byte {
	return apdu.Command{CLA: 0x80, INS: 0x2A, P2: 0x80, Data: data, Ne: 256}.MustBytes()
}

// DigestInfoSHA256 returns the DER DigestInfo of SHA-256(msg).
func DigestInfoSHA256(msg []byte) []byte {
	h := sha256.Sum256(msg)
	return append(H("3031300D060960864801650304020105000420"), h[:]...)
}

type session struct {
	t  *testing.T
	tr Transport
}

func (s session) tx(capdu []byte) apdu.Response {
	s.t.Helper()
	out, err := s.tr.Transmit(capdu)
	if err != nil {
		s.t.Fatalf("transmit %X: %v", capdu, err)
	}
	r, err := apdu.ParseResponse(out)
	if err != nil {
		s.t.Fatalf("transmit %X: %v", capdu, err)
	}
	return r
}

// want sends capdu and fails unless the status word is wantSW.
func (s session) want(capdu []byte, wantSW apdu.StatusWord) apdu.Response {
	s.t.Helper()
	r := s.tx(capdu)
	if r.SW != wantSW {
		s.t.Fatalf("%X → %v, want %v", capdu, r.SW, wantSW)
	}
	return r
}

func (s session) reset() {
	s.t.Helper()
	if err := s.tr.Reset(); err != nil {
		s.t.Fatal(err)
	}
}

// readAll reads a whole EF the way jpki/myna does: 7 bytes, then chunks of Le 00.
func (s session) readAll(size int) []byte {
	s.t.Helper()
	var out []byte
	for len(out) < size {
		ne := min(256, size-len(out))
		r := s.want(ReadBinary(len(out), ne), apdu.SWOK)
		if len(r.Data) != ne {
			s.t.Fatalf("read at %d returned %d bytes, want %d", len(out), len(r.Data), ne)
		}
		out = append(out, r.Data...)
	}
	return out
}

// Conformance runs the card's APDU rules against a transport to a fresh physical card made
// from cf (CardFile(t, jpki.MediumCard) or a card issued by the J-LIS simulator), using the PINs
// and certificates of cf. It consumes PIN tries and blocks the support PIN, so every run needs
// a fresh card file.
func Conformance(t *testing.T, tr Transport, cf *jpki.CardFile) {
	pubOf := func(der []byte) *rsa.PublicKey {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c.PublicKey.(*rsa.PublicKey)
	}
	authPub, signPub := pubOf(cf.Auth.Cert), pubOf(cf.Sign.Cert)
	AuthPIN, SignPassword, SupportPIN, JukiPIN := cf.Auth.PIN.Value, cf.Sign.PIN.Value, cf.SupportPIN.Value, cf.JukiPIN.Value
	wrong4 := "0000"
	if AuthPIN == wrong4 || SupportPIN == wrong4 {
		t.Fatal("cardtest: the suite uses 0000 as the wrong PIN")
	}
	birth := fmt.Sprintf("%04d%02d%02d", cf.Basic4.Birth.Year, cf.Basic4.Birth.Month, cf.Basic4.Birth.Day)
	expiry := strings.ReplaceAll(cf.CardExpiry, "-", "")

	t.Run("select", func(t *testing.T) {
		s := session{t, tr}
		s.reset()
		s.want(H("00 A4 00 00"), apdu.SWIncorrectP1P2) // MF after reset
		s.want(SelectEF(jpki.EFAuthCert), apdu.SWFileNotFound)
		for _, aid := range [][]byte{jpki.AIDJPKI, jpki.AIDSupport, jpki.AIDSurface, jpki.AIDJuki, jpki.AIDCommon} {
			s.want(SelectAID(aid), apdu.SWOK)
		}
		s.want(H("00 A4 00 00"), apdu.SWOK)
		s.want(SelectAID(H("D392F000260100000002")), apdu.SWFileNotFound)
		s.want(H("00 A4 02 0C 02 3F 00"), apdu.SWFileNotFound)
		s.want(H("00 A4 08 0C 02 3F 00"), apdu.SWIncorrectP1P2)
		s.want(H("00 A4 04 0F 0A D392F000260100000001"), apdu.SWIncorrectP1P2)
		s.want(H("00 A4 02 0C 01 00"), apdu.SWWrongLength)
		r := s.want(apdu.Command{INS: 0xA4, P1: 4, P2: 0, Data: jpki.AIDJPKI, Ne: 256}.MustBytes(), apdu.SWOK)
		if !bytes.Equal(r.Data, append(H("6F 0C 84 0A"), jpki.AIDJPKI...)) {
			t.Fatalf("FCI = % X", r.Data)
		}
		s.want(SelectEF(0x1234), apdu.SWFileNotFound)
	})

	t.Run("jpki read", func(t *testing.T) {
		s := session{t, tr}
		s.reset()
		s.want(SelectAID(jpki.AIDJPKI), apdu.SWOK)
		s.want(ReadBinary(0, 4), apdu.SWNoCurrentEF)
		s.want(SelectEF(jpki.EFToken), apdu.SWOK)
		r := s.want(ReadBinary(0, 0x20), apdu.SWOK)
		if want := []byte("JPKIAPICCTOKEN2" + strings.Repeat(" ", 17)); !bytes.Equal(r.Data, want) {
			t.Fatalf("token label %q", r.Data)
		}
		if got := s.readAll(160); len(got) != 160 {
			t.Fatal("token info is not 160 bytes")
		}
		s.want(ReadBinary(160, 1), apdu.SWWrongP1P2)
		s.want(SelectEF(jpki.EFCertAvail), apdu.SWOK)
		if r := s.want(ReadBinary(0, 256), apdu.SWOK); !bytes.Equal(r.Data, H("8F 8F 00")) {
			t.Fatalf("availability % X", r.Data)
		}
		for id, want := range map[uint16][]byte{jpki.EFAuthCert: cf.Auth.Cert, jpki.EFAuthCACert: cf.Auth.CACert, jpki.EFSignCACert: cf.Sign.CACert} {
			s.want(SelectEF(id), apdu.SWOK)
			head := s.want(ReadBinary(0, 7), apdu.SWOK).Data
			size := int(head[2])<<8 | int(head[3]) + 4
			if got := s.readAll(size); !bytes.Equal(got, want) {
				t.Fatalf("EF %04X differs from the issued certificate", id)
			}
			s.want(ReadBinary(size, 1), apdu.SWWrongP1P2)
			// Le 00 near the end returns exactly the remainder
			if r := s.want(ReadBinary(size-10, 256), apdu.SWOK); len(r.Data) != 10 {
				t.Fatalf("tail read returned %d bytes", len(r.Data))
			}
		}
		s.want(SelectEF(jpki.EFSignCert), apdu.SWOK)
		s.want(ReadBinary(0, 4), apdu.SWSecurityNotSatisfied)
		s.want(SelectEF(jpki.EFAuthKey), apdu.SWOK)
		s.want(ReadBinary(0, 4), apdu.SWIncompatibleFile)
		s.want(H("00 B0 00 00"), apdu.SWWrongLength)
		// read by short file identifier: P1 = 80 | 0A
		if r := s.want(H("00 B0 8A 00 04"), apdu.SWOK); !bytes.Equal(r.Data, cf.Auth.Cert[:4]) {
			t.Fatalf("SFI read % X", r.Data)
		}
	})

	t.Run("auth PIN and signature", func(t *testing.T) {
		s := session{t, tr}
		s.reset()
		s.want(SelectAID(jpki.AIDJPKI), apdu.SWOK)
		s.want(SelectEF(jpki.EFAuthKey), apdu.SWOK)
		di := DigestInfoSHA256([]byte("challenge"))
		s.want(Sign(di), apdu.SWSecurityNotSatisfied)
		s.want(SelectEF(jpki.EFAuthPIN), apdu.SWOK)
		s.want(Verify(""), apdu.VerifyFailed(3))
		s.want(Verify("0000"), apdu.VerifyFailed(2))
		s.want(Verify(""), apdu.VerifyFailed(2))
		s.want(Verify(AuthPIN), apdu.SWOK)
		s.want(Verify(""), apdu.VerifyFailed(3)) // a good VERIFY restores the counter
		s.want(SelectEF(jpki.EFAuthKey), apdu.SWOK)
		r := s.want(Sign(di), apdu.SWOK)
		h := sha256.Sum256([]byte("challenge"))
		if err := rsa.VerifyPKCS1v15(authPub, crypto.SHA256, h[:], r.Data); err != nil {
			t.Fatalf("signature does not verify: %v", err)
		}
		cert, _ := x509.ParseCertificate(cf.Auth.Cert)
		if err := cert.CheckSignature(x509.SHA256WithRSA, []byte("challenge"), r.Data); err != nil {
			t.Fatalf("signature does not verify against the auth certificate: %v", err)
		}
		// the signing key still needs its own password
		s.want(SelectEF(jpki.EFSignKey), apdu.SWOK)
		s.want(Sign(di), apdu.SWSecurityNotSatisfied)
		// P2 = 80|17 names the auth key without selecting it
		s.want(apdu.Command{CLA: 0x80, INS: 0x2A, P2: 0x97, Data: di, Ne: 256}.MustBytes(), apdu.SWOK)
		s.want(apdu.Command{CLA: 0x80, INS: 0x2A, P1: 0x06, P2: 0x97, Data: di, Ne: 256}.MustBytes(), apdu.SWIncorrectP1P2)
		s.want(apdu.Command{CLA: 0x80, INS: 0x2A, P2: 0x97, Data: make([]byte, 246), Ne: 256}.MustBytes(), apdu.SWWrongLength)
		s.want(apdu.Command{CLA: 0x80, INS: 0x2A, P2: 0x97, Data: di}.MustBytes(), apdu.SWWrongLength) // no Le
		// P1 02: the card wraps a bare SHA-256 hash in its DigestInfo
		r = s.want(apdu.Command{CLA: 0x80, INS: 0x2A, P1: 0x02, P2: 0x97, Data: h[:], Ne: 256}.MustBytes(), apdu.SWOK)
		if err := rsa.VerifyPKCS1v15(authPub, crypto.SHA256, h[:], r.Data); err != nil {
			t.Fatalf("P1 02 signature: %v", err)
		}
		// selecting the application again clears the security state (OpenSC's logout)
		s.want(SelectAID(jpki.AIDJPKI), apdu.SWOK)
		s.want(SelectEF(jpki.EFAuthKey), apdu.SWOK)
		s.want(Sign(di), apdu.SWSecurityNotSatisfied)
		// a PIN of the wrong length is refused without spending a try
		s.want(SelectEF(jpki.EFAuthPIN), apdu.SWOK)
		s.want(Verify("12345"), apdu.SWWrongLength)
		s.want(Verify(""), apdu.VerifyFailed(3))
		s.want(Verify(AuthPIN), apdu.SWOK)
		// selecting another application clears the security state
		s.want(SelectAID(jpki.AIDSupport), apdu.SWOK)
		s.want(SelectAID(jpki.AIDJPKI), apdu.SWOK)
		s.want(SelectEF(jpki.EFAuthKey), apdu.SWOK)
		s.want(Sign(di), apdu.SWSecurityNotSatisfied)
		// and so does a reset
		s.want(SelectEF(jpki.EFAuthPIN), apdu.SWOK)
		s.want(Verify(AuthPIN), apdu.SWOK)
		s.reset()
		s.want(SelectAID(jpki.AIDJPKI), apdu.SWOK)
		s.want(SelectEF(jpki.EFAuthKey), apdu.SWOK)
		s.want(Sign(di), apdu.SWSecurityNotSatisfied)
	})

	t.Run("signing password", func(t *testing.T) {
		s := session{t, tr}
		s.reset()
		s.want(SelectAID(jpki.AIDJPKI), apdu.SWOK)
		s.want(SelectEF(jpki.EFSignPIN), apdu.SWOK)
		s.want(Verify(""), apdu.VerifyFailed(5))
		s.want(Verify(strings.ToLower(SignPassword)), apdu.VerifyFailed(4)) // the card does not fold case
		s.want(Verify(SignPassword), apdu.SWOK)
		s.want(SelectEF(jpki.EFSignCert), apdu.SWOK)
		head := s.want(ReadBinary(0, 4), apdu.SWOK).Data
		if got := s.readAll(int(head[2])<<8 | int(head[3]) + 4); !bytes.Equal(got, cf.Sign.Cert) {
			t.Fatal("signing certificate differs from the issued one")
		}
		di := DigestInfoSHA256([]byte("contract"))
		s.want(SelectEF(jpki.EFSignKey), apdu.SWOK)
		r := s.want(Sign(di), apdu.SWOK)
		h := sha256.Sum256([]byte("contract"))
		if err := rsa.VerifyPKCS1v15(signPub, crypto.SHA256, h[:], r.Data); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("change PIN", func(t *testing.T) {
		s := session{t, tr}
		s.reset()
		s.want(SelectAID(jpki.AIDJPKI), apdu.SWOK)
		s.want(SelectEF(jpki.EFAuthPIN), apdu.SWOK)
		change := func(p string) []byte { return apdu.Command{INS: 0x24, P1: 0x01, P2: 0x80, Data: []byte(p)}.MustBytes() }
		s.want(change("4321"), apdu.SWSecurityNotSatisfied)
		s.want(Verify(AuthPIN), apdu.SWOK)
		s.want(change("43210"), apdu.SWIncorrectData)
		s.want(change("abcd"), apdu.SWIncorrectData)
		s.want(apdu.Command{INS: 0x24, P1: 0x00, P2: 0x80, Data: []byte("4321")}.MustBytes(), apdu.SWIncorrectP1P2)
		s.want(change("4321"), apdu.SWOK)
		s.want(Verify(AuthPIN), apdu.VerifyFailed(2))
		s.want(Verify("4321"), apdu.SWOK)
		s.want(change(AuthPIN), apdu.SWOK) // back, so later runs know the PIN
		s.want(SelectEF(jpki.EFSignPIN), apdu.SWOK)
		s.want(Verify(SignPassword), apdu.SWOK)
		s.want(change("ABCDEF"), apdu.SWIncorrectData) // no digit
		s.want(change("ABC12"), apdu.SWIncorrectData)  // too short
		s.want(change(strings.Repeat("A1", 9)), apdu.SWIncorrectData)
		s.want(change("XYZ789"), apdu.SWOK)
		s.want(change(SignPassword), apdu.SWOK)
	})

	t.Run("support AP", func(t *testing.T) {
		s := session{t, tr}
		s.reset()
		s.want(SelectAID(jpki.AIDSupport), apdu.SWOK)
		s.want(SelectEF(jpki.EFSupportMyNumber), apdu.SWOK)
		s.want(ReadBinary(0, 17), apdu.SWSecurityNotSatisfied)
		s.want(SelectEF(jpki.EFSupportPIN), apdu.SWOK)
		s.want(Verify(SupportPIN), apdu.SWOK)
		s.want(SelectEF(jpki.EFSupportMyNumber), apdu.SWOK)
		r := s.want(ReadBinary(0, 17), apdu.SWOK)
		if n, err := jpki.ParseSupportMyNumber(r.Data); err != nil || n != cf.MyNumber || len(r.Data) != 17 {
			t.Fatalf("EF 0001 = % X (%v)", r.Data, err)
		}
		s.want(SelectEF(jpki.EFSupportBasic4), apdu.SWOK)
		head := s.want(ReadBinary(0, 7), apdu.SWOK).Data
		size := int(head[2]) + 3
		if head[2] == 0x81 {
			size = int(head[3]) + 4
		}
		b4, err := jpki.ParseSupportBasic4(s.readAll(size))
		if err != nil || b4 != cf.Basic4 {
			t.Fatalf("basic 4 = %+v (%v)", b4, err)
		}
		// jpki/myna's fixed-length reads (text signature 336, text cert 568, text info 256)
		// return exactly those lengths, and the AP's signature verifies.
		s.want(SelectEF(jpki.EFSupportDigest), apdu.SWOK)
		sigEF := s.readAll(jpki.SupportSignatureSize)
		s.want(ReadBinary(jpki.SupportSignatureSize, 1), apdu.SWWrongP1P2)
		s.want(SelectEF(0x0004), apdu.SWOK)
		certEF := s.readAll(jpki.SupportCertSize)
		s.want(ReadBinary(jpki.SupportCertSize, 1), apdu.SWWrongP1P2)
		s.want(SelectEF(0x0005), apdu.SWOK)
		infoEF := s.readAll(jpki.SupportInfoSize)
		if !bytes.HasPrefix(infoEF, H("FF 40 1A DF 41 04 06 03 0E 01 DF 42 10")) {
			t.Fatalf("EF 0005 = % X", infoEF[:32])
		}
		s.want(SelectEF(jpki.EFSupportBasic4), apdu.SWOK)
		basic4EF := s.readAll(jpki.SupportBasic4Size)
		s.want(SelectEF(jpki.EFSupportMyNumber), apdu.SWOK)
		myNumberEF := s.readAll(17)
		if cf.SupportAP == nil {
			t.Fatal("cardtest: the card file carries no signed support AP data")
		}
		if err := jpki.VerifySupportAP(myNumberEF, basic4EF, sigEF, certEF, nil); err != nil {
			t.Fatalf("support AP data: %v", err)
		}
		cert, err := jpki.ParseCVCert(certEF)
		if err != nil || !bytes.Equal(cert.CHR, infoEF[13:29]) {
			t.Fatalf("EF 0005 key id % X is not the AP certificate's holder reference (%v)", infoEF[13:29], err)
		}
		// blocked-at-issuance reference
		s.want(SelectEF(0x0012), apdu.SWOK)
		s.want(Verify(""), apdu.VerifyFailed(0))
		s.want(Verify("1234"), apdu.SWReferenceDataBlocked)
		// 照合番号A opens EF 0001 but not EF 0002
		s.reset()
		s.want(SelectAID(jpki.AIDSupport), apdu.SWOK)
		s.want(SelectEF(0x0014), apdu.SWOK)
		s.want(Verify(cf.MyNumber), apdu.SWOK)
		s.want(SelectEF(jpki.EFSupportMyNumber), apdu.SWOK)
		s.want(ReadBinary(0, 17), apdu.SWOK)
		s.want(SelectEF(jpki.EFSupportBasic4), apdu.SWOK)
		s.want(ReadBinary(0, 7), apdu.SWSecurityNotSatisfied)
	})

	t.Run("surface, juki and common APs", func(t *testing.T) {
		s := session{t, tr}
		s.reset()
		s.want(SelectAID(jpki.AIDSurface), apdu.SWOK)
		s.want(SelectEF(0x0003), apdu.SWOK)
		s.want(ReadBinary(0, 4), apdu.SWOK)
		s.want(SelectEF(0x0002), apdu.SWOK)
		s.want(ReadBinary(0, 4), apdu.SWSecurityNotSatisfied)
		s.want(SelectEF(0x0011), apdu.SWOK)
		s.want(Verify(wareki(cf.Basic4.Birth)), apdu.SWOK)
		s.want(SelectEF(0x0001), apdu.SWOK)
		if r := s.want(ReadBinary(0, 256), apdu.SWOK); !bytes.Contains(r.Data, []byte(birth)) {
			t.Fatalf("age record % X", r.Data)
		}
		s.want(SelectEF(0x0013), apdu.SWOK)
		s.want(Verify(cf.MyNumber), apdu.SWOK)
		s.want(SelectEF(0x0002), apdu.SWOK)
		head := s.want(ReadBinary(0, 8), apdu.SWOK).Data
		if head[0] != 0xFF || head[1] != 0x20 {
			t.Fatalf("face record % X", head)
		}
		face := s.readAll(int(head[3])<<8 | int(head[4]) + 5) // FF 20 82 len len
		if cf.SurfaceAP == nil {
			if !bytes.Contains(face, []byte{0xFF, 0xD8, 0xFF}) {
				t.Fatal("face record of an unsigned card file holds no JPEG photo")
			}
		} else {
			// Signed by the issuer: the age record (547 bytes), the face with its JPEG 2000
			// photo, and the AP certificate (568 bytes) verify together.
			s.want(SelectEF(0x0001), apdu.SWOK)
			age := s.readAll(jpki.SurfaceAgeSize)
			s.want(SelectEF(0x0004), apdu.SWOK)
			cert := s.readAll(jpki.SupportCertSize)
			if err := jpki.VerifySurfaceAP(age, face, cert, nil); err != nil {
				t.Fatalf("card-face AP: %v", err)
			}
			f, _ := jpki.ParseSurfaceFace(face)
			if !bytes.Equal(f.Photo, cf.Photo) || !bytes.HasPrefix(f.Photo, H("0000000C6A502020")) {
				t.Fatal("the face photo is not the card's JPEG 2000 photo")
			}
		}

		s.want(SelectAID(jpki.AIDCommon), apdu.SWOK)
		r := s.want(H("00 B2 01 0C 00"), apdu.SWOK)
		want := append(H("01 1C"), cf.CardSerial+cf.MunicipalityCode+expiry...)
		if !bytes.Equal(r.Data, want) {
			t.Fatalf("common record % X", r.Data)
		}
		s.want(H("00 B2 01 04 00"), apdu.SWOK) // the EF is current now
		s.want(H("00 B2 02 04 00"), apdu.SWRecordNotFound)
		s.want(H("00 B2 01 04 10"), apdu.StatusWord(0x6C1E))
		s.want(H("00 B0 00 00 04"), apdu.SWIncompatibleFile)
		s.want(SelectEF(0x001C), apdu.SWOK)
		s.want(Verify(""), apdu.VerifyFailed(3))

		s.want(SelectAID(jpki.AIDJuki), apdu.SWOK)
		s.want(SelectEF(0x001C), apdu.SWOK)
		s.want(Verify(JukiPIN), apdu.SWOK)
	})

	t.Run("malformed input", func(t *testing.T) {
		s := session{t, tr}
		s.reset()
		s.want(SelectAID(jpki.AIDJPKI), apdu.SWOK)
		for _, c := range []struct {
			in string
			sw apdu.StatusWord
		}{
			{"00 A4 04 0C 0A D392", apdu.SWWrongLength},
			{"00 A4 04 0C 0A D392F000260100000001 00 00", apdu.SWWrongLength},
			{"00 00 00 00", apdu.SWINSNotSupported},
			{"00 E0 00 00", apdu.SWINSNotSupported},
			{"80 A4 04 0C 0A D392F000260100000001", apdu.SWCLANotSupported},
			{"40 A4 04 0C 0A D392F000260100000001", apdu.SWCLANotSupported},
			{"0C A4 04 0C 0A D392F000260100000001", apdu.SWSecureMessagingNotSupp},
			{"01 A4 04 0C 0A D392F000260100000001", apdu.SWLogicalChannelNotSupp},
			{"10 A4 04 0C 0A D392F000260100000001", apdu.SWChainingNotSupported},
			{"00 2A 9E 9A 01 00 00", apdu.SWIncorrectP1P2},
			{"80 FC 00 00", apdu.SWWrongLength},
			{"00 20 01 80", apdu.SWIncorrectP1P2},
			{"00 20 00 85", apdu.SWReferenceDataNotFound},
			{"00 20 00 81", apdu.SWIncompatibleFile},
			{"00 20 00 80", apdu.SWNoCurrentEF},
		} {
			s.want(H(c.in), c.sw)
		}
		if r := s.want(H("00 CA 5F 51 00"), apdu.SWOK); !bytes.Equal(r.Data, H("E0 00 FF 81 31 FE 45 14")) {
			t.Fatalf("GET DATA ATR % X", r.Data)
		}
	})

	// Last: blocking consumes the support PIN for good.
	t.Run("blocking", func(t *testing.T) {
		s := session{t, tr}
		s.reset()
		s.want(SelectAID(jpki.AIDSupport), apdu.SWOK)
		s.want(SelectEF(jpki.EFSupportPIN), apdu.SWOK)
		s.want(Verify("0000"), apdu.VerifyFailed(2))
		s.want(Verify("0000"), apdu.VerifyFailed(1))
		s.want(Verify("0000"), apdu.VerifyFailed(0))
		s.want(Verify(""), apdu.VerifyFailed(0))
		s.want(Verify(SupportPIN), apdu.SWReferenceDataBlocked) // correct PIN does not unblock
		s.reset()
		s.want(SelectAID(jpki.AIDSupport), apdu.SWOK)
		s.want(SelectEF(jpki.EFSupportPIN), apdu.SWOK)
		s.want(Verify(""), apdu.VerifyFailed(0)) // a reset does not either
	})
}

// wareki formats a date as the 券面AP birth-date key: year within its era, month, day.
func wareki(d jpki.Date) string {
	for _, e := range []jpki.Date{{Year: 2019, Month: 5, Day: 1}, {Year: 1989, Month: 1, Day: 8}, {Year: 1926, Month: 12, Day: 25}, {Year: 1912, Month: 7, Day: 30}} {
		if !d.Before(e) {
			return fmt.Sprintf("%02d%02d%02d", d.Year-e.Year+1, d.Month, d.Day)
		}
	}
	return fmt.Sprintf("%02d%02d%02d", d.Year-1868+1, d.Month, d.Day)
}

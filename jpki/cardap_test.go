package jpki_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

var (
	keyOnce sync.Once
	caKey   *rsa.PrivateKey
	apKey   *rsa.PrivateKey
	other   *rsa.PrivateKey
)

func testKeys(t *testing.T) {
	keyOnce.Do(func() {
		caKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		apKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		other, _ = rsa.GenerateKey(rand.Reader, 2048)
	})
	if caKey == nil || apKey == nil || other == nil {
		t.Fatal("key generation failed")
	}
}

// signed returns EF 0001, 0002, 0003 and 0004 as a card holds them (filler included).
func signed(t *testing.T, b4 jpki.Basic4, number string, ap, ca *rsa.PrivateKey) (mn, b, sig, cert []byte) {
	t.Helper()
	mn, err := jpki.MarshalSupportMyNumber(number)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := jpki.MarshalSupportBasic4(b4)
	if err != nil {
		t.Fatal(err)
	}
	d, err := jpki.SupportDigests(mn, rec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jpki.MarshalSupportSignature(d, ap)
	if err != nil {
		t.Fatal(err)
	}
	c, err := jpki.MarshalCVCert(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16), &ap.PublicKey, ca)
	if err != nil {
		t.Fatal(err)
	}
	pad := func(r []byte, n int) []byte {
		out, err := jpki.PadFile(r, n)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// With RSA-2048 keys the records are exactly the lengths jpki/myna reads (336 and 568
	// bytes): the structure matches what those fixed reads were written for.
	if len(s) != jpki.SupportSignatureSize || len(c) != jpki.SupportCertSize {
		t.Fatalf("record sizes %d and %d, want 336 and 568", len(s), len(c))
	}
	return mn, pad(rec, jpki.SupportBasic4Size), pad(s, jpki.SupportSignatureSize), pad(c, jpki.SupportCertSize)
}

func TestVerifySupportAP(t *testing.T) {
	testKeys(t)
	b4 := jpki.Basic4{Name: "番号　花子", Address: "東京都千代田区霞が関２丁目１番２号", Birth: jpki.Date{Year: 1980, Month: time.February, Day: 17}, Sex: jpki.SexFemale}
	const number = "123456789018"
	mn, b, sig, cert := signed(t, b4, number, apKey, caKey)
	if err := jpki.VerifySupportAP(mn, b, sig, cert, &caKey.PublicKey); err != nil {
		t.Fatalf("genuine data: %v", err)
	}
	moved := b4
	moved.Address = "大阪府大阪市北区梅田１丁目１番"
	movedRec, _ := jpki.MarshalSupportBasic4(moved)
	_, _, _, otherCert := signed(t, b4, number, apKey, other) // the same AP key certified by another CA
	_, _, otherSig, _ := signed(t, b4, number, other, caKey)  // signed by a key the certificate does not name
	flip := func(b []byte, i int) []byte { c := append([]byte{}, b...); c[i] ^= 1; return c }
	digests, _ := jpki.SupportDigests(mn, b)
	unsigned := append([]byte{0xFF, 0x30, byte(len(digests))}, digests...)
	for _, tt := range []struct {
		name             string
		mn, b, sig, cert []byte
		ca               *rsa.PublicKey
		want             string
	}{
		{"facts changed", mn, movedRec, sig, cert, &caKey.PublicKey, "basic 4 facts do not match"},
		{"number changed", flip(mn, 5), b, sig, cert, &caKey.PublicKey, "individual number does not match"},
		{"signature by another key", mn, b, otherSig, cert, &caKey.PublicKey, "does not verify with the AP certificate"},
		{"signature bit flipped", mn, b, flip(sig, 100), cert, &caKey.PublicKey, "does not verify"},
		{"certificate of another CA", mn, b, sig, otherCert, &caKey.PublicKey, "not signed by this CA"},
		{"certificate body changed", mn, b, sig, flip(cert, 20), &caKey.PublicKey, "not signed by this CA"},
		{"no DF 33", mn, b, unsigned, cert, nil, "carries no signature"},
		{"truncated signature record", mn, b, sig[:75], cert, nil, "truncated"},
		{"truncated certificate", mn, b, sig, cert[:100], nil, "truncated"},
		{"garbage", mn, b, bytes.Repeat([]byte{0xFF}, 336), cert, nil, "does not start with FF 30"},
	} {
		err := jpki.VerifySupportAP(tt.mn, tt.b, tt.sig, tt.cert, tt.ca)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	// Without a CA only the AP signature is checked: another CA's certificate passes.
	if err := jpki.VerifySupportAP(mn, b, sig, otherCert, nil); err != nil {
		t.Errorf("without a CA: %v", err)
	}
}

// TestVerifySupportBasic4 is the platform's chip-reading check: no individual number, the CA
// required, each failure wrapped in its sentinel, files no larger than their physical size.
func TestVerifySupportBasic4(t *testing.T) {
	testKeys(t)
	b4 := jpki.Basic4{Name: "番号　花子", Address: "東京都千代田区霞が関２丁目１番２号", Birth: jpki.Date{Year: 1980, Month: time.February, Day: 17}, Sex: jpki.SexFemale}
	_, b, sig, cert := signed(t, b4, "123456789018", apKey, caKey)
	got, err := jpki.VerifySupportBasic4(b, sig, cert, &caKey.PublicKey)
	if err != nil || got != b4 {
		t.Fatalf("genuine data: %+v, %v", got, err)
	}
	moved := b4
	moved.Address = "大阪府大阪市北区梅田１丁目１番"
	movedRec, _ := jpki.MarshalSupportBasic4(moved)
	_, _, _, otherCert := signed(t, b4, "123456789018", apKey, other)
	_, _, otherSig, _ := signed(t, b4, "123456789018", other, caKey)
	for _, tt := range []struct {
		name         string
		b, sig, cert []byte
		want         error
	}{
		{"facts changed", movedRec, sig, cert, jpki.ErrCardDataDigest},
		{"signature by another key", b, otherSig, cert, jpki.ErrCardDataSignature},
		{"certificate of another CA", b, sig, otherCert, jpki.ErrCardAPUntrusted},
		{"garbage signature record", b, bytes.Repeat([]byte{0xFF}, 336), cert, jpki.ErrCardDataMalformed},
		{"basic 4 larger than its file", append(bytes.Clone(b), 0xFF), sig, cert, jpki.ErrCardDataMalformed},
		{"signature record larger than its file", b, append(bytes.Clone(sig), 0xFF), cert, jpki.ErrCardDataMalformed},
		{"certificate larger than its file", b, sig, append(bytes.Clone(cert), 0xFF), jpki.ErrCardDataMalformed},
		{"empty basic 4", nil, sig, cert, jpki.ErrCardDataMalformed},
		{"truncated certificate", b, sig, cert[:100], jpki.ErrCardDataMalformed},
	} {
		if _, err := jpki.VerifySupportBasic4(tt.b, tt.sig, tt.cert, &caKey.PublicKey); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := jpki.VerifySupportBasic4(b, sig, cert, nil); err == nil {
		t.Error("verified without a CA")
	}
}

func FuzzParseSupportAP(f *testing.F) {
	f.Add([]byte{0xFF, 0x30, 0x03, 0xDF, 0x31, 0x00}, []byte{0x7F, 0x21, 0x00})
	f.Fuzz(func(t *testing.T, sig, cert []byte) {
		jpki.ParseSupportSignature(sig)
		jpki.ParseCVCert(cert)
	})
}

func TestVerifySurfaceAP(t *testing.T) {
	testKeys(t)
	jp2 := append([]byte{0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A}, bytes.Repeat([]byte{7}, 1500)...)
	birth := []byte("19800217")
	face := jpki.SurfaceFace{Birth: birth, Sex: []byte("2"), APKey: &apKey.PublicKey, NameImage: []byte("name png"),
		AddressImage: []byte("address png"), Photo: jp2, Expiry: []byte("20350217"), SecurityCodeImage: []byte("code png")}
	build := func(f jpki.SurfaceFace, signer *rsa.PrivateKey) (age, faceEF, cert []byte) {
		t.Helper()
		var err error
		if f.Signature, err = jpki.SignAP(signer, jpki.SurfaceFaceTBS(f)); err != nil {
			t.Fatal(err)
		}
		ageSig, err := jpki.SignAP(signer, jpki.SurfaceAgeTBS(f.Birth, f.APKey))
		if err != nil {
			t.Fatal(err)
		}
		age = jpki.MarshalSurfaceAge(f.Birth, f.APKey, ageSig)
		if len(age) != jpki.SurfaceAgeSize {
			t.Fatalf("age record %d bytes, want %d (FF 10 82 02 1E)", len(age), jpki.SurfaceAgeSize)
		}
		cert, err = jpki.MarshalCVCert(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{3}, 16), &apKey.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return age, jpki.MarshalSurfaceFace(f), cert
	}
	age, faceEF, cert := build(face, apKey)
	if err := jpki.VerifySurfaceAP(age, faceEF, cert, &caKey.PublicKey); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	parsed, err := jpki.ParseSurfaceFace(faceEF)
	if err != nil || !bytes.Equal(parsed.Photo, jp2) || string(parsed.Expiry) != "20350217" {
		t.Fatalf("parse: %+v %v", parsed, err)
	}
	// the photo swapped after signing
	swapped := face
	swapped.Signature = parsed.Signature
	swapped.Photo = append(append([]byte{}, jp2[:12]...), bytes.Repeat([]byte{8}, 1500)...)
	if err := jpki.VerifySurfaceAP(age, jpki.MarshalSurfaceFace(swapped), cert, nil); err == nil || !strings.Contains(err.Error(), "DF 28") {
		t.Errorf("swapped photo: %v", err)
	}
	// signed by a key that is not the certificate's
	a2, f2, _ := build(face, other)
	if err := jpki.VerifySurfaceAP(a2, f2, cert, nil); err == nil {
		t.Error("records signed by another key verified")
	}
	// a certificate from another CA
	if err := jpki.VerifySurfaceAP(age, faceEF, cert, &other.PublicKey); err == nil || !strings.Contains(err.Error(), "not signed by this CA") {
		t.Errorf("other CA: %v", err)
	}
	// a JPEG where JPEG 2000 belongs
	jpeg := face
	jpeg.Photo = []byte{0xFF, 0xD8, 0xFF, 0xE0}
	a3, f3, c3 := build(jpeg, apKey)
	if err := jpki.VerifySurfaceAP(a3, f3, c3, nil); err == nil || !strings.Contains(err.Error(), "not JPEG 2000") {
		t.Errorf("JPEG photo: %v", err)
	}
}

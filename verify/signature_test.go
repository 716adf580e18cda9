package verify_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/mynagate/mynagate/verify"
)

func TestSignature(t *testing.T) {
	f := fixtures(t)
	key := f.taro.signKey
	d := sha256.Sum256(f.challenge)
	pss, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, d[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	h1 := sha1.Sum(f.challenge)
	sha1Sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA1, h1[:])
	if err != nil {
		t.Fatal(err)
	}
	rawDigestSig, err := rsa.SignPKCS1v15(nil, key, 0, d[:]) // no DigestInfo
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(f.signature)
	flipped[len(flipped)/2] ^= 0x80

	tests := []struct {
		name       string
		msg, sig   []byte
		wantReason verify.Reason
	}{
		{"good", f.challenge, f.signature, 0},
		{"other bytes", []byte("mynagate challenge 0123456789abcdeg"), f.signature, verify.ReasonSignatureInvalid},
		{"empty message", nil, f.signature, verify.ReasonSignatureInvalid},
		{"truncated signature", f.challenge, f.signature[:len(f.signature)-1], verify.ReasonSignatureInvalid},
		{"signature with a leading zero", f.challenge, append([]byte{0}, f.signature...), verify.ReasonSignatureInvalid},
		{"empty signature", f.challenge, nil, verify.ReasonSignatureInvalid},
		{"bit flipped", f.challenge, flipped, verify.ReasonSignatureInvalid},
		{"by the auth key", f.challenge, f.authSignature, verify.ReasonSignatureInvalid},
		{"RSASSA-PSS", f.challenge, pss, verify.ReasonSignatureInvalid},
		{"SHA-1 DigestInfo", f.challenge, sha1Sig, verify.ReasonSignatureInvalid},
		{"bare digest, no DigestInfo", f.challenge, rawDigestSig, verify.ReasonSignatureInvalid},
		{"all zero", f.challenge, make([]byte, 256), verify.ReasonSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verify.Signature(f.taro.sign, tt.msg, tt.sig)
			if tt.wantReason == 0 {
				if err != nil {
					t.Fatalf("Signature: %v", err)
				}
				return
			}
			wantReason(t, err, tt.wantReason)
		})
	}

	t.Run("auth key against the auth cert", func(t *testing.T) {
		if err := verify.Signature(f.taro.auth, f.challenge, f.authSignature); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("EC certificate", func(t *testing.T) {
		c := mustParse(t, f.own.leaf(t, leafSpec{kind: "sign", serial: 50, pub: ecPub(t)}))
		wantReason(t, verify.Signature(c, f.challenge, f.signature), verify.ReasonSignatureInvalid)
	})
	t.Run("nil certificate", func(t *testing.T) {
		if err := verify.Signature(nil, f.challenge, f.signature); !errors.Is(err, verify.ErrUsage) {
			t.Fatalf("Signature(nil) = %v, want ErrUsage", err)
		}
	})
}

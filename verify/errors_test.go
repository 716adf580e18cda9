package verify_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/verify"
)

func ecPub(t *testing.T) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

// TestReasonSlugs pins the problem types: they are API and must never change.
func TestReasonSlugs(t *testing.T) {
	want := map[verify.Reason]string{
		verify.ReasonMalformed:        "malformed-certificate",
		verify.ReasonChainInvalid:     "chain-invalid",
		verify.ReasonExpired:          "cert-expired",
		verify.ReasonNotYetValid:      "cert-not-yet-valid",
		verify.ReasonWrongKind:        "wrong-certificate-kind",
		verify.ReasonProfile:          "profile-invalid",
		verify.ReasonSignatureInvalid: "signature-invalid",
	}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(r), r.String(), s)
		}
	}
	if s := verify.Reason(0).String(); s != "Reason(0)" {
		t.Errorf("Reason(0) = %q", s)
	}
	if s := verify.Reason(99).String(); s != "Reason(99)" {
		t.Errorf("Reason(99) = %q", s)
	}
}

func TestErrorMessageAndLog(t *testing.T) {
	f := fixtures(t)
	// A signing certificate rejected for login: the error holds a certificate with personal
	// data in its subject and subjectAltName.
	_, err := verify.Certificate(f.taro.signDER, verify.Options{Roots: roots(f.taro.authCA), At: at, Purpose: verify.PurposeLogin})
	wantReason(t, err, verify.ReasonWrongKind)
	if !strings.HasPrefix(err.Error(), "verify: wrong-certificate-kind: ") {
		t.Errorf("Error() = %q", err.Error())
	}
	wrapped := fmt.Errorf("prove identity: %w", err)
	if r, ok := verify.ReasonOf(wrapped); !ok || r != verify.ReasonWrongKind {
		t.Errorf("ReasonOf(wrapped) = %v, %v", r, ok)
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("rejected", "err", err)
	var line struct {
		Err map[string]string `json:"err"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %s: %v", buf.Bytes(), err)
	}
	if line.Err["reason"] != "wrong-certificate-kind" || line.Err["serial"] != strings.ToUpper(f.taro.sign.SerialNumber.Text(16)) || line.Err["issuer"] == "" {
		t.Errorf("logged %s", buf.Bytes())
	}
	secrets := append([]string{f.taro.sign.Subject.CommonName, "山田", "霞が関"}, f.taro.sign.Subject.Locality...)
	for _, s := range secrets {
		if strings.Contains(buf.String(), s) || strings.Contains(err.Error(), s) {
			t.Errorf("log line or message contains %q: %s", s, buf.Bytes())
		}
	}
}

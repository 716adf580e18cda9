package vpcd_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

func requireOpenSC(t *testing.T) {
	t.Helper()
	pcsctest.Require(t, "opensc-tool", "pkcs15-tool", "pkcs11-tool", "opensc-pkcs11.so")
}

func run(t *testing.T, in *inserted, name string, args ...string) string {
	t.Helper()
	out, err := in.d.Run(t, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestOpenSCIdentifiesCard(t *testing.T) {
	t.Parallel() // each test has its own pcscd
	requireOpenSC(t)
	in := insert(t, jpki.MediumCard)
	if out := run(t, in, "opensc-tool", "--atr"); !strings.Contains(out, "3b:e0:00:ff:81:31:fe:45:14") {
		t.Fatalf("opensc-tool --atr:\n%s", out)
	}
	if out := strings.TrimSpace(run(t, in, "opensc-tool", "--name")); out != "jpki" {
		t.Fatalf("opensc-tool --name: %q", out)
	}
}

// A phone credential has no contact ATR; OpenSC recognises it by selecting the JPKI AP.
func TestOpenSCIdentifiesPhone(t *testing.T) {
	t.Parallel() // each test has its own pcscd
	requireOpenSC(t)
	in := insert(t, jpki.MediumAndroid)
	if out := run(t, in, "opensc-tool", "--atr"); !strings.Contains(out, "3b:80:80:01:01") {
		t.Fatalf("opensc-tool --atr:\n%s", out)
	}
	if out := strings.TrimSpace(run(t, in, "opensc-tool", "--name")); out != "jpki" {
		t.Fatalf("opensc-tool --name: %q", out)
	}
}

func pemCert(t *testing.T, out string) []byte {
	t.Helper()
	blk, _ := pem.Decode([]byte(out))
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("no PEM certificate in:\n%s", out)
	}
	return blk.Bytes
}

func TestPKCS15Certificates(t *testing.T) {
	t.Parallel() // each test has its own pcscd
	requireOpenSC(t)
	in := insert(t, jpki.MediumCard)
	out := run(t, in, "pkcs15-tool", "--list-certificates")
	for _, want := range []string{"User Authentication Certificate]", "Digital Signature Certificate]",
		"User Authentication Certificate CA]", "Digital Signature Certificate CA]"} {
		if !strings.Contains(out, want) {
			t.Fatalf("--list-certificates lacks %q:\n%s", want, out)
		}
	}
	for id, want := range map[string][]byte{"01": in.cf.Auth.Cert, "03": in.cf.Auth.CACert, "04": in.cf.Sign.CACert} {
		if got := pemCert(t, run(t, in, "pkcs15-tool", "--read-certificate", id)); !bytes.Equal(got, want) {
			t.Fatalf("certificate %s differs from the issued one", id)
		}
	}
	// the signing certificate needs the signing password
	if out, err := in.d.Run(t, "pkcs15-tool", "--read-certificate", "02"); err == nil {
		t.Fatalf("signing certificate read without password:\n%s", out)
	}
	got := pemCert(t, run(t, in, "pkcs15-tool", "--read-certificate", "02", "--verify-pin", "--auth-id", "02", "--pin", in.cf.Sign.PIN.Value))
	if !bytes.Equal(got, in.cf.Sign.Cert) {
		t.Fatal("signing certificate differs from the issued one")
	}
}

// pkcs11Sign signs msg with the key of the given slot and id through OpenSC's PKCS#11 module.
func pkcs11Sign(t *testing.T, in *inserted, slot, id, pin string, msg []byte) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	inFile, sigFile := filepath.Join(dir, "msg"), filepath.Join(dir, "sig")
	os.WriteFile(inFile, msg, 0o600)
	_, err := in.d.Run(t, "pkcs11-tool", "--module", pcsctest.PKCS11Module(), "--slot-index", slot,
		"--login", "--pin", pin, "--sign", "--id", id, "--mechanism", "SHA256-RSA-PKCS",
		"--input-file", inFile, "--output-file", sigFile)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(sigFile)
}

func TestPKCS11Sign(t *testing.T) {
	t.Parallel() // each test has its own pcscd
	requireOpenSC(t)
	in := insert(t, jpki.MediumCard)
	msg := []byte("nonce 5b1e0c2f from the platform")
	sig, err := pkcs11Sign(t, in, "0", "01", in.cf.Auth.PIN.Value, msg)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(in.cf.Auth.Cert)
	if err := cert.CheckSignature(x509.SHA256WithRSA, msg, sig); err != nil {
		t.Fatalf("auth signature does not verify against the auth certificate: %v", err)
	}
	sig, err = pkcs11Sign(t, in, "1", "02", in.cf.Sign.PIN.Value, msg)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(in.cf.Sign.Cert)
	if err := cert.CheckSignature(x509.SHA256WithRSA, msg, sig); err != nil {
		t.Fatalf("signing signature does not verify against the signing certificate: %v", err)
	}
}

var triesLeft = regexp.MustCompile(`(?s)User Authentication PIN\].*?Tries left\s*:\s*(\d+)`)

func authTries(t *testing.T, in *inserted) string {
	t.Helper()
	m := triesLeft.FindStringSubmatch(run(t, in, "pkcs15-tool", "--list-pins"))
	if m == nil {
		t.Fatal("no tries in --list-pins")
	}
	return m[1]
}

func TestWrongPINsBlock(t *testing.T) {
	t.Parallel() // each test has its own pcscd
	requireOpenSC(t)
	in := insert(t, jpki.MediumCard)
	if got := authTries(t, in); got != "3" {
		t.Fatalf("tries %s, want 3", got)
	}
	for i, want := range []string{"2", "1", "0"} {
		if _, err := pkcs11Sign(t, in, "0", "01", "0000", []byte("x")); err == nil {
			t.Fatalf("wrong PIN %d accepted", i+1)
		}
		if got := authTries(t, in); got != want {
			t.Fatalf("after %d wrong PINs: tries %s, want %s", i+1, got, want)
		}
	}
	if _, err := pkcs11Sign(t, in, "0", "01", in.cf.Auth.PIN.Value, []byte("x")); err == nil {
		t.Fatal("blocked PIN accepted")
	}
	cf, err := jpki.LoadCardFile(in.path)
	if err != nil {
		t.Fatal(err)
	}
	if cf.Auth.PIN.Tries != 0 {
		t.Fatalf("card file says %d tries", cf.Auth.PIN.Tries)
	}
}

// A child's card (no signing certificate below 15) binds in OpenSC and logs in and signs with
// the auth key; the signing PIN shows no tries and the signing key cannot be used.
func TestOpenSCChildCard(t *testing.T) {
	t.Parallel() // each test has its own pcscd
	requireOpenSC(t)
	child := testkit.Taro()
	child.Name, child.Birth = "山田　次郎", jpki.Date{Year: 2016, Month: time.June, Day: 1}
	in := insertIssued(t, jlis.IssueRequest{Basic4: child})
	if in.cf.Sign != nil {
		t.Fatal("a 9-year-old got a signing certificate")
	}
	out := run(t, in, "pkcs15-tool", "--list-pins")
	if !strings.Contains(out, "User Authentication PIN") || !strings.Contains(out, "Digital Signature PIN") {
		t.Fatalf("--list-pins:\n%s", out)
	}
	if got := authTries(t, in); got != "3" {
		t.Fatalf("auth tries %s", got)
	}
	got := pemCert(t, run(t, in, "pkcs15-tool", "--read-certificate", "01"))
	if !bytes.Equal(got, in.cf.Auth.Cert) {
		t.Fatal("auth certificate differs from the issued one")
	}
	msg := []byte("login challenge of a child")
	sig, err := pkcs11Sign(t, in, "0", "01", in.cf.Auth.PIN.Value, msg)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(in.cf.Auth.Cert)
	if err := cert.CheckSignature(x509.SHA256WithRSA, msg, sig); err != nil {
		t.Fatalf("auth signature: %v", err)
	}
	if _, err := pkcs11Sign(t, in, "1", "02", "ABC123", msg); err == nil {
		t.Fatal("a card without a signing certificate signed with the signing key")
	}
	// the failed signing login spent nothing: the auth PIN is untouched
	if got := authTries(t, in); got != "3" {
		t.Fatalf("auth tries %s after the signing attempt", got)
	}
}

// OpenSC's jpki driver logs out by selecting the JPKI AP again (card-jpki.c jpki_logout, since
// OpenSC 0.24; its PKCS#11 C_Logout clears only OpenSC's own state and sends nothing). The test
// sends, through OpenSC and pcscd in one session, a login, a signature, the logout's SELECT and
// a second signature: the card refuses the second one until the PIN is presented again.
func TestOpenSCLogoutSelectDropsLogin(t *testing.T) {
	t.Parallel() // each test has its own pcscd
	requireOpenSC(t)
	in := insert(t, jpki.MediumCard)
	hx := func(b []byte) string {
		var sb strings.Builder
		for i, c := range b {
			if i > 0 {
				sb.WriteByte(':')
			}
			fmt.Fprintf(&sb, "%02X", c)
		}
		return sb.String()
	}
	sign := hx(cardtest.Sign(cardtest.DigestInfoSHA256([]byte("challenge"))))
	apdus := []string{
		hx(cardtest.SelectAID(jpki.AIDJPKI)),
		hx(cardtest.SelectEF(jpki.EFAuthPIN)), hx(cardtest.Verify(in.cf.Auth.PIN.Value)),
		hx(cardtest.SelectEF(jpki.EFAuthKey)), sign, // logged in: 256 bytes + 90 00
		hx(cardtest.SelectAID(jpki.AIDJPKI)),        // jpki_logout
		hx(cardtest.SelectEF(jpki.EFAuthKey)), sign, // 69 82
		hx(cardtest.SelectEF(jpki.EFAuthPIN)), hx(cardtest.Verify(in.cf.Auth.PIN.Value)),
		hx(cardtest.SelectEF(jpki.EFAuthKey)), sign, // logged in again
	}
	var args []string
	for _, a := range apdus {
		args = append(args, "-s", a)
	}
	out := run(t, in, "opensc-tool", args...)
	sws := regexp.MustCompile(`SW1=0x([0-9a-f]{2}), SW2=0x([0-9a-f]{2})`).FindAllStringSubmatch(out, -1)
	var got []string
	for _, m := range sws {
		got = append(got, m[1]+m[2])
	}
	want := []string{"9000", "9000", "9000", "9000", "9000", "9000", "9000", "6982", "9000", "9000", "9000", "9000"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("status words %v, want %v\n%s", got, want, out)
	}
}

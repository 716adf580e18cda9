package verify_test

import (
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/verify"
)

// A 本人確認 as the platform runs it: the certificate the holder's reader sent, checked against
// the J-LIS signing CA at the platform clock's now, then the holder's signature over the
// challenge. The certificates are the committed simulator vectors.
func Example() {
	certDER, err := os.ReadFile("testdata/vectors/sim-sign.der")
	if err != nil {
		panic(err)
	}
	caDER, err := os.ReadFile("testdata/vectors/sim-sign-ca.der")
	if err != nil {
		panic(err)
	}
	signCA, err := x509.ParseCertificate(caDER)
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, time.April, 1, 12, 0, 0, 0, jpki.JST) // the platform passes clk.Now()

	res, err := verify.Certificate(certDER, verify.Options{
		Roots:   []*x509.Certificate{signCA},
		At:      now,
		Purpose: verify.PurposeIdentity,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Kind, res.Basic4.Name, res.Basic4.Birth, res.Basic4.Sex)

	// The signature must be the card's over the exact challenge; here it is not.
	err = verify.Signature(res.Cert, []byte("challenge"), make([]byte, 256))
	reason, _ := verify.ReasonOf(err)
	fmt.Println(reason)

	// The signing certificate is the wrong kind for 利用者認証.
	_, err = verify.Certificate(certDER, verify.Options{Roots: []*x509.Certificate{signCA}, At: now, Purpose: verify.PurposeLogin})
	reason, _ = verify.ReasonOf(err)
	fmt.Println(reason)

	// Output:
	// sign 山田　太郎 1985-04-02 male
	// signature-invalid
	// wrong-certificate-kind
}

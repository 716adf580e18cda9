package reader_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
)

// The support AP's signed data is read with jpki/myna's fixed lengths and verifies up to the
// card-AP CA; data changed after the issuer signed it does not.
func TestSupportAPData(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		ctx := context.Background()
		cf := freshCard(t, jpki.MediumCard)
		c, _ := b.open(t, cf)
		d, err := c.ReadSupportAPData(ctx, cardtest.SupportPIN)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.MyNumber) != 17 || len(d.Signature) != jpki.SupportSignatureSize || len(d.Cert) != jpki.SupportCertSize || len(d.Info) != jpki.SupportInfoSize {
			t.Fatalf("file lengths %d %d %d %d", len(d.MyNumber), len(d.Signature), len(d.Cert), len(d.Info))
		}
		n, b4, err := d.Verify(cardtest.CAPublicKey(t))
		if err != nil || n != cf.MyNumber || b4 != cf.Basic4 {
			t.Fatalf("verify: %s %+v %v", n, b4, err)
		}
		if _, err := c.ReadSupportAPData(ctx, "0000"); reader.ReasonOf(err) != reader.ReasonWrongPIN {
			t.Fatalf("wrong PIN: %v", err)
		}

		// A card file whose facts were edited after issuance: the card serves them, the
		// signature does not cover them.
		forged := freshCard(t, jpki.MediumCard)
		forged.Basic4.Address = "大阪府大阪市北区梅田１丁目１番"
		c2, _ := b.open(t, forged)
		d2, err := c2.ReadSupportAPData(ctx, cardtest.SupportPIN)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := d2.Verify(cardtest.CAPublicKey(t)); err == nil || !strings.Contains(err.Error(), "basic 4 facts do not match") {
			t.Fatalf("edited facts: err = %v", err)
		}

		// A card written without signed data has no AP certificate.
		unsigned := freshCard(t, jpki.MediumCard)
		unsigned.SupportAP = nil
		c3, _ := b.open(t, unsigned)
		if _, err := c3.ReadSupportAPData(ctx, cardtest.SupportPIN); !errors.Is(err, reader.ErrNoCertificate) {
			t.Fatalf("unsigned card: %v", err)
		}
	})
}

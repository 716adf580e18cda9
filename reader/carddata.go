package reader

import (
	"context"
	"crypto/rsa"
	"fmt"

	"github.com/mynagate/mynagate/jpki"
)

// SupportAPData is what the 券面事項入力補助AP gives a chip-reading verifier: the individual
// number (EF 0001), the basic 4 record (EF 0002), the signature record (EF 0003), the AP's
// certificate (EF 0004) and its basic information (EF 0005), each as the card holds it,
// filler included.
type SupportAPData struct {
	MyNumber, Basic4, Signature, Cert, Info []byte
}

// ReadSupportAPData presents the support PIN and reads the 券面事項入力補助AP's files the way
// jpki/myna does: EF 0001 17 bytes, EF 0002 by its record header, EF 0003 336 bytes, EF 0004
// 568 bytes, EF 0005 256 bytes. A card without an AP certificate fails with ReasonNoCertificate.
func (c *Client) ReadSupportAPData(ctx context.Context, supportPIN string) (*SupportAPData, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.readSupportAPData(ctx, supportPIN)
	return d, withOp("read the support AP's signed data", err)
}

func (c *Client) readSupportAPData(ctx context.Context, pin string) (*SupportAPData, error) {
	var d SupportAPData
	var err error
	if _, err := PINSupport.Normalize(pin); err != nil {
		return nil, err
	}
	if err := c.selectAID(ctx, jpki.AIDSupport); err != nil {
		return nil, err
	}
	if err := c.verifyPIN(ctx, PINSupport, pin); err != nil {
		return nil, err
	}
	if err := c.mustSelectEF(ctx, jpki.EFSupportMyNumber, nil); err != nil {
		return nil, err
	}
	if d.MyNumber, err = c.readFixed(ctx, 17); err != nil {
		return nil, err
	}
	if err := c.mustSelectEF(ctx, jpki.EFSupportBasic4, nil); err != nil {
		return nil, err
	}
	if d.Basic4, err = c.readRecord(ctx, []byte{0xFF, 0x20}, nil); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		ef   uint16
		size int
		out  *[]byte
	}{
		{jpki.EFSupportDigest, jpki.SupportSignatureSize, &d.Signature},
		{0x0004, jpki.SupportCertSize, &d.Cert},
		{0x0005, jpki.SupportInfoSize, &d.Info},
	} {
		none := &Error{Reason: ReasonNoCertificate, Detail: fmt.Sprintf("the support AP has no EF %04X (a card written before its data was signed?)", f.ef)}
		if err := c.mustSelectEF(ctx, f.ef, none); err != nil {
			return nil, err
		}
		if *f.out, err = c.readFixed(ctx, f.size); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// readFixed reads n bytes from the start of the current EF in chunks of at most 256, as
// jpki/myna's ReadBinary(size) does; a file shorter than n is an error.
func (c *Client) readFixed(ctx context.Context, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for len(out) < n {
		chunk, err := c.readBinary(ctx, len(out), min(256, n-len(out)))
		if err != nil {
			return nil, err
		}
		if len(chunk) == 0 {
			return nil, &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf("file ends at %d bytes, %d expected", len(out), n)}
		}
		out = append(out, chunk...)
	}
	return out, nil
}

// Verify checks the data as a chip-reading verifier does (jpki.VerifySupportAP): the digests
// against the number and the facts, the AP's signature with the AP certificate, and — with ca —
// the certificate's issuer. It returns the facts it verified.
func (d *SupportAPData) Verify(ca *rsa.PublicKey) (string, jpki.Basic4, error) {
	if err := jpki.VerifySupportAP(d.MyNumber, d.Basic4, d.Signature, d.Cert, ca); err != nil {
		return "", jpki.Basic4{}, err
	}
	n, err := jpki.ParseSupportMyNumber(d.MyNumber)
	if err != nil {
		return "", jpki.Basic4{}, err
	}
	b4, err := jpki.ParseSupportBasic4(d.Basic4)
	return n, b4, err
}

package reader

import (
	"context"
	"crypto/rsa"
	"fmt"

	"github.com/mynagate/mynagate/apdu"
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
	return c.readOn(ctx, make([]byte, 0, n), n, "file ends at %d bytes, %d expected")
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

// SurfaceAPData is the 券面事項確認AP's signed records: the age record (EF 0001), the face
// (EF 0002) and the AP certificate (EF 0004).
type SurfaceAPData struct {
	Age, Face, Cert []byte
}

// ReadSurfaceAPData reads the 券面事項確認AP with the keys a verifier learns from the support
// AP: the individual number (照合番号A) opens the face, the date of birth (as the 和暦 birth
// key) the age record.
func (c *Client) ReadSurfaceAPData(ctx context.Context, myNumber string, birth jpki.Date) (*SurfaceAPData, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.readSurfaceAPData(ctx, myNumber, birth)
	return d, withOp("read the card-face AP's signed data", err)
}

func (c *Client) readSurfaceAPData(ctx context.Context, myNumber string, birth jpki.Date) (*SurfaceAPData, error) {
	key, err := jpki.BirthKey(birth)
	if err != nil {
		return nil, &Error{Reason: ReasonInvalidPIN, Detail: err.Error()}
	}
	if err := c.selectAID(ctx, jpki.AIDSurface); err != nil {
		return nil, err
	}
	var d SurfaceAPData
	for _, step := range []struct {
		keyEF, ef uint16
		value     string
		tag       []byte
		out       *[]byte
	}{
		{0x0011, 0x0001, key, []byte{0xFF, 0x10}, &d.Age},
		{0x0013, 0x0002, myNumber, []byte{0xFF, 0x20}, &d.Face},
	} {
		if err := c.mustSelectEF(ctx, step.keyEF, nil); err != nil {
			return nil, err
		}
		resp, err := c.transmit(ctx, apdu.Command{CLA: 0x00, INS: 0x20, P1: 0x00, P2: 0x80, Data: []byte(step.value)})
		if err != nil {
			return nil, err
		}
		if resp.SW != apdu.SWOK {
			return nil, &Error{Reason: ReasonAccessDenied, SW: uint16(resp.SW), Detail: fmt.Sprintf("the card-face AP refused the key of EF %04X (%s)", step.keyEF, resp.SW)}
		}
		if err := c.mustSelectEF(ctx, step.ef, nil); err != nil {
			return nil, err
		}
		if *step.out, err = c.readRecord(ctx, step.tag, nil); err != nil {
			return nil, err
		}
	}
	none := &Error{Reason: ReasonNoCertificate, Detail: "the card-face AP has no EF 0004 (a card written before its data was signed?)"}
	if err := c.mustSelectEF(ctx, 0x0004, none); err != nil {
		return nil, err
	}
	if d.Cert, err = c.readFixed(ctx, jpki.SupportCertSize); err != nil {
		return nil, err
	}
	return &d, nil
}

// Verify checks the records' signatures (jpki.VerifySurfaceAP) and returns the face.
func (d *SurfaceAPData) Verify(ca *rsa.PublicKey) (*jpki.SurfaceFace, error) {
	if err := jpki.VerifySurfaceAP(d.Age, d.Face, d.Cert, ca); err != nil {
		return nil, err
	}
	return jpki.ParseSurfaceFace(d.Face)
}

package jlis

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/mynagate/mynagate/internal/cardface"
	"github.com/mynagate/mynagate/jpki"
)

// The card-AP certification authority: it certifies the keys of the cards' 券面事項入力補助AP,
// whose signature over the individual number and the basic 4 facts a chip-reading verifier
// checks (docs/design/jpki-reference.md §12.4). Who runs this authority in production and how
// its key is published is not public; the simulator keeps one RSA-2048 key in its database and
// hands out the public key (`jlis ca --ca card-ap`, GET /ca/card-ap.pem).

const cardAPCAKey = "card_ap_ca_key"

// cardAPCA returns the card-AP CA key, creating it on first use.
func (s *Simulator) cardAPCA(ctx context.Context) (*rsa.PrivateKey, error) {
	s.capMu.Lock()
	defer s.capMu.Unlock()
	if s.capKey != nil {
		return s.capKey, nil
	}
	if _, ok, err := getMeta(ctx, s.db, cardAPCAKey); err != nil {
		return nil, err
	} else if !ok {
		k, err := s.newKey()
		if err != nil {
			return nil, fmt.Errorf("jlis: generate card-AP CA key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("jlis: card-AP CA key: %w", err)
		}
		// DO NOTHING: another process that stored one first wins; it is read back below.
		if _, err := s.db.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING`, cardAPCAKey, base64.StdEncoding.EncodeToString(der)); err != nil {
			return nil, fmt.Errorf("jlis: store card-AP CA key: %w", err)
		}
	}
	v, _, err := getMeta(ctx, s.db, cardAPCAKey)
	if err != nil {
		return nil, err
	}
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("jlis: card-AP CA key in database: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("jlis: card-AP CA key in database: %w", err)
	}
	rk, isRSA := k.(*rsa.PrivateKey)
	if !isRSA {
		return nil, fmt.Errorf("jlis: card-AP CA key in database is a %T", k)
	}
	s.capKey = rk
	return rk, nil
}

// CardAPCAPublicKey returns the public key of the card-AP certification authority.
func (s *Simulator) CardAPCAPublicKey(ctx context.Context) (*rsa.PublicKey, error) {
	k, err := s.cardAPCA(ctx)
	if err != nil {
		return nil, err
	}
	return &k.PublicKey, nil
}

// signSupportAP writes the 券面事項入力補助AP's signed data onto a card file: a new AP key
// with its certificate, and the signature over the digests of the card's individual number and
// basic 4 facts. Called whenever the municipality writes those facts (issue, move, re-issue).
func (s *Simulator) signSupportAP(ctx context.Context, cf *jpki.CardFile) error {
	if cf.Medium.IsPhone() {
		return nil // a smartphone credential has the JPKI AP only
	}
	ca, err := s.cardAPCA(ctx)
	if err != nil {
		return err
	}
	myNumber, err := jpki.MarshalSupportMyNumber(cf.MyNumber)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	basic4, err := jpki.MarshalSupportBasic4(cf.Basic4)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	digests, err := jpki.SupportDigests(myNumber, basic4)
	if err != nil {
		return err
	}
	apKey, err := s.newKey()
	if err != nil {
		return fmt.Errorf("jlis: generate AP key: %w", err)
	}
	chr := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, chr); err != nil {
		return fmt.Errorf("jlis: AP key id: %w", err)
	}
	car := sha256.Sum256(ca.PublicKey.N.Bytes())
	cert, err := jpki.MarshalCVCert(car[:16], chr, &apKey.PublicKey, ca)
	if err != nil {
		return err
	}
	sig, err := jpki.MarshalSupportSignature(digests, apKey)
	if err != nil {
		return err
	}
	cf.SupportAP = &jpki.SignedAP{Signature: sig, Cert: cert}
	return s.signSurfaceAP(cf, ca, car[:16])
}

// signSurfaceAP writes the 券面事項確認AP's signed data: a new AP key with its certificate, the
// images of the name, address and security code, the JPEG 2000 photo (kept if the card has one),
// and the signatures of the age record and the face.
func (s *Simulator) signSurfaceAP(cf *jpki.CardFile, ca *rsa.PrivateKey, car []byte) error {
	apKey, err := s.newKey()
	if err != nil {
		return fmt.Errorf("jlis: generate AP key: %w", err)
	}
	chr := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, chr); err != nil {
		return fmt.Errorf("jlis: AP key id: %w", err)
	}
	cert, err := jpki.MarshalCVCert(car, chr, &apKey.PublicKey, ca)
	if err != nil {
		return err
	}
	expiry, err := jpki.ParseDate(cf.CardExpiry)
	if err != nil {
		return fmt.Errorf("%w: card expiry: %v", ErrInvalid, err)
	}
	ss := &jpki.SignedSurface{Cert: cert}
	for _, im := range []struct {
		text string
		out  *[]byte
	}{{cf.Basic4.Name, &ss.NameImage}, {cf.Basic4.Address, &ss.AddressImage}, {cf.SecurityCode, &ss.SecurityCodeImage}} {
		if *im.out, err = cardface.TextImage(im.text); err != nil {
			return err
		}
	}
	if !cardface.IsJP2(cf.Photo) {
		cf.Photo = cardface.Photo(cf.MyNumber)
	}
	birth := []byte(compact(cf.Basic4.Birth))
	face := jpki.SurfaceFace{Birth: birth, Sex: []byte(cf.Basic4.Sex.CardCode()), APKey: &apKey.PublicKey,
		NameImage: ss.NameImage, AddressImage: ss.AddressImage, Photo: cf.Photo, Expiry: []byte(compact(expiry)), SecurityCodeImage: ss.SecurityCodeImage}
	if ss.FaceSignature, err = jpki.SignAP(apKey, jpki.SurfaceFaceTBS(face)); err != nil {
		return err
	}
	if ss.AgeSignature, err = jpki.SignAP(apKey, jpki.SurfaceAgeTBS(birth, &apKey.PublicKey)); err != nil {
		return err
	}
	cf.SurfaceAP = ss
	return nil
}

func compact(d jpki.Date) string { return fmt.Sprintf("%04d%02d%02d", d.Year, d.Month, d.Day) }

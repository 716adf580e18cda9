package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
	"github.com/spf13/cobra"
)

func newReaderCardDataCmd(f *readerFlags) *cobra.Command {
	var verify bool
	var caFile, photoOut string
	cmd := &cobra.Command{
		Use:   "card-data [--verify [--ap-ca FILE]]",
		Short: "Read the card's signed data (support AP and card-face AP) and check its signatures",
		Long: `Read the 券面事項入力補助AP as a chip-reading verifier does (its 4-digit PIN): the individual
number, the basic 4 facts, the signature record and the AP's certificate, with the fixed file
lengths real readers use; then the 券面事項確認AP (card face: photo in JPEG 2000, images, age
record), opened with the number and the date of birth just read. With --verify the digests and
the APs' signatures are checked against their AP certificates, and with --ap-ca (the card-AP
CA's public key, PEM; 'mynagate jlis ca --ca card-ap') the certificates' issuer too; a failed
check exits non-zero. --photo-out writes the face photo.

This is the "IC chip reading" check: weaker than a JPKI signature, since it proves the data was
written by the issuer, not that the person holding the card is its holder.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if caFile != "" && !verify {
				return errors.New("--ap-ca is used only with --verify")
			}
			var ca *rsa.PublicKey
			if caFile != "" {
				var err error
				if ca, err = readRSAPublicKeyPEM(caFile); err != nil {
					return fmt.Errorf("--ap-ca: %w", err)
				}
			}
			ctx, cancel := signalContext(cmd)
			defer cancel()
			s, pin, err := f.openWithPIN(ctx, cmd, reader.PINSupport)
			if err != nil {
				return err
			}
			defer s.Close()
			d, err := s.ReadSupportAPData(ctx, pin)
			if err != nil {
				return err
			}
			out := struct {
				MyNumber     string      `json:"my_number"`
				Basic4       jpki.Basic4 `json:"basic4"`
				Verified     bool        `json:"verified"`
				IssuerCheck  bool        `json:"issuer_checked"`
				APKeyID      string      `json:"ap_key_id"`
				APAuthorityR string      `json:"ap_authority_ref"`
				PhotoBytes   int         `json:"photo_bytes"`
			}{Verified: verify, IssuerCheck: ca != nil}
			if verify {
				if out.MyNumber, out.Basic4, err = d.Verify(ca); err != nil {
					return fmt.Errorf("the card's data does not verify: %w", err)
				}
			} else {
				if out.MyNumber, err = jpki.ParseSupportMyNumber(d.MyNumber); err != nil {
					return err
				}
				if out.Basic4, err = jpki.ParseSupportBasic4(d.Basic4); err != nil {
					return err
				}
			}
			cert, err := jpki.ParseCVCert(d.Cert)
			if err != nil {
				return err
			}
			out.APKeyID, out.APAuthorityR = hex.EncodeToString(cert.CHR), hex.EncodeToString(cert.CAR)
			sd, err := s.ReadSurfaceAPData(ctx, out.MyNumber, out.Basic4.Birth)
			if err != nil {
				return err
			}
			var face *jpki.SurfaceFace
			if verify {
				if face, err = sd.Verify(ca); err != nil {
					return fmt.Errorf("the card-face data does not verify: %w", err)
				}
			} else if face, err = jpki.ParseSurfaceFace(sd.Face); err != nil {
				return err
			}
			out.PhotoBytes = len(face.Photo)
			if photoOut != "" {
				if err := os.WriteFile(photoOut, face.Photo, 0o600); err != nil {
					return fmt.Errorf("--photo-out: %w", err)
				}
			}
			return f.output(cmd, out, func(w io.Writer) {
				printBasic4(w, out.Basic4)
				fmt.Fprintf(w, "my number:    %s\n", out.MyNumber)
				fmt.Fprintf(w, "AP key:       %s (certified by %s)\n", out.APKeyID, out.APAuthorityR)
				switch {
				case !verify:
					fmt.Fprintln(w, "signature:    not checked (--verify)")
				case ca == nil:
					fmt.Fprintln(w, "signature:    support AP and card face verify with their AP certificates; issuer not checked (--ap-ca)")
				default:
					fmt.Fprintln(w, "signature:    support AP and card face verify with their AP certificates, issued by the given card-AP CA")
				}
				fmt.Fprintf(w, "face photo:   JPEG 2000, %d bytes\n", out.PhotoBytes)
			})
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "check the digests, the AP's signature and (with --ap-ca) the AP certificate")
	cmd.Flags().StringVar(&photoOut, "photo-out", "", "write the face photo (JPEG 2000) to this file")
	cmd.Flags().StringVar(&caFile, "ap-ca", "", "the card-AP CA's public key (PEM) to check the AP certificate's issuer")
	return cmd
}

func readRSAPublicKeyPEM(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM PUBLIC KEY")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", k)
	}
	return rk, nil
}

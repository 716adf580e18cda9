package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/reader"
	"github.com/spf13/cobra"
)

// newReaderVerifyCmd is the holder's side of a verification session: fetch the challenge from
// the session URL (the QR payload), check that it is a genuine challenge of the platform the
// URL names (docs/design/challenge.md) — its origin, its session, its purpose for the key about
// to sign, its expiry and, with --platform-key, the platform's signature — and only then open
// the card, sign it with the key the challenge's purpose asks for — the signing key (password)
// for identity, the authentication key (PIN) for login — and send the certificate and signature
// to the platform. A chip_reading session is answered with the support AP's signed files, read
// with its 4-digit PIN instead: no key signs (the weaker method, docs/design/chip-reading.md).
func newReaderVerifyCmd(f *readerFlags) *cobra.Command {
	var consent []string
	var platformKey string
	cmd := &cobra.Command{
		Use:   "verify SESSION-URL",
		Short: "Complete a platform verification session with the card (the holder's side)",
		Args:  exactArgs("SESSION-URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext(cmd)
			defer cancel()
			var pinned ed25519.PublicKey
			if platformKey != "" {
				k, err := client.ParsePlatformKey(platformKey)
				if err != nil {
					return fmt.Errorf("--platform-key: %w", err)
				}
				pinned = k
			}
			base, id, token, err := client.ParseHolderURL(args[0])
			if err != nil {
				return err
			}
			hc := client.New(base)
			now := time.Now
			if f.now != nil {
				now = f.now
			}
			// The card is not touched before the client has checked the challenge: the key is
			// chosen from the checked challenge's purpose, and only its bytes can be signed.
			ch, err := hc.HolderChallenge(ctx, client.ChallengeCheck{HolderURL: args[0], Now: now(), PlatformKey: pinned})
			if err != nil {
				for _, e := range []error{client.ErrChallengeForeign, client.ErrChallengeExpired, client.ErrChallengePurpose, client.ErrChallengeUnsigned} {
					if errors.Is(err, e) {
						return fmt.Errorf("refusing to sign: %w", err)
					}
				}
				return err
			}
			fields := ch.Fields
			if len(consent) > 0 && fields.Purpose != "identity" {
				return fmt.Errorf("consent is given with an identity verification; session %s is for %s", id, fields.Purpose)
			}
			name := client.DisplayName(fields.TenantName)
			s, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			which, what := reader.PINAuth, "log in to"
			switch fields.Purpose {
			case "identity":
				which, what = reader.PINSign, "prove your identity to"
			case "chip_reading":
				which, what = reader.PINSupport, "read your card's facts (IC chip reading, no signature) for"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%q (%s) asks you to %s it with your card.\n", name, fields.Origin, what)
			if fields.Purpose != "login" {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s\n", factsText(ch.Facts))
			}
			if fields.Signing() {
				// Shown before the password: this signature is an electronic signature of the
				// document with legal effect, made for the relying party named here.
				fmt.Fprintf(cmd.ErrOrStderr(), "%s\n", signText(fields))
			}
			for _, c := range consent {
				fmt.Fprintf(cmd.ErrOrStderr(), "You also consent to %s: %s (revoke it with mynagate reader consent revoke).\n", c, consentText(c))
			}
			pin, err := f.pin(ctx, cmd, s, which)
			if err != nil {
				return err
			}
			if which == reader.PINSupport {
				// The chip reading: the support AP's files, without the individual number, which
				// the platform must not receive; the card signs nothing.
				d, err := s.ReadSupportAPData(ctx, pin)
				if err != nil {
					return err
				}
				res, err := hc.AnswerCardData(ctx, ch, client.CardData{Basic4: d.Basic4, Signature: d.Signature, Certificate: d.Cert})
				if err != nil {
					return err
				}
				return f.output(cmd, res, func(w io.Writer) {
					fmt.Fprintf(w, "%s: %s verification %s for %q\n", res.Decision, fields.Purpose, res.VerificationID, name)
				})
			}
			var signer *reader.Signer
			if which == reader.PINSign {
				signer, err = s.SignSigner(ctx, pin)
			} else {
				signer, err = s.AuthSigner(ctx, pin)
			}
			if err != nil {
				return err
			}
			sig, err := ch.Sign(signer)
			if err != nil {
				return err
			}
			res, err := hc.AnswerWithConsent(ctx, id, token, signer.Certificate().Raw, sig, consent)
			if err != nil {
				return err
			}
			return f.output(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "%s: %s verification %s for %q\n", res.Decision, fields.Purpose, res.VerificationID, name)
			})
		},
	}
	cmd.Flags().StringSliceVar(&consent, "consent", nil, "consents to give the service with an identity verification: basic4_updates")
	cmd.Flags().StringVar(&platformKey, "platform-key", "", "pin the platform: accept only challenges signed by this Ed25519 key (base64, as `mynagate serve` prints it)")
	return cmd
}

// signText tells the holder which document (its SHA-256) is signed, for whom and at what
// signing time.
func signText(f client.ChallengeFields) string {
	return fmt.Sprintf("It also asks you to SIGN a document for %q with your signing key (an electronic signature with legal effect):\n"+
		"  document-sha256=%x\n  rp=%s\n  signing-time=%s\nCompare the hash with the document you were shown before you enter the password.",
		client.DisplayName(f.RP), f.DocumentSHA256, client.DisplayName(f.RP), f.SigningTime.UTC().Format(time.RFC3339))
}

// factsText tells the holder which of the basic 4 facts on the signing certificate the tenant
// receives: the ones its tenant may see, as the platform says, not all four.
func factsText(facts []string) string {
	names := map[string]string{"name": "name", "birthdate": "date of birth", "sex": "sex", "address": "address"}
	var gets, not []string
	have := map[string]bool{}
	for _, f := range facts {
		have[f] = true
	}
	for _, f := range []string{"name", "birthdate", "sex", "address"} {
		if have[f] {
			gets = append(gets, names[f])
		} else {
			not = append(not, names[f])
		}
	}
	switch {
	case len(gets) == 0:
		return "It receives none of your name, date of birth, sex or address: only that it is you, by a number of its own for you."
	case len(not) == 0:
		return "It receives your " + strings.Join(gets, ", ") + "."
	}
	return "It receives your " + strings.Join(gets, ", ") + " (not your " + strings.Join(not, ", ") + ")."
}

// consentText says what a consent scope lets the service have.
func consentText(scope string) string {
	if scope == "basic4_updates" {
		return "when you move or change your name, the service is told your new facts (those it may see)"
	}
	return "unknown to this program; the platform will refuse it"
}

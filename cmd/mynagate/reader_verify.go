package main

import (
	"fmt"
	"io"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/reader"
	"github.com/spf13/cobra"
)

// newReaderVerifyCmd is the holder's side of a verification session: fetch the challenge from
// the session URL (the QR payload), sign it on the card with the key the session's purpose asks
// for — the signing key (password) for identity, the authentication key (PIN) for login — and
// send the certificate and signature to the platform.
func newReaderVerifyCmd(f *readerFlags) *cobra.Command {
	var consent []string
	cmd := &cobra.Command{
		Use:   "verify SESSION-URL",
		Short: "Complete a platform verification session with the card (the holder's side)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext(cmd)
			defer cancel()
			base, id, token, err := client.ParseHolderURL(args[0])
			if err != nil {
				return err
			}
			hc := client.New(base)
			ch, err := hc.FetchChallenge(ctx, id, token)
			if err != nil {
				return err
			}
			if ch.Status != "pending" {
				return fmt.Errorf("session %s is %s; ask the service for a new one", id, ch.Status)
			}
			if len(consent) > 0 && ch.Purpose != "identity" {
				return fmt.Errorf("consent is given with an identity verification; session %s is for %s", id, ch.Purpose)
			}
			s, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			which, what := reader.PINAuth, "log in to"
			if ch.Purpose == "identity" {
				which, what = reader.PINSign, "prove your identity (name, date of birth, sex, address) to"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s asks you to %s it with your card.\n", ch.TenantName, what)
			for _, c := range consent {
				fmt.Fprintf(cmd.ErrOrStderr(), "You also consent to %s: %s (revoke it with mynagate reader consent revoke).\n", c, consentText(c))
			}
			pin, err := f.pin(ctx, cmd, s, which)
			if err != nil {
				return err
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
			sig, err := client.Sign(signer, ch.Challenge)
			if err != nil {
				return err
			}
			res, err := hc.AnswerWithConsent(ctx, id, token, signer.Certificate().Raw, sig, consent)
			if err != nil {
				return err
			}
			return f.output(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "%s: %s verification %s for %s\n", res.Decision, ch.Purpose, res.VerificationID, res.TenantName)
			})
		},
	}
	cmd.Flags().StringSliceVar(&consent, "consent", nil, "consents to give the service with an identity verification: basic4_updates")
	return cmd
}

// consentText says what a consent scope lets the service have.
func consentText(scope string) string {
	if scope == "basic4_updates" {
		return "when you move or change your name, the service is told your new facts (those it may see)"
	}
	return "unknown to this program; the platform will refuse it"
}

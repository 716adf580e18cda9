package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/reader"
	"github.com/spf13/cobra"
)

// newReaderConsentCmd is the holder's view of the consents given to tenants with identity
// verifications (reader verify --consent basic4_updates): list them, and revoke one. Each request
// is signed with the card's authentication key (PIN), over a challenge of the platform, so only
// the holder of the card can see or change them. The challenge is checked (origin of --platform,
// purpose, expiry) before the card is opened.
func newReaderConsentCmd(f *readerFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "consent",
		Short: "List or revoke the consents you gave services (signed with the authentication key)",
	}
	var platformURL, tenant, scope string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the consents you gave, per service",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext(cmd)
			defer cancel()
			pc := client.New(platformURL)
			cc, err := f.consentChallenge(ctx, pc)
			if err != nil {
				return err
			}
			cert, signer, closeCard, err := f.authSigner(ctx, cmd)
			if err != nil {
				return err
			}
			defer closeCard()
			cs, err := pc.Consents(ctx, cc, cert, signer)
			if err != nil {
				return err
			}
			return f.output(cmd, cs, func(w io.Writer) {
				if len(cs) == 0 {
					fmt.Fprintln(w, "no consents")
				}
				for _, c := range cs {
					state := "in force"
					if c.RevokedAt != nil {
						state = "revoked " + humanTime(*c.RevokedAt)
					}
					fmt.Fprintf(w, "%s (%s): %s, given %s, %s\n", c.TenantName, c.TenantID, c.Scope, humanTime(c.GrantedAt), state)
				}
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke --tenant ID",
		Short: "Revoke a consent you gave a service",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext(cmd)
			defer cancel()
			pc := client.New(platformURL)
			cc, err := f.consentChallenge(ctx, pc)
			if err != nil {
				return err
			}
			cert, signer, closeCard, err := f.authSigner(ctx, cmd)
			if err != nil {
				return err
			}
			defer closeCard()
			n, err := pc.RevokeConsent(ctx, cc, cert, signer, tenant, scope)
			if err != nil {
				return err
			}
			return f.output(cmd, map[string]int{"revoked": n}, func(w io.Writer) {
				if n == 0 {
					fmt.Fprintf(w, "no consent to %s for %s was in force\n", tenant, scope)
					return
				}
				fmt.Fprintf(w, "revoked your consent to %s for %s\n", tenant, scope)
			})
		},
	}
	for _, c := range []*cobra.Command{list, revoke} {
		c.Flags().StringVar(&platformURL, "platform", "http://127.0.0.1:8080", "base URL of the platform")
	}
	revoke.Flags().StringVar(&tenant, "tenant", "", "the service's tenant id (t_…), as consent list shows it")
	_ = revoke.MarkFlagRequired("tenant")
	revoke.Flags().StringVar(&scope, "scope", "basic4_updates", "the consent to revoke")
	cmd.AddCommand(list, revoke)
	return cmd
}

// consentChallenge fetches the platform's consent challenge and checks it (origin of
// --platform, purpose, expiry on the holder's clock) before the card is opened
// (docs/design/challenge.md).
func (f *readerFlags) consentChallenge(ctx context.Context, pc *client.Client) (*client.ConsentChallenge, error) {
	now := time.Now
	if f.now != nil {
		now = f.now
	}
	cc, err := pc.ConsentChallenge(ctx, now())
	if err != nil {
		for _, e := range []error{client.ErrChallengeForeign, client.ErrChallengeExpired, client.ErrChallengePurpose} {
			if errors.Is(err, e) {
				return nil, fmt.Errorf("refusing to sign: %w", err)
			}
		}
		return nil, err
	}
	return cc, nil
}

// authSigner opens the card and returns its authentication certificate and a signer with the
// PIN entered; closeCard ends the session.
func (f *readerFlags) authSigner(ctx context.Context, cmd *cobra.Command) ([]byte, *reader.Signer, func(), error) {
	s, pin, err := f.openWithPIN(ctx, cmd, reader.PINAuth)
	if err != nil {
		return nil, nil, nil, err
	}
	signer, err := s.AuthSigner(ctx, pin)
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	return signer.Certificate().Raw, signer, func() { s.Close() }, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/spf13/cobra"
)

func newJLISPhoneCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "phone",
		Short: "Smartphone credentials issued from a card: issue, suspend, resume, revoke",
	}
	cmd.AddCommand(newJLISPhoneIssueCmd())
	for _, a := range []jlis.PhoneAction{jlis.PhoneSuspend, jlis.PhoneResume, jlis.PhoneRevoke} {
		cmd.AddCommand(newJLISPhoneChangeCmd(a))
	}
	return cmd
}

func newJLISPhoneIssueCmd() *cobra.Command {
	var f simFlags
	var cardPath, osName, out, authPIN, signPW string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue a smartphone credential from a card (the holder's app): same resident, linked to the card, valid no longer than its certificates; the person's previous one on that OS is revoked",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cardPath == "" || out == "" {
				return errors.New("--card CARD.json and --out PHONE.json are required")
			}
			medium := map[string]jpki.Medium{"android": jpki.MediumAndroid, "ios": jpki.MediumIPhone}[osName]
			if medium == "" {
				return fmt.Errorf("--os %q is not android or ios", osName)
			}
			lock, err := lockCard(out, "mynagate jlis phone issue")
			if err != nil {
				return err
			}
			defer lock.Unlock()
			pending, err := prepareCardFile(out, false)
			if err != nil {
				return err
			}
			defer pending.abort()
			sim, cf, err := f.openWithCard(cmd.Context(), cardPath)
			if err != nil {
				return err
			}
			defer sim.Close()
			iss, err := sim.IssuePhone(cmd.Context(), cf, medium, authPIN, signPW)
			if err != nil {
				return err
			}
			if err := pending.commit(iss.Card); err != nil {
				if rerr := sim.ChangePhone(context.WithoutCancel(cmd.Context()), iss.Card, jlis.PhoneRevoke); rerr != nil {
					return fmt.Errorf("%w; and revoking the credential that could not be written failed: %v", err, rerr)
				}
				return fmt.Errorf("%w; the credential was not handed over and is revoked", err)
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"medium": iss.Card.Medium, "serial": iss.Card.CardSerial, "expires": iss.Card.CardExpiry,
					"auth": fmt.Sprintf("%X", iss.AuthSerial), "sign": fmt.Sprintf("%X", iss.SignSerial), "out": out})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "issued %s credential %s from card %s to %s, valid until %s\n", iss.Card.Medium, iss.Card.CardSerial, cf.CardSerial, out, iss.Card.CardExpiry)
			fmt.Fprintf(w, "  authentication certificate %s\n", refName(sim, iss.Card.Auth.Cert))
			if iss.Card.Sign != nil {
				fmt.Fprintf(w, "  signing certificate        %s\n", refName(sim, iss.Card.Sign.Cert))
			} else {
				fmt.Fprintln(w, "  no signing certificate (the card has no valid one)")
			}
			return nil
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&cardPath, "card", "", "the card file the credential is issued from")
	fl.StringVar(&osName, "os", "", "android or ios")
	fl.StringVar(&out, "out", "", "the phone credential file to write")
	fl.StringVar(&authPIN, "auth-pin", "", "4-digit authentication PIN (default "+jlis.DefaultAuthPIN+")")
	fl.StringVar(&signPW, "sign-password", "", "signing password (default "+jlis.DefaultSignPassword+")")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newJLISPhoneChangeCmd(a jlis.PhoneAction) *cobra.Command {
	var f simFlags
	var path string
	short := map[jlis.PhoneAction]string{
		jlis.PhoneSuspend: "Suspend a smartphone credential (certificateHold), e.g. while the phone is lost",
		jlis.PhoneResume:  "Resume a suspended smartphone credential",
		jlis.PhoneRevoke:  "Revoke a smartphone credential for good (device change, holder's request)",
	}[a]
	cmd := &cobra.Command{
		Use:   string(a),
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sim, pf, err := f.openWithCard(cmd.Context(), path)
			if err != nil {
				return err
			}
			defer sim.Close()
			if err := sim.ChangePhone(cmd.Context(), pf, a); err != nil {
				return err
			}
			return printDone(cmd.OutOrStdout(), a, pf)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&path, "card", "", "the phone credential file")
	return withoutJSON(cmd, "prints one line of confirmation")
}

func printDone(w io.Writer, a jlis.PhoneAction, pf *jpki.CardFile) error {
	done := map[jlis.PhoneAction]string{jlis.PhoneSuspend: "suspended", jlis.PhoneResume: "resumed", jlis.PhoneRevoke: "revoked"}[a]
	_, err := fmt.Fprintf(w, "%s %s credential %s\n", done, pf.Medium, pf.CardSerial)
	return err
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() { register(newJLISCmd) }

func newJLISCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jlis",
		Short: "The J-LIS simulator: JPKI CAs, issuance, renewal links, revocation, CRL and OCSP",
	}
	cmd.AddCommand(newJLISServeCmd(), newJLISIssueCmd(), newJLISRenewCmd(), newJLISReissueCmd(), newJLISMoveCmd(),
		newJLISChangeCmd(), newJLISReissueSignCmd(), newJLISPhoneCmd(), newJLISRevokeCmd(), newJLISCRLCmd(), newJLISPopulateCmd(), newJLISCACmd(), newJLISCertCmd(), newJLISStatusCmd())
	return cmd
}

// simFlags are the flags every command that opens the data directory takes.
type simFlags struct {
	data     string
	naming   string
	phoneCAs bool
	ocspURL  string
	init     bool
	// creates is set for the command that makes a new simulator without --init (jlis issue).
	creates bool
	// opts are further options of the command (the CRL schedule).
	opts []jlis.Option
	cmd  *cobra.Command // where a new simulator is announced
}

func (f *simFlags) add(cmd *cobra.Command) {
	f.cmd = cmd
	cmd.Flags().StringVar(&f.data, "data", "", "simulator data directory (holds the CA keys and state)")
	if f.creates {
		cmd.Flags().BoolVar(&f.init, "init", false, "accepted for symmetry: issue creates the data directory when it does not exist")
	} else {
		cmd.Flags().BoolVar(&f.init, "init", false, "create the data directory (new CAs) if it does not exist; without it a missing directory is an error")
	}
	cmd.Flags().StringVar(&f.naming, "naming", "test", "certificate naming when the directory is created: test (O=JPKI-TEST) or production (O=JPKI)")
	cmd.Flags().BoolVar(&f.phoneCAs, "phone-cas", false, "issue smartphone credentials from separate CAs (fixed when the directory is created)")
	cmd.Flags().StringVar(&f.ocspURL, "ocsp-url", "", "base URL of this simulator to write into certificates' authorityInfoAccess (e.g. http://127.0.0.1:8470)")
}

// openWithCard loads the card file named by --card and opens the simulator.
func (f *simFlags) openWithCard(ctx context.Context, card string) (*jlis.Simulator, *jpki.CardFile, error) {
	if card == "" {
		return nil, nil, errors.New("--card CARD.json is required")
	}
	cf, err := jpki.LoadCardFile(card)
	if err != nil {
		return nil, nil, err
	}
	sim, err := f.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return sim, cf, nil
}

func (f *simFlags) open(ctx context.Context) (*jlis.Simulator, error) {
	if f.data == "" {
		return nil, errors.New("--data DIR is required")
	}
	n, err := jlis.ParseNaming(f.naming)
	if err != nil {
		return nil, err
	}
	// A mistyped --data must not become a new simulator with new CAs: only issue and --init
	// make one.
	fresh := false
	if _, err := os.Stat(filepath.Join(f.data, jlisDBFile)); errors.Is(err, fs.ErrNotExist) {
		if !f.init && !f.creates {
			return nil, fmt.Errorf("no J-LIS simulator in %s: --data names the directory 'mynagate jlis issue' created (or pass --init to create one)", f.data)
		}
		fresh = true
	}
	opts := append([]jlis.Option{jlis.WithNaming(n), jlis.WithPhoneCAs(f.phoneCAs), jlis.WithOCSPURL(strings.TrimRight(f.ocspURL, "/"))}, f.opts...)
	sim, err := jlis.Open(ctx, f.data, opts...)
	if err == nil && fresh && f.cmd != nil {
		fmt.Fprintf(f.cmd.ErrOrStderr(), "created a new J-LIS simulator in %s (naming %s)\n", f.data, sim.Naming())
	}
	return sim, err
}

// jlisDBFile is the simulator's database in its data directory; its presence says the directory
// is a simulator's.
const jlisDBFile = "jlis.db"

func newJLISServeCmd() *cobra.Command {
	var f simFlags
	var addr, tokenFile, schedule string
	var open bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve CA certificates, CRLs, OCSP, renewal links and latest basic 4 facts over HTTP",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sched, err := jlis.ParseCRLSchedule(schedule)
			if err != nil {
				return fmt.Errorf("--crl-schedule: %w", err)
			}
			f.opts = append(f.opts, jlis.WithCRLSchedule(sched))
			sim, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer sim.Close()
			var opts []jlis.HandlerOption
			switch {
			case open && tokenFile != "":
				return errors.New("--open and --platform-token-file exclude each other")
			case open:
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: --open: anyone who reaches this address reads residents' basic 4 facts and renewal links")
			default:
				if tokenFile == "" {
					// Protected by default: a token of the simulator's own, kept beside its data.
					if tokenFile, err = platformTokenFile(f.data, rand.Reader); err != nil {
						return err
					}
				}
				tok, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("read --platform-token-file: %w", err)
				}
				if len(strings.TrimSpace(string(tok))) < 16 {
					return fmt.Errorf("--platform-token-file %s: the token is shorter than 16 characters", tokenFile)
				}
				opts = append(opts, jlis.WithPlatformToken(strings.TrimSpace(string(tok))))
				fmt.Fprintf(cmd.OutOrStdout(), "status, links and basic 4 need the platform token in %s (serve --jlis-token-file)\n", tokenFile)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "J-LIS simulator on http://%s (data %s, naming %s, CAs %v, CRLs %s)\n", ln.Addr(), f.data, sim.Naming(), sim.CANames(), sim.CRLSchedule())
			defer startCRLRefresh(ctx, sim)()
			return serveUntilDone(ctx, ln, withIndex(sim.Handler(opts...), jlisIndex()))
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8470", "listen address")
	cmd.Flags().StringVar(&schedule, "crl-schedule", jlis.DefaultCRLSchedule.String(),
		"when CRLs are published: daily@HH:MM (JST; J-LIS publishes daily, and only OCSP knows of a revocation until then), every DURATION, or on-revocation (at once; hides that window)")
	cmd.Flags().StringVar(&tokenFile, "platform-token-file", "", "file with the bearer token platforms must present for status, links and basic 4 (default: DATA/platform-token, made on first use)")
	cmd.Flags().BoolVar(&open, "open", false, "serve status, links and basic 4 without a token (anyone who reaches the address reads residents' facts)")
	return cmd
}

// startCRLRefresh regenerates each CA's CRL in the background, and returns the function that
// stops it and waits until it no longer uses the simulator (call it before closing sim).
func startCRLRefresh(ctx context.Context, sim *jlis.Simulator) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { refreshCRLs(ctx, sim); close(done) }()
	return func() { cancel(); <-done }
}

// refreshCRLs, once a minute, publishes the CRLs that are due under the simulator's schedule,
// or under the on-revocation schedule regenerates each CA's CRL when it changed or is due.
func refreshCRLs(ctx context.Context, sim *jlis.Simulator) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if sim.CRLSchedule().OnRevocation {
			for _, ca := range sim.CANames() {
				if _, err := sim.CRL(ctx, ca); err != nil && ctx.Err() == nil {
					slog.Error("jlis: refresh CRL", "ca", ca, "err", err)
				}
			}
		} else {
			pub, err := sim.PublishDue(ctx)
			if err != nil && ctx.Err() == nil {
				slog.Error("jlis: publish CRLs", "err", err)
			}
			for _, info := range pub {
				slog.Info("jlis: CRL published", "ca", info.CA, "number", info.Number, "entries", info.Entries, "next_update", info.NextUpdate)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func newJLISIssueCmd() *cobra.Command {
	f := simFlags{creates: true}
	var name, alias, birth, sex, address, out, medium, authPIN, signPW, supportPIN, stayUntil string
	var phone, asJSON bool
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue a card (keys, authentication and signing certificates, PINs) for a new resident",
		Example: `  mynagate jlis issue --data ./jlis --name "山田　太郎" --birth 1985-04-01 --sex male \
    --address "東京都千代田区霞が関２丁目１番２号" --out taro.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out CARD.json is required")
			}
			b, err := jpki.ParseDate(birth)
			if err != nil {
				return fmt.Errorf("--birth: %w", err)
			}
			s, err := parseSexFlag(sex)
			if err != nil {
				return err
			}
			if err := checkNameFlag(name); err != nil {
				return err
			}
			var stay jpki.Date
			if stayUntil != "" {
				if stay, err = jpki.ParseDate(stayUntil); err != nil {
					return fmt.Errorf("--stay-until: %w", err)
				}
			}
			m := jpki.Medium(medium)
			if phone && m == jpki.MediumCard {
				m = jpki.MediumAndroid
			}
			// The card file must be writable before J-LIS records the card: its keys exist
			// nowhere else.
			lock, err := lockCard(out, "mynagate jlis issue")
			if err != nil {
				return err
			}
			defer lock.Unlock()
			pending, err := prepareCardFile(out, false)
			if err != nil {
				return err
			}
			defer pending.abort()
			sim, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sim.Close()
			iss, err := issueTo(cmd.Context(), sim, jlis.IssueRequest{
				Basic4: jpki.Basic4{Name: name, Birth: b, Sex: s, Address: address},
				Alias:  alias, Medium: m, AuthPIN: authPIN, SignPassword: signPW, SupportPIN: supportPIN, StayUntil: stay,
			}, pending)
			if err != nil {
				return err
			}
			if asJSON {
				j := issuedJSON{CardFile: out, Medium: string(iss.Card.Medium), CardSerial: iss.Card.CardSerial, Name: iss.Card.Basic4.Name,
					Municipality: iss.Municipality.City, CardExpiry: iss.Card.CardExpiry, Auth: certRefJSON{CA: "auth", Serial: hexSerial64(iss.AuthSerial)}}
				if r, err := sim.RefOf(iss.Card.Auth.Cert); err == nil {
					j.Auth = refJSON(r)
				}
				if iss.Card.Sign != nil {
					if r, err := sim.RefOf(iss.Card.Sign.Cert); err == nil {
						j.Sign = refPtr(&r)
					}
				}
				return printJSON(cmd, j)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "issued %s %s for %s (%s) to %s\n", iss.Card.Medium, iss.Card.CardSerial, iss.Card.Basic4.Name, iss.Municipality.City, out)
			fmt.Fprintf(w, "  authentication certificate %s\n", refName(sim, iss.Card.Auth.Cert))
			if iss.Card.Sign != nil {
				fmt.Fprintf(w, "  signing certificate        %s\n", refName(sim, iss.Card.Sign.Cert))
			} else {
				fmt.Fprintln(w, "  no signing certificate (holder under 15)")
			}
			fmt.Fprintf(w, "  card valid until %s\n", iss.Card.CardExpiry)
			return nil
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "氏名: family name, U+3000, given name")
	fl.StringVar(&alias, "alias", "", "通称 (registered alias of a foreign resident), optional")
	fl.StringVar(&stayUntil, "stay-until", "", "last day of a foreign resident's period of stay (在留期限) YYYY-MM-DD: the card and certificates end no later")
	fl.StringVar(&birth, "birth", "", "date of birth YYYY-MM-DD")
	fl.StringVar(&sex, "sex", "", "male, female or unspecified")
	fl.StringVar(&address, "address", "", "住所, starting with the prefecture")
	fl.StringVar(&out, "out", "", "card file to write")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	fl.StringVar(&medium, "medium", "card", "card, android or iphone")
	fl.BoolVar(&phone, "phone", false, "issue a stand-alone smartphone credential for a new resident (same as --medium android; for tests — a real one comes from a card: 'jlis phone issue')")
	fl.StringVar(&authPIN, "auth-pin", "", "4-digit authentication PIN (default "+jlis.DefaultAuthPIN+")")
	fl.StringVar(&signPW, "sign-password", "", "6–16 character signing password, A–Z and 0–9 (default "+jlis.DefaultSignPassword+")")
	fl.StringVar(&supportPIN, "support-pin", "", "4-digit PIN of the card-info input support application (default "+jlis.DefaultSupportPIN+")")
	return cmd
}

// cardOp is the shape of commands that change a card: read --card, call the simulator, write
// the result to --out (default: the same file, atomically).
func cardOp(use, short string, extra func(cmd *cobra.Command), op func(ctx context.Context, sim *jlis.Simulator, cf *jpki.CardFile) (*jpki.CardFile, string, error)) *cobra.Command {
	var f simFlags
	var card, out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if card == "" {
				return errors.New("--card CARD.json is required")
			}
			dst := out
			if dst == "" {
				dst = card
			}
			// J-LIS replaces the card's keys: the new card file must be writable first, and no
			// other program may be running the card meanwhile.
			by := "mynagate jlis " + cmd.Name()
			lock, err := lockCard(card, by)
			if err != nil {
				return err
			}
			defer lock.Unlock()
			if dst != card {
				dl, err := lockCard(dst, by)
				if err != nil {
					return err
				}
				defer dl.Unlock()
			}
			pending, err := prepareCardFile(dst, true)
			if err != nil {
				return err
			}
			defer pending.abort()
			sim, cf, err := f.openWithCard(cmd.Context(), card)
			if err != nil {
				return err
			}
			defer sim.Close()
			next, msg, err := op(cmd.Context(), sim, cf)
			if err != nil {
				return err
			}
			if err := pending.commit(next); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, cardChangeOf(sim, dst, cf, next))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s; card file %s\n", msg, dst)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&card, "card", "", "card file")
	cmd.Flags().StringVar(&out, "out", "", "where to write the updated card file (default: --card, in place)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: the card file and each certificate before and after")
	if extra != nil {
		extra(cmd)
	}
	return cmd
}

// refName names a certificate as CA/SERIAL ("sign-g2/1A2B"), the CA generation found by the
// simulator.
func refName(sim *jlis.Simulator, der []byte) string {
	if r, err := sim.RefOf(der); err == nil {
		return r.String()
	}
	return "?/" + serialOf(der)
}

func serialOf(der []byte) string {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%X", c.SerialNumber)
}

func newJLISRenewCmd() *cobra.Command {
	return cardOp("renew", "Renew both certificates on the same card (更新): new keys, old certificates revoked as superseded and linked to the new ones", nil,
		func(ctx context.Context, sim *jlis.Simulator, cf *jpki.CardFile) (*jpki.CardFile, string, error) {
			next, err := sim.Renew(ctx, cf)
			if err != nil {
				return nil, "", err
			}
			msg := fmt.Sprintf("renewed: %s → %s", refName(sim, cf.Auth.Cert), refName(sim, next.Auth.Cert))
			if cf.Sign != nil && next.Sign != nil {
				msg += fmt.Sprintf(", %s → %s", refName(sim, cf.Sign.Cert), refName(sim, next.Sign.Cert))
			}
			return next, msg + " (old certificates revoked as superseded)", nil
		})
}

func newJLISReissueCmd() *cobra.Command {
	var lost bool
	cmd := cardOp("reissue", "Replace the card with a new one (再交付); the old card's certificates are revoked and linked to the new ones",
		func(cmd *cobra.Command) {
			cmd.Flags().BoolVar(&lost, "lost", false, "the old card was lost (revocation reason keyCompromise, with invalidity date)")
		},
		func(ctx context.Context, sim *jlis.Simulator, cf *jpki.CardFile) (*jpki.CardFile, string, error) {
			next, err := sim.Reissue(ctx, cf, lost)
			if err != nil {
				return nil, "", err
			}
			return next, fmt.Sprintf("re-issued card %s as %s", cf.CardSerial, next.CardSerial), nil
		})
	return cmd
}

// reissueFlags are the flags of a holder applying for a new signing certificate in the same
// visit as a move or change.
type reissueFlags struct {
	reissue  bool
	password string
}

func (r *reissueFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&r.reissue, "reissue-sign", false, "the holder applies for a new signing certificate in the same visit (needs --sign-password)")
	cmd.Flags().StringVar(&r.password, "sign-password", "", "the new signing password the holder sets with --reissue-sign (6–16 of A–Z and 0–9)")
}

func (r *reissueFlags) options() ([]jlis.ChangeOption, error) {
	switch {
	case r.reissue && r.password == "":
		return nil, errors.New("--reissue-sign needs --sign-password: the holder sets a new signing password")
	case !r.reissue && r.password != "":
		return nil, errors.New("--sign-password is used only with --reissue-sign")
	case r.reissue:
		return []jlis.ChangeOption{jlis.WithNewSigningCertificate(r.password)}, nil
	}
	return nil, nil
}

func newJLISMoveCmd() *cobra.Command {
	var address string
	var ri reissueFlags
	return cardOp("move", "Record a change of address (異動): the signing certificate is revoked; the authentication certificate stays valid; a new signing certificate only with --reissue-sign",
		func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&address, "address", "", "the new address")
			_ = cmd.MarkFlagRequired("address")
			ri.add(cmd)
		},
		func(ctx context.Context, sim *jlis.Simulator, cf *jpki.CardFile) (*jpki.CardFile, string, error) {
			if address == "" {
				return nil, "", errors.New("--address is required")
			}
			opts, err := ri.options()
			if err != nil {
				return nil, "", err
			}
			b4 := cf.Basic4
			b4.Address, b4.AddressAltPositions = address, ""
			next, err := sim.Change(ctx, cf, b4, jlis.CauseMove, opts...)
			if err != nil {
				return nil, "", err
			}
			return next, describeChange(sim, cf, next), nil
		})
}

func describeChange(sim *jlis.Simulator, old, next *jpki.CardFile) string {
	switch {
	case old.Sign == nil && next.Sign == nil:
		return "recorded the new basic 4 facts (no signing certificate on this card)"
	case old.Sign == nil:
		return fmt.Sprintf("recorded the new basic 4 facts; new signing certificate %s", refName(sim, next.Sign.Cert))
	case bytes.Equal(old.Sign.Cert, next.Sign.Cert):
		return fmt.Sprintf("signing certificate %s revoked (affiliationChanged), no new one (the holder may apply with 'mynagate jlis reissue-sign'); authentication certificate unchanged",
			refName(sim, old.Sign.Cert))
	}
	return fmt.Sprintf("signing certificate %s revoked (affiliationChanged), new %s linked to it; authentication certificate unchanged",
		refName(sim, old.Sign.Cert), refName(sim, next.Sign.Cert))
}

func newJLISReissueSignCmd() *cobra.Command {
	var password string
	return cardOp("reissue-sign", "Issue a new signing certificate on a card whose signing certificate was revoked (after a move) or that has none yet (a holder now 15): new key, new password, linked from the revoked certificate",
		func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&password, "sign-password", "", "the new signing password the holder sets (6–16 of A–Z and 0–9)")
		},
		func(ctx context.Context, sim *jlis.Simulator, cf *jpki.CardFile) (*jpki.CardFile, string, error) {
			if password == "" {
				return nil, "", errors.New("--sign-password is required: the holder sets a new signing password")
			}
			next, err := sim.ReissueSign(ctx, cf, password)
			if err != nil {
				return nil, "", err
			}
			msg := fmt.Sprintf("new signing certificate %s", refName(sim, next.Sign.Cert))
			if cf.Sign != nil {
				msg += fmt.Sprintf(", linked from %s", refName(sim, cf.Sign.Cert))
			}
			return next, msg, nil
		})
}

func newJLISChangeCmd() *cobra.Command {
	var name, birth, sex, address, cause string
	var ri reissueFlags
	return cardOp("change", "Record a change of name, sex or date of birth (異動 or 記録誤り): the signing certificate is revoked; a new one only with --reissue-sign",
		func(cmd *cobra.Command) {
			ri.add(cmd)
			fl := cmd.Flags()
			fl.StringVar(&name, "name", "", "new name")
			fl.StringVar(&birth, "birth", "", "corrected date of birth YYYY-MM-DD")
			fl.StringVar(&sex, "sex", "", "new sex: male, female or unspecified")
			fl.StringVar(&address, "address", "", "new address")
			fl.StringVar(&cause, "cause", "name-change", "name-change, move or record-error")
		},
		func(ctx context.Context, sim *jlis.Simulator, cf *jpki.CardFile) (*jpki.CardFile, string, error) {
			b4 := cf.Basic4
			if name != "" {
				if err := checkNameFlag(name); err != nil {
					return nil, "", err
				}
				b4.Name, b4.NameAltPositions = name, ""
			}
			if address != "" {
				b4.Address, b4.AddressAltPositions = address, ""
			}
			if birth != "" {
				d, err := jpki.ParseDate(birth)
				if err != nil {
					return nil, "", fmt.Errorf("--birth: %w", err)
				}
				b4.Birth = d
			}
			if sex != "" {
				s, err := parseSexFlag(sex)
				if err != nil {
					return nil, "", err
				}
				b4.Sex = s
			}
			c, err := jlis.ParseCause(cause)
			if err != nil {
				return nil, "", err
			}
			opts, err := ri.options()
			if err != nil {
				return nil, "", err
			}
			next, err := sim.Change(ctx, cf, b4, c, opts...)
			if err != nil {
				return nil, "", err
			}
			return next, describeChange(sim, cf, next), nil
		})
}

func newJLISRevokeCmd() *cobra.Command {
	var f simFlags
	var card, ca, serial, kind, cause, invalidity string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke a card's certificates (--card) or one certificate (--ca and --serial)",
		Long: "Revoke certificates with a cause: " + fmt.Sprint(jlis.Causes) + ".\n" +
			"With --card, every valid certificate of the card (or --key auth|sign); death also records the resident as deceased.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := jlis.ParseCause(cause)
			if err != nil {
				return err
			}
			var inv time.Time
			if invalidity != "" {
				d, err := jpki.ParseDate(invalidity)
				if err != nil {
					return fmt.Errorf("--invalidity: %w", err)
				}
				inv = d.In(jpki.JST)
				if inv.After(time.Now()) {
					return fmt.Errorf("--invalidity %s is in the future: it is the day the key was lost or compromised, which has happened", invalidity)
				}
			}
			if (card == "") == (serial == "") {
				return errors.New("give either --card CARD.json or --ca and --serial")
			}
			var cf *jpki.CardFile
			var ref jlis.CertRef
			if card != "" {
				if cf, err = jpki.LoadCardFile(card); err != nil {
					return err
				}
			} else {
				n, err := strconv.ParseInt(serial, 16, 64)
				if err != nil || n <= 0 {
					return fmt.Errorf("--serial %q is not a positive hexadecimal number", serial)
				}
				ref = jlis.CertRef{CA: ca, Serial: n}
			}
			sim, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sim.Close()
			if cf == nil {
				if err := sim.Revoke(cmd.Context(), ref, c, inv); err != nil {
					return err
				}
				return printRevoked(cmd, asJSON, []jlis.CertRef{ref}, c)
			}
			var kinds []jpki.Kind
			switch kind {
			case "", "both":
			case "sign", "auth":
				kinds = []jpki.Kind{jpki.Kind(kind)}
			default:
				return fmt.Errorf("--key %q is not auth, sign or both", kind)
			}
			done, err := sim.RevokeCard(cmd.Context(), cf, c, inv, kinds...)
			if err != nil {
				return err
			}
			return printRevoked(cmd, asJSON, done, c)
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&card, "card", "", "card file whose certificates to revoke")
	fl.StringVar(&kind, "key", "both", "auth|sign|both: with --card, the certificates of which keys")
	deprecatedAlias(cmd, "kind", "key")
	fl.StringVar(&ca, "ca", "sign", "with --serial: the CA (sign, auth, ...)")
	fl.StringVar(&serial, "serial", "", "serial number in hexadecimal")
	fl.StringVar(&cause, "cause", "", "why: holder-request, lost, death, ...")
	fl.StringVar(&invalidity, "invalidity", "", "invalidity date YYYY-MM-DD (e.g. when the card was lost)")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newJLISCRLCmd() *cobra.Command {
	f := simFlags{opts: []jlis.Option{jlis.WithRecordedCRLSchedule()}}
	var ca, out string
	cmd := &cobra.Command{
		Use:   "crl",
		Short: "Write the CA's published full CRL (DER) to stdout or --out (the first one is published if there is none; 'crl publish' publishes a new one)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			if out == "" {
				if fd, ok := w.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
					return errors.New("refusing to write a DER CRL to a terminal; redirect stdout or use --out FILE")
				}
			}
			sim, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sim.Close()
			info, err := sim.CRL(cmd.Context(), ca)
			if err != nil {
				return err
			}
			in, err := os.Open(info.Path)
			if err != nil {
				return err
			}
			defer in.Close()
			if out != "" {
				fo, err := os.Create(out)
				if err != nil {
					return err
				}
				defer fo.Close()
				w = fo
			}
			if _, err := io.Copy(w, in); err != nil {
				return fmt.Errorf("write CRL: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "CRL %s number %d, %d entries, %d bytes, next update %s\n", info.CA, info.Number, info.Entries, info.Size, humanTime(info.NextUpdate))
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&ca, "ca", "sign", "sign or auth (or sign-phone, auth-phone)")
	cmd.Flags().StringVar(&out, "out", "", "file to write (default stdout)")
	cmd.AddCommand(newJLISCRLPublishCmd())
	return cmd
}

func newJLISCRLPublishCmd() *cobra.Command {
	f := simFlags{opts: []jlis.Option{jlis.WithRecordedCRLSchedule()}}
	var ca string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish a new CRL now, outside the schedule (a running 'jlis serve' serves it from its next request)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sim, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sim.Close()
			cas := []string{ca}
			if ca == "all" {
				cas = sim.CANames()
			}
			type published struct {
				CA         string    `json:"ca"`
				Number     int64     `json:"number"`
				Entries    int64     `json:"entries"`
				ThisUpdate time.Time `json:"this_update"`
				NextUpdate time.Time `json:"next_update"`
			}
			var all []published
			for _, name := range cas {
				info, err := sim.PublishCRL(cmd.Context(), name)
				if err != nil {
					return err
				}
				all = append(all, published{info.CA, info.Number, info.Entries, info.ThisUpdate, info.NextUpdate})
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "published CRL %s number %d, %d entries, next update %s (schedule %s)\n",
						info.CA, info.Number, info.Entries, humanTime(info.NextUpdate), sim.CRLSchedule())
				}
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"published": all, "schedule": sim.CRLSchedule().String()})
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&ca, "ca", "all", "sign, auth (or sign-phone, auth-phone), or all")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newJLISPopulateCmd() *cobra.Command {
	var f simFlags
	var ca string
	var revoked int64
	cmd := &cobra.Command{
		Use:   "populate",
		Short: "Add a synthetic population of revoked certificates, for CRLs of national size",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if revoked <= 0 {
				return errors.New("--revoked N must be a positive number")
			}
			sim, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sim.Close()
			bar := newProgress(cmd, revoked, progressbar.OptionSetDescription("revoked certificates"),
				progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }))
			var last int64
			err = sim.Populate(cmd.Context(), ca, revoked, func(done int64) { bar.Add64(done - last); last = done })
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %d revoked certificates to CA %s\n", revoked, ca)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&ca, "ca", "sign", "the CA")
	cmd.Flags().Int64Var(&revoked, "revoked", 0, "number of revoked certificates to add")
	return cmd
}

func newJLISCACmd() *cobra.Command {
	var f simFlags
	var ca string
	var responder, all bool
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Print a CA certificate (or its OCSP responder certificate) as PEM; `ca rollover` makes a new CA generation",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sim, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sim.Close()
			if all {
				if responder || cmd.Flags().Changed("ca") {
					return errors.New("--all prints every CA generation; it takes no --ca or --responder")
				}
				for _, g := range sim.CAGenerations() {
					if err := pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "CERTIFICATE", Bytes: g.Cert.Raw}); err != nil {
						return err
					}
				}
				return nil
			}
			if ca == "card-ap" {
				if responder {
					return errors.New("the card-AP CA has no OCSP responder")
				}
				pub, err := sim.CardAPCAPublicKey(cmd.Context())
				if err != nil {
					return err
				}
				der, err := x509.MarshalPKIXPublicKey(pub)
				if err != nil {
					return err
				}
				return pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "PUBLIC KEY", Bytes: der})
			}
			get := sim.CACertificate
			if responder {
				get = sim.OCSPResponderCertificate
			}
			c, err := get(ca)
			if err != nil {
				return err
			}
			return pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&ca, "ca", "sign", "sign or auth (or sign-phone, auth-phone, or a later generation such as sign-g2), or card-ap for the public key that certifies the cards' support AP keys")
	cmd.Flags().BoolVar(&responder, "responder", false, "print the CA's delegated OCSP responder certificate instead")
	cmd.Flags().BoolVar(&all, "all", false, "print every generation of every CA (a PEM bundle for serve --trust)")
	cmd.AddCommand(newJLISCARolloverCmd())
	return cmd
}

func newJLISCARolloverCmd() *cobra.Command {
	var f simFlags
	var ca string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rollover",
		Short: "Make a new generation of a CA: same DN, new key, a link certificate from the previous generation; new certificates come from it",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ca == "" {
				return errors.New("--ca sign|auth (or sign-phone, auth-phone) is required")
			}
			sim, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sim.Close()
			name, err := sim.Rollover(cmd.Context(), ca)
			if err != nil {
				return err
			}
			c, err := sim.CACertificate(name)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(c.Raw)
			if asJSON {
				return printJSON(cmd, map[string]string{"ca": name, "subject": c.Subject.String(), "key_id": fmt.Sprintf("%X", c.SubjectKeyId), "sha256": fmt.Sprintf("%x", sum)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new CA generation %s: subject %s, key id %X, SHA-256 %x\n", name, c.Subject, c.SubjectKeyId, sum)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&ca, "ca", "", "the CA to roll over: sign or auth (or sign-phone, auth-phone)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newJLISCertCmd() *cobra.Command {
	var card, kind, data string
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Print a card's certificate as PEM",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if card == "" {
				return errors.New("--card CARD.json is required")
			}
			cf, err := jpki.LoadCardFile(card)
			if err != nil {
				return err
			}
			var slot *jpki.KeySlot
			switch kind {
			case "auth":
				slot = cf.Auth
			case "sign":
				slot = cf.Sign
				if slot == nil {
					return errors.New("this card has no signing certificate (holder under 15)")
				}
			case "auth-ca", "sign-ca":
				return fmt.Errorf("--key %s: use `mynagate jlis ca`", kind)
			default:
				return fmt.Errorf("--key %q is not auth or sign", kind)
			}
			return pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "CERTIFICATE", Bytes: slot.Cert})
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "simulator data directory (not needed: the card file holds its certificates)")
	cmd.Flags().StringVar(&card, "card", "", "card file")
	cmd.Flags().StringVar(&kind, "key", "auth", "auth|sign: the certificate of which key")
	deprecatedAlias(cmd, "kind", "key")
	return cmd
}

func newJLISStatusCmd() *cobra.Command {
	var f simFlags
	var card string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the status and renewal links of a card's certificates",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sim, cf, err := f.openWithCard(cmd.Context(), card)
			if err != nil {
				return err
			}
			defer sim.Close()
			out := map[string]linkInfoJSON{}
			for _, k := range []struct {
				key  string
				slot *jpki.KeySlot
			}{{"auth", cf.Auth}, {"sign", cf.Sign}} {
				if k.slot == nil {
					continue
				}
				ref, err := sim.RefOf(k.slot.Cert)
				if err != nil {
					return err
				}
				info, err := sim.Links(cmd.Context(), ref)
				if err != nil {
					return err
				}
				out[k.key] = linkInfoOf(info)
			}
			if asJSON {
				return printJSON(cmd, out)
			}
			w := cmd.OutOrStdout()
			for _, k := range []string{"auth", "sign"} {
				li, ok := out[k]
				if !ok {
					fmt.Fprintf(w, "%s: none (no signing certificate)\n", k)
					continue
				}
				state := "valid"
				if li.Revoked {
					state = "revoked " + humanTime(*li.RevokedAt) + " (" + li.Reason + ")"
					if li.Invalidity != nil {
						state += ", invalid since " + humanTime(*li.Invalidity)
					}
				}
				fmt.Fprintf(w, "%s: %s/%s, %s to %s, %s\n", k, li.Cert.CA, li.Cert.Serial, humanTime(li.NotBefore), humanTime(li.NotAfter), state)
				for _, l := range li.Next {
					fmt.Fprintf(w, "  replaced by %s/%s (%s, %s)\n", l.New.CA, l.New.Serial, l.Cause, humanTime(l.At))
				}
				for _, l := range li.Previous {
					fmt.Fprintf(w, "  replaces %s/%s (%s, %s)\n", l.Old.CA, l.Old.Serial, l.Cause, humanTime(l.At))
				}
				if li.Latest != nil && *li.Latest != li.Cert {
					fmt.Fprintf(w, "  latest of its line: %s/%s\n", li.Latest.CA, li.Latest.Serial)
				}
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&card, "card", "", "card file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (serials in hex, times in UTC)")
	return cmd
}

// certRefJSON is a certificate reference as the CLI prints it in JSON: the serial in hex.
type certRefJSON struct {
	CA     string `json:"ca"`
	Serial string `json:"serial"`
}

func refJSON(r jlis.CertRef) certRefJSON { return certRefJSON{CA: r.CA, Serial: hexSerial64(r.Serial)} }

func refPtr(r *jlis.CertRef) *certRefJSON {
	if r == nil {
		return nil
	}
	j := refJSON(*r)
	return &j
}

// cardChangeJSON is what the jlis commands that rewrite a card print with --json.
type cardChangeJSON struct {
	CardFile     string           `json:"card_file"`
	CardSerial   string           `json:"card_serial"`
	Certificates []certChangeJSON `json:"certificates"`
}

type certChangeJSON struct {
	Key     string       `json:"key"`
	Old     *certRefJSON `json:"old"`
	New     *certRefJSON `json:"new"`
	Changed bool         `json:"changed"`
}

func cardChangeOf(sim *jlis.Simulator, path string, old, next *jpki.CardFile) cardChangeJSON {
	ref := func(s *jpki.KeySlot) *certRefJSON {
		if s == nil {
			return nil
		}
		r, err := sim.RefOf(s.Cert)
		if err != nil {
			return nil
		}
		return refPtr(&r)
	}
	out := cardChangeJSON{CardFile: path, CardSerial: next.CardSerial}
	for _, k := range []struct {
		key       string
		old, next *jpki.KeySlot
	}{{"auth", old.Auth, next.Auth}, {"sign", old.Sign, next.Sign}} {
		c := certChangeJSON{Key: k.key, Old: ref(k.old), New: ref(k.next)}
		c.Changed = c.Old == nil != (c.New == nil) || c.Old != nil && *c.Old != *c.New
		out.Certificates = append(out.Certificates, c)
	}
	return out
}

// issuedJSON is what jlis issue prints with --json.
type issuedJSON struct {
	CardFile     string       `json:"card_file"`
	Medium       string       `json:"medium"`
	CardSerial   string       `json:"card_serial"`
	Name         string       `json:"name"`
	Municipality string       `json:"municipality"`
	CardExpiry   string       `json:"card_expiry"`
	Auth         certRefJSON  `json:"auth"`
	Sign         *certRefJSON `json:"sign"`
}

func printRevoked(cmd *cobra.Command, asJSON bool, refs []jlis.CertRef, c jlis.Cause) error {
	if asJSON {
		out := []certRefJSON{}
		for _, r := range refs {
			out = append(out, refJSON(r))
		}
		return printJSON(cmd, map[string]any{"revoked": out, "cause": c})
	}
	for _, r := range refs {
		fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s)\n", r, c)
	}
	return nil
}

// linkInfoJSON is jlis.LinkInfo as the CLI prints it: serials in hex, the reason by name.
type linkInfoJSON struct {
	Cert        certRefJSON  `json:"certificate"`
	Kind        string       `json:"kind"`
	NotBefore   time.Time    `json:"not_before"`
	NotAfter    time.Time    `json:"not_after"`
	Revoked     bool         `json:"revoked"`
	RevokedAt   *time.Time   `json:"revoked_at,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	Invalidity  *time.Time   `json:"invalidity_date,omitempty"`
	Next        []linkJSON   `json:"next"`
	Previous    []linkJSON   `json:"previous"`
	Latest      *certRefJSON `json:"latest,omitempty"`
	Counterpart *certRefJSON `json:"counterpart,omitempty"`
}

type linkJSON struct {
	Old   certRefJSON `json:"old"`
	New   certRefJSON `json:"new"`
	Cause jlis.Cause  `json:"cause"`
	At    time.Time   `json:"at"`
}

func linkInfoOf(li *jlis.LinkInfo) linkInfoJSON {
	out := linkInfoJSON{Cert: refJSON(li.Cert), Kind: string(li.Kind), NotBefore: li.NotBefore, NotAfter: li.NotAfter, Revoked: li.Revoked,
		RevokedAt: li.RevokedAt, Invalidity: li.Invalidity, Latest: refPtr(li.Latest), Counterpart: refPtr(li.Counterpart),
		Next: []linkJSON{}, Previous: []linkJSON{}}
	if li.Reason != nil {
		out.Reason = li.Reason.String()
	}
	for _, l := range li.Next {
		out.Next = append(out.Next, linkJSON{refJSON(l.Old), refJSON(l.New), l.Cause, l.At})
	}
	for _, l := range li.Previous {
		out.Previous = append(out.Previous, linkJSON{refJSON(l.Old), refJSON(l.New), l.Cause, l.At})
	}
	return out
}

// parseSexFlag accepts exactly the three words the help names; the card's codes (1, 2, 9) and
// abbreviations are not the CLI's spelling.
func parseSexFlag(s string) (jpki.Sex, error) {
	switch s {
	case "male", "female", "unspecified":
		return jpki.ParseSex(s)
	}
	return 0, fmt.Errorf("--sex %q is not male, female or unspecified", s)
}

// checkNameFlag refuses a Japanese name whose family and given names are separated by an ASCII
// space: the resident record (and the certificate) separates them with U+3000. A name written
// only in Latin letters (a foreign resident's) keeps its ASCII spaces.
func checkNameFlag(name string) error {
	if !strings.Contains(name, " ") {
		return nil
	}
	for _, r := range name {
		if r > 0x7F {
			return fmt.Errorf("--name %q separates its parts with an ASCII space: use the ideographic space U+3000 (全角スペース), as in '%s'", name, strings.ReplaceAll(name, " ", "　"))
		}
	}
	return nil
}

// platformTokenFile returns DATA/platform-token, writing a new random token (32 bytes, hex)
// into it, readable by its owner only, when it does not exist yet.
func platformTokenFile(data string, random io.Reader) (string, error) {
	path := filepath.Join(data, "platform-token")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("platform token: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("platform token: %w", err)
	}
	if _, err := fmt.Fprintln(f, hex.EncodeToString(b)); err != nil {
		f.Close()
		return "", fmt.Errorf("platform token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("platform token: %w", err)
	}
	return path, nil
}

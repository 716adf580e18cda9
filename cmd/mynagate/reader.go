package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
)

func init() { register(newReaderCmd) }

// readerFlags are the flags every `mynagate reader` command shares.
type readerFlags struct {
	card      string
	reader    string
	socket    string
	wait      time.Duration
	pinFile   string
	pinStdin  bool
	allowLast bool
	json      bool

	// now and openCard replace the clock and the card (tests only; nil: time.Now and open).
	now      func() time.Time
	openCard func(ctx context.Context) (*session, error)
}

func newReaderCmd() *cobra.Command { return newReaderCmdWith(&readerFlags{}) }

func newReaderCmdWith(f *readerFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reader",
		Short: "Read a My Number Card: readers, card status, certificates, basic 4 facts, signatures",
		Long: `Talk to a My Number Card in a PC/SC reader (through pcscd), or to a card file in-process
with --card. Without --reader the first reader holding a card is used.

PINs are never taken from the command line: they are asked for without echo, or read from the
first line of --pin-file or of standard input (--pin-stdin). When a PIN has only one try left,
commands refuse to use it unless --i-know-this-blocks is given: a wrong entry would block it.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.card, "card", "", "use this card file in-process instead of a PC/SC reader")
	pf.StringVar(&f.reader, "reader", "", "PC/SC reader to use (exact name or a unique part of it; default: the first reader with a card)")
	pf.StringVar(&f.socket, "pcsc-socket", "", "pcscd socket (default: $PCSCLITE_CSOCK_NAME, else /run/pcscd/pcscd.comm)")
	pf.DurationVar(&f.wait, "wait", 0, "wait up to this long for a card to be inserted (default: fail at once)")
	pf.StringVar(&f.pinFile, "pin-file", "", "read the PIN from the first line of this file")
	pf.BoolVar(&f.pinStdin, "pin-stdin", false, "read the PIN from the first line of standard input")
	pf.BoolVar(&f.allowLast, "i-know-this-blocks", false, "allow using a PIN that has one try left (a wrong entry blocks it)")
	pf.BoolVar(&f.json, "json", false, "print JSON instead of text")
	cmd.AddCommand(newReaderListCmd(f), newReaderStatusCmd(f), newReaderCertsCmd(f), newReaderBasic4Cmd(f), newReaderSignCmd(f), newReaderCardDataCmd(f), newReaderVerifyCmd(f), newReaderConsentCmd(f))
	return cmd
}

// signalContext returns a context cancelled by Ctrl-C, so that a waiting command stops and the
// session still closes (and resets the card).
func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt)
}

// session is an open card: the JPKI client and what must be closed after it.
type session struct {
	*reader.Client
	pcsc *reader.PCSC
	lock *jpki.CardLock // the card file's, with --card
}

func (s *session) Close() {
	s.Client.Close()
	if s.pcsc != nil {
		s.pcsc.Close()
	}
	s.lock.Unlock()
}

// open connects to the card: the card file in-process with --card, else through pcscd.
func (f *readerFlags) open(ctx context.Context) (*session, error) {
	if f.openCard != nil {
		return f.openCard(ctx)
	}
	if f.card != "" {
		if f.reader != "" {
			return nil, errors.New("reader: --card and --reader exclude each other")
		}
		lock, err := lockCard(f.card, "mynagate reader")
		if err != nil {
			return nil, err
		}
		c, err := card.Open(f.card)
		if err != nil {
			lock.Unlock()
			return nil, err
		}
		return &session{Client: reader.NewClient(reader.NewInProcess(c, f.card)), lock: lock}, nil
	}
	p, err := f.dial(ctx)
	if err != nil {
		return nil, err
	}
	var t *reader.PCSCCard
	if f.wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, f.wait)
		t, err = p.WaitForCard(wctx, f.reader)
		cancel()
	} else {
		t, err = p.FirstCard(ctx, f.reader)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return &session{Client: reader.NewClient(t), pcsc: p}, nil
}

func (f *readerFlags) dial(ctx context.Context) (*reader.PCSC, error) {
	var opts []reader.PCSCOption
	if f.socket != "" {
		opts = append(opts, reader.WithSocket(f.socket))
	}
	return reader.DialPCSC(ctx, opts...)
}

// output writes the result as JSON with --json, else runs text.
func (f *readerFlags) output(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	w := cmd.OutOrStdout()
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(w)
	return nil
}

// pin checks the tries left of p (refusing a blocked PIN, and the last try without
// --i-know-this-blocks) and then reads the PIN from --pin-file, --pin-stdin or the terminal.
func (f *readerFlags) pin(ctx context.Context, cmd *cobra.Command, s *session, p reader.PIN) (string, error) {
	n, err := s.CheckTries(ctx, p, f.allowLast)
	if err != nil {
		if errors.Is(err, reader.ErrLastTry) {
			return "", fmt.Errorf("%w; pass --i-know-this-blocks to try anyway", err)
		}
		return "", err
	}
	return f.readPIN(cmd, p, n)
}

// openWithPIN opens the card and then reads p as pin does; the caller closes the session,
// which is closed already when an error is returned.
func (f *readerFlags) openWithPIN(ctx context.Context, cmd *cobra.Command, p reader.PIN) (*session, string, error) {
	s, err := f.open(ctx)
	if err != nil {
		return nil, "", err
	}
	pin, err := f.pin(ctx, cmd, s, p)
	if err != nil {
		s.Close()
		return nil, "", err
	}
	return s, pin, nil
}

// readPIN reads a PIN without ever taking it from argv.
func (f *readerFlags) readPIN(cmd *cobra.Command, p reader.PIN, triesLeft int) (string, error) {
	var line string
	switch {
	case f.pinFile != "" && f.pinStdin:
		return "", errors.New("reader: --pin-file and --pin-stdin exclude each other")
	case f.pinFile != "":
		fh, err := os.Open(f.pinFile)
		if err != nil {
			return "", fmt.Errorf("reader: read PIN file: %w", err)
		}
		defer fh.Close()
		line, err = firstLine(fh)
		if err != nil {
			return "", fmt.Errorf("reader: read PIN file %s: %w", f.pinFile, err)
		}
	case f.pinStdin:
		var err error
		line, err = firstLine(cmd.InOrStdin())
		if err != nil {
			return "", fmt.Errorf("reader: read PIN from standard input: %w", err)
		}
	default:
		fd := int(os.Stdin.Fd())
		if !term.IsTerminal(fd) {
			return "", fmt.Errorf("reader: the %s is needed and standard input is not a terminal; use --pin-file or --pin-stdin", p)
		}
		form := "4 digits"
		if p == reader.PINSign {
			form = "6-16 letters and digits"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s (%s, %d of %d tries left): ", p, form, triesLeft, p.MaxTries())
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("reader: read PIN: %w", err)
		}
		line = string(b)
	}
	if line == "" {
		return "", fmt.Errorf("reader: empty %s", p)
	}
	return line, nil
}

// firstLine returns the first line of r without its line ending.
func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		if err == io.EOF {
			return "", errors.New("no PIN (input is empty)")
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func newReaderListCmd(f *readerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the card readers and whether each holds a card",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext(cmd)
			defer cancel()
			var readers []reader.ReaderStatus
			if f.card != "" {
				if _, err := os.Stat(f.card); err != nil {
					return fmt.Errorf("reader: card file: %w", err)
				}
				readers = []reader.ReaderStatus{{Name: "in-process: " + f.card, CardPresent: true}}
			} else {
				p, err := f.dial(ctx)
				if err != nil {
					return err
				}
				defer p.Close()
				readers, err = p.Readers(ctx)
				if err != nil {
					return err
				}
			}
			type readerJSON struct {
				Name        string `json:"name"`
				CardPresent bool   `json:"card_present"`
				Busy        bool   `json:"busy,omitempty"`
				ATR         string `json:"atr,omitempty"`
			}
			out := []readerJSON{}
			for _, r := range readers {
				out = append(out, readerJSON{r.Name, r.CardPresent, r.Busy, strings.ToUpper(hex.EncodeToString(r.ATR))})
			}
			return f.output(cmd, map[string]any{"readers": out}, func(w io.Writer) {
				if len(readers) == 0 {
					fmt.Fprintln(w, "no readers")
				}
				for _, r := range readers {
					state := "empty"
					switch {
					case r.Busy:
						state = "card (in use by another program)"
					case r.CardPresent:
						state = "card"
					}
					fmt.Fprintf(w, "%s\t%s\n", r.Name, state)
				}
			})
		},
	}
}

func newReaderStatusCmd(f *readerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the card: medium, token label, applications, PIN tries left (no PIN needed)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext(cmd)
			defer cancel()
			s, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.Status(ctx)
			if err != nil {
				return err
			}
			return f.output(cmd, st, func(w io.Writer) {
				fmt.Fprintf(w, "reader:            %s\n", st.Reader)
				medium := string(st.Medium)
				if medium == "" {
					medium = "unknown medium"
				}
				fmt.Fprintf(w, "card:              My Number Card, JPKI token %s (%s)\n", st.TokenLabel, medium)
				if st.AuthBiometric {
					fmt.Fprintln(w, "auth key:          unlocked by the phone's biometrics (protected authentication path)")
				}
				if st.ATR != "" {
					fmt.Fprintf(w, "ATR:               %s\n", st.ATR)
				}
				var have, missing []string
				for _, a := range st.Applications {
					if a.Present {
						have = append(have, a.Name)
					} else {
						missing = append(missing, a.Name)
					}
				}
				fmt.Fprintf(w, "applications:      %s", strings.Join(have, " "))
				if len(missing) > 0 {
					fmt.Fprintf(w, " (not answering: %s)", strings.Join(missing, " "))
				}
				fmt.Fprintln(w)
				for _, ps := range st.PINs {
					p, _ := reader.ParsePIN(ps.PIN)
					label := fmt.Sprintf("%s:", p)
					switch {
					case ps.Absent:
						fmt.Fprintf(w, "%-18s none (no signing certificate)\n", label)
					case ps.Blocked:
						fmt.Fprintf(w, "%-18s BLOCKED (0 of %d tries left)\n", label, ps.MaxTries)
					default:
						fmt.Fprintf(w, "%-18s %d of %d tries left\n", label, ps.TriesLeft, ps.MaxTries)
					}
				}
			})
		},
	}
}

// certJSON is a certificate as `reader certs --json` prints it.
type certJSON struct {
	Kind              string       `json:"kind"`
	Subject           string       `json:"subject"`
	Issuer            string       `json:"issuer"`
	Serial            string       `json:"serial"`
	NotBefore         time.Time    `json:"not_before"`
	NotAfter          time.Time    `json:"not_after"`
	SHA256Fingerprint string       `json:"sha256_fingerprint"`
	Basic4            *jpki.Basic4 `json:"basic4,omitempty"`
	DER               []byte       `json:"der"`
}

func describeCert(kind string, c *x509.Certificate) certJSON {
	fp := sha256.Sum256(c.Raw)
	out := certJSON{
		Kind: kind, Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		Serial: strings.ToUpper(c.SerialNumber.Text(16)), NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		SHA256Fingerprint: strings.ToUpper(hex.EncodeToString(fp[:])), DER: c.Raw,
	}
	for _, e := range c.Extensions {
		if e.Id.Equal([]int{2, 5, 29, 17}) {
			if b, err := jpki.ParseSubjectAltName(e.Value); err == nil {
				out.Basic4 = &b
			}
		}
	}
	return out
}

func newReaderCertsCmd(f *readerFlags) *cobra.Command {
	var asPEM, ca bool
	var keyName string
	cmd := &cobra.Command{
		Use:   "certs [--key auth|sign]",
		Short: "Print a certificate from the card (auth by default; sign needs the signing password)",
		Args:  rangeArgs(0, "auth|sign"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 { // the old positional spelling
				if cmd.Flags().Changed("key") && keyName != args[0] {
					return fmt.Errorf("reader: --key %s and the argument %s disagree", keyName, args[0])
				}
				keyName = args[0]
			}
			kind, ok := jpki.ParseKind(keyName)
			if !ok {
				return fmt.Errorf("reader: --key %q is neither auth nor sign", keyName)
			}
			if asPEM && f.json {
				return errors.New("reader: --pem and --json exclude each other")
			}
			ctx, cancel := signalContext(cmd)
			defer cancel()
			s, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			var cert *x509.Certificate
			label := string(kind)
			switch {
			case ca:
				label += "-ca"
				cert, err = s.ReadCACert(ctx, kind)
			case kind == jpki.KindAuth:
				cert, err = s.ReadAuthCert(ctx)
				if errors.Is(err, reader.ErrAccessDenied) {
					// A smartphone credential gives its auth certificate only after the PIN.
					cert, err = f.readWithPIN(ctx, cmd, s, reader.PINAuth)
				}
			default:
				cert, err = f.readWithPIN(ctx, cmd, s, reader.PINSign)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asPEM {
				return pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
			}
			d := describeCert(label, cert)
			return f.output(cmd, d, func(w io.Writer) {
				fmt.Fprintf(w, "certificate:  %s\n", d.Kind)
				fmt.Fprintf(w, "subject:      %s\n", d.Subject)
				fmt.Fprintf(w, "issuer:       %s\n", d.Issuer)
				fmt.Fprintf(w, "serial:       %s\n", d.Serial)
				fmt.Fprintf(w, "valid:        %s to %s\n", humanTime(d.NotBefore), humanTime(d.NotAfter))
				fmt.Fprintf(w, "sha256:       %s\n", d.SHA256Fingerprint)
				if d.Basic4 != nil {
					printBasic4(w, *d.Basic4)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&asPEM, "pem", false, "print the certificate as PEM")
	cmd.Flags().StringVar(&keyName, "key", "auth", "auth|sign: the certificate of which key (sign needs the signing password)")
	cmd.Flags().BoolVar(&ca, "ca-cert", false, "print the CA certificate of that key instead (no PIN needed)")
	deprecatedAlias(cmd, "ca", "ca-cert")
	return cmd
}

// readWithPIN reads the certificate that a PIN unlocks.
func (f *readerFlags) readWithPIN(ctx context.Context, cmd *cobra.Command, s *session, p reader.PIN) (*x509.Certificate, error) {
	pin, err := f.pin(ctx, cmd, s, p)
	if err != nil {
		return nil, err
	}
	if p == reader.PINSign {
		return s.ReadSignCert(ctx, pin)
	}
	signer, err := s.AuthSigner(ctx, pin)
	if err != nil {
		return nil, err
	}
	return signer.Certificate(), nil
}

func printBasic4(w io.Writer, b jpki.Basic4) {
	fmt.Fprintf(w, "name:         %s\n", b.Name)
	fmt.Fprintf(w, "address:      %s\n", b.Address)
	fmt.Fprintf(w, "birth:        %s\n", b.Birth)
	fmt.Fprintf(w, "sex:          %s\n", b.Sex)
}

func newReaderBasic4Cmd(f *readerFlags) *cobra.Command {
	var myNumber bool
	cmd := &cobra.Command{
		Use:   "basic4",
		Short: "Print the basic 4 facts from the card-info input support application (needs its 4-digit PIN)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext(cmd)
			defer cancel()
			s, pin, err := f.openWithPIN(ctx, cmd, reader.PINSupport)
			if err != nil {
				return err
			}
			defer s.Close()
			b, err := s.ReadBasic4(ctx, pin)
			if err != nil {
				return err
			}
			out := struct {
				jpki.Basic4
				MyNumber string `json:"my_number,omitempty"`
			}{Basic4: b}
			if myNumber {
				if out.MyNumber, err = s.ReadMyNumber(ctx, pin); err != nil {
					return err
				}
			}
			return f.output(cmd, out, func(w io.Writer) {
				printBasic4(w, b)
				if myNumber {
					fmt.Fprintf(w, "my number:    %s\n", out.MyNumber)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&myNumber, "my-number", false, "also print the 12-digit individual number (My Number)")
	return cmd
}

func newReaderSignCmd(f *readerFlags) *cobra.Command {
	var keyName, in, out string
	cmd := &cobra.Command{
		Use:   "sign --key auth|sign --in FILE [--out FILE]",
		Short: "Sign a file's SHA-256 with the card's auth or signing key (PKCS#1 v1.5)",
		Long: `Sign the SHA-256 of a file (--in, "-" for standard input) with the auth key (4-digit PIN) or the
signing key (signing password). The raw signature goes to --out; without --out it is printed in
base64. With --json the signature, the certificate and the digest are printed as JSON.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyName == "" {
				return errors.New("reader: --key auth|sign is required")
			}
			kind, ok := jpki.ParseKind(keyName)
			if !ok {
				return fmt.Errorf("reader: --key %q is neither auth nor sign", keyName)
			}
			if in == "" {
				return errors.New("reader: --in FILE is required")
			}
			if in == "-" && f.pinStdin {
				return errors.New("reader: --in - and --pin-stdin both want standard input")
			}
			data, err := readInput(cmd, in)
			if err != nil {
				return err
			}
			digest := sha256.Sum256(data)
			ctx, cancel := signalContext(cmd)
			defer cancel()
			p := reader.PINAuth
			if kind == jpki.KindSign {
				p = reader.PINSign
			}
			s, pin, err := f.openWithPIN(ctx, cmd, p)
			if err != nil {
				return err
			}
			defer s.Close()
			signer, err := s.Signer(ctx, kind, pin)
			if err != nil {
				return err
			}
			sig, err := signer.SignContext(ctx, digest[:], crypto.SHA256)
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, sig, 0o644); err != nil {
					return fmt.Errorf("reader: write signature: %w", err)
				}
			}
			res := struct {
				Key         string `json:"key"`
				Algorithm   string `json:"algorithm"`
				SHA256      string `json:"sha256"`
				Signature   []byte `json:"signature"`
				Certificate []byte `json:"certificate"`
			}{string(kind), "sha256WithRSAEncryption", hex.EncodeToString(digest[:]), sig, signer.Certificate().Raw}
			return f.output(cmd, res, func(w io.Writer) {
				if out == "" {
					fmt.Fprintln(w, base64.StdEncoding.EncodeToString(sig))
				}
			})
		},
	}
	cmd.Flags().StringVar(&keyName, "key", "", "auth|sign: sign with which key (required)")
	cmd.Flags().StringVar(&in, "in", "", `file to sign ("-" for standard input)`)
	cmd.Flags().StringVar(&out, "out", "", "write the raw signature here")
	return cmd
}

func readInput(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, fmt.Errorf("reader: read standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reader: read input: %w", err)
	}
	return b, nil
}

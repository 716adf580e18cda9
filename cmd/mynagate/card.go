package main

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/vpcd"
	"github.com/mynagate/mynagate/jpki"
)

func init() { register(newCardCmd) }

func newCardCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "card",
		Short: "The virtual My Number Card: insert it into pcscd through vpcd, remove it, reset a PIN, show it",
		Long: `The virtual My Number Card answers the APDUs of the real card, so PC/SC software (pcscd,
OpenSC, mynagate reader) uses it as a card in a reader. Card files are written by
'mynagate jlis issue'. PIN retry counters are kept in the card file.`,
	}
	cmd.AddCommand(newCardInsertCmd(), newCardRemoveCmd(), newCardResetPINCmd(), newCardShowCmd())
	return cmd
}

// lockPath is the file that records the process serving a card at a vpcd address, so that
// 'card remove' can find it and a second 'card insert' at the same address is refused.
// Its content is "<pid>\n<absolute card file path>\n".
func lockPath(addr string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, addr)
	return filepath.Join(os.TempDir(), "mynagate-card-"+safe+".pid")
}

type lockInfo struct {
	pid  int
	card string
}

// readLock returns the lock at path if the process it names is still running.
func readLock(path string) (lockInfo, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return lockInfo{}, false
	}
	lines := strings.SplitN(string(b), "\n", 3)
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return lockInfo{}, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return lockInfo{}, false // stale: the process is gone
	}
	li := lockInfo{pid: pid}
	if len(lines) > 1 {
		li.card = strings.TrimSpace(lines[1])
	}
	return li, true
}

// takeLock creates the lock for addr, replacing a stale one.
func takeLock(addr, cardPath string) (string, error) {
	path := lockPath(addr)
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = fmt.Fprintf(f, "%d\n%s\n", os.Getpid(), cardPath)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(path)
				return "", fmt.Errorf("card: write %s: %w", path, err)
			}
			return path, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("card: create %s: %w", path, err)
		}
		if li, alive := readLock(path); alive {
			return "", fmt.Errorf("card: a card is already inserted at %s (pid %d); run 'mynagate card remove --vpcd %s' first", addr, li.pid, addr)
		}
		os.Remove(path) // stale
	}
	return "", fmt.Errorf("card: could not take %s", path)
}

func newCardInsertCmd() *cobra.Command {
	var (
		addr    string
		latency time.Duration
	)
	cmd := &cobra.Command{
		Use:   "insert CARD.json",
		Short: "Insert the card into pcscd's virtual reader (vpcd) and serve it until interrupted",
		Long: `Connects the card to vsmartcard's vpcd, so pcscd shows it in the reader "Virtual PCD 00 00"
(port 35963; "Virtual PCD 00 01" is port 35964). Serves until SIGINT or SIGTERM or
'mynagate card remove', then removes the card cleanly. Reconnects by itself when pcscd restarts.`,
		Args: exactArgs("CARD.json"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if latency < 0 {
				return errors.New("card: --latency must not be negative")
			}
			path, err := filepath.Abs(args[0])
			if err != nil {
				return fmt.Errorf("card: %w", err)
			}
			lock, err := takeLock(addr, path)
			if err != nil {
				return err
			}
			defer os.Remove(lock)
			cl, err := lockCard(path, "mynagate card insert")
			if err != nil {
				return err
			}
			defer cl.Unlock()
			c, err := card.Open(path, card.WithLatency(latency))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			errw := cmd.ErrOrStderr()
			fmt.Fprintf(errw, "serving %[2]s (medium %[1]s) at vpcd %[3]s (Ctrl-C or 'mynagate card remove' to remove)\n",
				c.Medium(), filepath.Base(path), addr)
			err = vpcd.Serve(ctx, addr, c, vpcd.WithStateHook(func(s vpcd.State) {
				switch {
				case s == vpcd.Inserted:
					fmt.Fprintf(errw, "card inserted into the reader at vpcd %s\n", addr)
				case ctx.Err() == nil:
					fmt.Fprintf(errw, "vpcd at %s closed the connection (pcscd stopped?)\n", addr)
				}
			}), vpcd.WithWaitHook(func(err error) {
				fmt.Fprintf(errw, "waiting for vpcd at %s (%v)\n%s", addr, unwrapDial(err), startPCSCDHint)
			}))
			if err != nil {
				return err
			}
			fmt.Fprintln(errw, "card removed")
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "vpcd", vpcd.DefaultAddr, "address of vpcd (host:port)")
	cmd.Flags().DurationVar(&latency, "latency", 0, "make every signature take at least this long, like a real card (e.g. 500ms)")
	return cmd
}

func newCardRemoveCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove the card that 'mynagate card insert' serves at a vpcd address",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := lockPath(addr)
			li, alive := readLock(path)
			if !alive {
				return fmt.Errorf("card: no card is inserted at %s", addr)
			}
			if err := syscall.Kill(li.pid, syscall.SIGTERM); err != nil {
				return fmt.Errorf("card: stop pid %d: %w", li.pid, err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if _, alive := readLock(path); !alive {
					fmt.Fprintf(cmd.OutOrStdout(), "card removed from %s\n", addr)
					return nil
				}
				time.Sleep(50 * time.Millisecond)
			}
			return fmt.Errorf("card: pid %d did not remove the card within 10s", li.pid)
		},
	}
	cmd.Flags().StringVar(&addr, "vpcd", vpcd.DefaultAddr, "address of vpcd (host:port) the card was inserted at")
	return cmd
}

func newCardResetPINCmd() *cobra.Command {
	var which, pinFile string
	cmd := &cobra.Command{
		Use:   "reset-pin CARD.json --key auth|sign|support|juki",
		Short: "Set a new PIN and restore its retry counter, as the municipal office does",
		Long: `Sets a new PIN and restores its tries, standing in for the municipal office (or, for the
signing password, the convenience-store kiosk). The new PIN is read from the first line of
--new-pin-file, or of standard input, or asked for twice without echo on a terminal; it is
never taken from the command line. The card must not be inserted meanwhile.`,
		Args: exactArgs("CARD.json"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := filepath.Abs(args[0])
			if err != nil {
				return fmt.Errorf("card: %w", err)
			}
			if which == "" {
				return errors.New("card: --key auth|sign|support|juki is required: the PIN of which key or application")
			}
			if err := card.CheckPIN(which, "0000"); errors.Is(err, card.ErrUnknownPIN) {
				return err
			}
			lock, err := lockCard(path, "mynagate card reset-pin")
			if err != nil {
				return err
			}
			defer lock.Unlock()
			cf, err := jpki.LoadCardFile(path)
			if err != nil {
				return err
			}
			pin, err := readNewPIN(cmd, pinFile, which)
			if err != nil {
				return err
			}
			if err := card.ResetPIN(cf, which, pin); err != nil {
				return err
			}
			if err := cf.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s PIN reset; tries restored\n", which)
			return nil
		},
	}
	cmd.Flags().StringVar(&which, "key", "", "auth|sign|support|juki: whose PIN (auth key, signing password, support or juki application)")
	deprecatedAlias(cmd, "pin", "key")
	cmd.Flags().StringVar(&pinFile, "new-pin-file", "", "read the new PIN from the first line of this file")
	return cmd
}

// readNewPIN reads the new PIN from a file, a terminal (twice, without echo) or standard input.
func readNewPIN(cmd *cobra.Command, pinFile, which string) (string, error) {
	if pinFile != "" {
		f, err := os.Open(pinFile)
		if err != nil {
			return "", fmt.Errorf("card: read new PIN: %w", err)
		}
		defer f.Close()
		return firstLineOf(f)
	}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		errw := cmd.ErrOrStderr()
		var pins [2]string
		for i, prompt := range []string{fmt.Sprintf("new %s PIN: ", which), fmt.Sprintf("the new %s PIN again: ", which)} {
			fmt.Fprint(errw, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(errw)
			if err != nil {
				return "", fmt.Errorf("card: read new PIN: %w", err)
			}
			pins[i] = string(b)
		}
		if pins[0] != pins[1] {
			return "", errors.New("card: the two entries differ")
		}
		return pins[0], nil
	}
	return firstLineOf(cmd.InOrStdin())
}

func firstLineOf(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("card: read new PIN: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("card: no new PIN given (empty input)")
	}
	return line, nil
}

func newCardShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show CARD.json",
		Short: "Summarise a card file: medium, card data, certificates, PIN tries (no PINs, keys or full My Number)",
		Args:  exactArgs("CARD.json"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, err := jpki.LoadCardFile(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, cardShowOf(cf))
			}
			w := cmd.OutOrStdout()
			p := func(k, v string) { fmt.Fprintf(w, "%-18s %s\n", k+":", v) }
			p("medium", fmt.Sprintf("%s (token %s)", cf.Medium, cf.Medium.TokenLabel()))
			p("card serial", cf.CardSerial)
			p("municipality", cf.MunicipalityCode)
			p("card expiry", cf.CardExpiry)
			p("name", cf.Basic4.Name)
			p("birth", cf.Basic4.Birth.String())
			p("sex", cf.Basic4.Sex.String())
			p("address", cf.Basic4.Address)
			mn := cf.MyNumber
			if len(mn) == 12 {
				mn = strings.Repeat("*", 8) + mn[8:]
			}
			p("my number", mn)
			photo := "generated portrait"
			if len(cf.Photo) > 0 {
				photo = fmt.Sprintf("%d bytes", len(cf.Photo))
			}
			p("photo", photo)
			for _, s := range []struct {
				name string
				slot *jpki.KeySlot
			}{{"auth certificate", cf.Auth}, {"sign certificate", cf.Sign}} {
				if s.slot == nil {
					p(s.name, "none (holder under 15)")
					continue
				}
				c, err := x509.ParseCertificate(s.slot.Cert)
				if err != nil {
					p(s.name, "unreadable: "+err.Error())
					continue
				}
				p(s.name, fmt.Sprintf("serial %s, %s, valid %s to %s", hexSerial(c.SerialNumber), c.Subject,
					c.NotBefore.In(jpki.JST).Format("2006-01-02"), c.NotAfter.In(jpki.JST).Format("2006-01-02")))
			}
			tries := func(pin jpki.PIN) string {
				if pin.Tries == 0 && pin.MaxTries > 0 {
					return fmt.Sprintf("0/%d BLOCKED", pin.MaxTries)
				}
				return fmt.Sprintf("%d/%d", pin.Tries, pin.MaxTries)
			}
			p("auth PIN tries", tries(cf.Auth.PIN))
			if cf.Sign != nil {
				p("sign PIN tries", tries(cf.Sign.PIN))
			}
			p("support PIN tries", tries(cf.SupportPIN))
			p("juki PIN tries", tries(cf.JukiPIN))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// cardShowJSON is card show --json: the same summary, no PINs, keys or full My Number.
type cardShowJSON struct {
	Medium       string         `json:"medium"`
	TokenLabel   string         `json:"token_label"`
	CardSerial   string         `json:"card_serial"`
	Municipality string         `json:"municipality"`
	CardExpiry   string         `json:"card_expiry"`
	Basic4       jpki.Basic4    `json:"basic4"`
	MyNumber     string         `json:"my_number_masked"`
	Certificates []cardCertJSON `json:"certificates"`
	PINs         []cardPINJSON  `json:"pins"`
}

type cardCertJSON struct {
	Key       string    `json:"key"`
	Serial    string    `json:"serial"`
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

type cardPINJSON struct {
	PIN       string `json:"pin"`
	TriesLeft int    `json:"tries_left"`
	MaxTries  int    `json:"max_tries"`
	Blocked   bool   `json:"blocked"`
}

func cardShowOf(cf *jpki.CardFile) cardShowJSON {
	mn := cf.MyNumber
	if len(mn) == 12 {
		mn = strings.Repeat("*", 8) + mn[8:]
	}
	out := cardShowJSON{Medium: string(cf.Medium), TokenLabel: cf.Medium.TokenLabel(), CardSerial: cf.CardSerial, Municipality: cf.MunicipalityCode,
		CardExpiry: cf.CardExpiry, Basic4: cf.Basic4, MyNumber: mn, Certificates: []cardCertJSON{}}
	for _, s := range []struct {
		key  string
		slot *jpki.KeySlot
	}{{"auth", cf.Auth}, {"sign", cf.Sign}} {
		if s.slot == nil {
			continue
		}
		if c, err := x509.ParseCertificate(s.slot.Cert); err == nil {
			out.Certificates = append(out.Certificates, cardCertJSON{s.key, hexSerial(c.SerialNumber), c.Subject.String(), c.NotBefore.UTC(), c.NotAfter.UTC()})
		}
	}
	pin := func(name string, p jpki.PIN) {
		out.PINs = append(out.PINs, cardPINJSON{name, p.Tries, p.MaxTries, p.Tries == 0 && p.MaxTries > 0})
	}
	pin("auth", cf.Auth.PIN)
	if cf.Sign != nil {
		pin("sign", cf.Sign.PIN)
	}
	pin("support", cf.SupportPIN)
	pin("juki", cf.JukiPIN)
	return out
}

// startPCSCDHint says how to run what card insert waits for: pcscd with vsmartcard's vpcd reader
// driver, whose first slot listens on 127.0.0.1:35963 (README, "The card in PC/SC software").
const startPCSCDHint = `  vpcd is vsmartcard's reader driver inside pcscd; on Debian or Ubuntu:
    sudo apt-get install pcscd vsmartcard-vpcd opensc
    sudo systemctl restart pcscd       # or, without systemd: sudo pcscd --foreground
  the card is inserted as soon as vpcd listens (it keeps trying; Ctrl-C to give up)
`

// unwrapDial shortens a dial error to its cause ("connection refused").
func unwrapDial(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err
		}
		return op.Err
	}
	return err
}

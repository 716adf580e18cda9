package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/reader"
	"github.com/spf13/cobra"
)

func init() { register(newGateCmd) }

func newGateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Admit people at an event's entrance, offline, from a manifest signed by the ticket service",
	}
	cmd.AddCommand(newGateRunCmd())
	return cmd
}

func newGateRunCmd() *cobra.Command {
	var event, lane, manifestFile, serviceKey, gateKey, journal string
	var cards []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Drive one lane from the terminal: codes and card taps in, ADMIT or REJECT out",
		Long: `Opens the manifest (refused when unsigned, tampered, for another event or stale), then reads one
presentation per line on stdin and answers ADMIT or REJECT with the reason:

  code MGT1.…                  the holder's rotating code, scanned
  tap N PIN                    a tap of the Nth --card (the PIN typed on the lane's pad)
  code MGT1.… tap N PIN        both
  count                        how many tickets this lane knows as admitted

Taps answer a fresh challenge of this gate with the card's authentication key, in-process. Each
admission is appended to --journal, signed with --gate-key, before ADMIT is printed; the journal
is read back at start, so a restarted lane still refuses what it admitted. Keys are PEM files as
openssl makes them: 'openssl genpkey -algorithm ed25519 -out gate.pem' for the gate,
the ticket service's public key for --service-key.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if event == "" || lane == "" || manifestFile == "" || serviceKey == "" || gateKey == "" || journal == "" {
				return errors.New("--event, --lane, --manifest, --service-key, --gate-key and --journal are required")
			}
			pub, err := readEd25519Public(serviceKey)
			if err != nil {
				return err
			}
			key, err := readEd25519Private(gateKey)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(manifestFile)
			if err != nil {
				return err
			}
			clk := clockwork.NewRealClock()
			m, err := manifest.Open(data, pub, event, clk.Now())
			if err != nil {
				return err
			}
			var replay []gate.SignedRecord
			if f, err := os.Open(journal); err == nil {
				replay, err = gate.ReadJournal(f)
				f.Close()
				if err != nil {
					return err
				}
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			jf, err := os.OpenFile(journal, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return err
			}
			defer jf.Close()
			g, err := gate.New(gate.Config{Manifest: m, GateID: manifest.KeyID(key.Public().(ed25519.PublicKey)), Lane: lane, Key: key,
				Clock: clk, Rand: rand.Reader, Journal: syncWriter{jf}, Replay: replay})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			sc := bufio.NewScanner(cmd.InOrStdin())
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" {
					continue
				}
				if line == "count" {
					fmt.Fprintf(out, "admitted %d\n", g.Admitted())
					continue
				}
				p, err := parsePresentation(cmd, g, line, cards)
				var d gate.Decision
				if err != nil {
					d = gate.Decision{Reason: gate.Malformed, Detail: err.Error()}
				} else {
					d = g.Decide(p)
				}
				printDecision(out, d, asJSON)
			}
			return sc.Err()
		},
	}
	cmd.Flags().StringVar(&event, "event", "", "the event this lane admits to")
	cmd.Flags().StringVar(&lane, "lane", "", "the lane's name or number")
	cmd.Flags().StringVar(&manifestFile, "manifest", "", "the signed manifest file")
	cmd.Flags().StringVar(&serviceKey, "service-key", "", "PEM file of the ticket service's Ed25519 public key")
	cmd.Flags().StringVar(&gateKey, "gate-key", "", "PEM file of this gate's Ed25519 private key (PKCS#8)")
	cmd.Flags().StringVar(&journal, "journal", "", "file of this gate's signed admission records (appended, read back at start)")
	cmd.Flags().StringArrayVar(&cards, "card", nil, "a card file to tap in-process (repeatable; 'tap N' taps the Nth)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per decision")
	return cmd
}

// syncWriter makes each journal record reach the disk before the gate answers ADMIT.
type syncWriter struct{ f *os.File }

func (w syncWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if err == nil {
		err = w.f.Sync()
	}
	return n, err
}

func parsePresentation(cmd *cobra.Command, g *gate.Gate, line string, cards []string) (gate.Presentation, error) {
	var p gate.Presentation
	f := strings.Fields(line)
	for len(f) > 0 {
		switch {
		case f[0] == "code" && len(f) >= 2:
			p.Code, f = f[1], f[2:]
		case f[0] == "tap" && len(f) >= 3:
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 1 || n > len(cards) {
				return p, fmt.Errorf("no card %q: give 1 to %d (--card)", f[1], len(cards))
			}
			c, err := card.Open(cards[n-1])
			if err != nil {
				return p, err
			}
			ch, err := g.NewChallenge()
			if err != nil {
				return p, err
			}
			rc := reader.NewClient(reader.NewInProcess(c, "virtual"))
			p.Tap, err = gate.TapCard(cmd.Context(), rc, f[2], ch)
			rc.Close()
			if err != nil {
				return p, err
			}
			f = f[3:]
		default:
			return p, fmt.Errorf("cannot read %q: give 'code CODE', 'tap N PIN', both, or 'count'", line)
		}
	}
	return p, nil
}

func printDecision(w io.Writer, d gate.Decision, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(map[string]any{"admit": d.Admit, "reason": d.Reason, "detail": d.Detail, "ticket": d.Ticket, "seat": d.Seat, "name": d.Name})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	if d.Admit {
		fmt.Fprintf(w, "ADMIT  ticket %s  seat %s  %s\n", d.Ticket, d.Seat, d.Name)
		return
	}
	fmt.Fprintf(w, "REJECT %s: %s\n", d.Reason, d.Detail)
}

func readPEM(path, want string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != want {
		return nil, fmt.Errorf("%s: not a PEM %s", path, want)
	}
	return blk.Bytes, nil
}

func readEd25519Public(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if pk, ok := k.(ed25519.PublicKey); err == nil && ok {
		return pk, nil
	}
	return nil, fmt.Errorf("%s: not an Ed25519 public key", path)
}

func readEd25519Private(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if pk, ok := k.(ed25519.PrivateKey); err == nil && ok {
		return pk, nil
	}
	return nil, fmt.Errorf("%s: not an Ed25519 private key", path)
}

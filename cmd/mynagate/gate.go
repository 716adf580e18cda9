package main

import (
	"bufio"
	"cmp"
	"context"
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
	"github.com/mynagate/mynagate/gate/staff"
	"github.com/mynagate/mynagate/reader"
	"github.com/spf13/cobra"
)

func init() { register(newGateCmd) }

func newGateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Admit people at an event's entrance, offline, from a manifest signed by the ticket service",
	}
	cmd.AddCommand(newGateRunCmd(), newGateKioskCmd())
	return cmd
}

func newGateRunCmd() *cobra.Command {
	var event, lane, manifestFile, serviceKey, gateKey, journal string
	var cards []string
	var asJSON, face bool
	var sf staffFlags
	var pt pcscTaps
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Drive one lane from the terminal: codes and card taps in, ADMIT or REJECT out",
		Long: `Opens the manifest (refused when unsigned, tampered, for another event or stale), then reads one
presentation per line on stdin and answers ADMIT or REJECT with the reason:

  code MGT1.…                  the holder's rotating code, scanned
  tap N PIN                    a tap of the Nth --card (the PIN typed on the lane's pad)
  code MGT1.… tap N PIN        both
  count                        how many tickets this lane knows as admitted

Taps answer a fresh challenge of this gate with the card's authentication key, in-process. With
--reader NAME the cards are tapped in that PC/SC reader instead (through pcscd), and a tap is
'tap PIN' (or 'code MGT1.… tap PIN'): it waits up to --tap-wait for the card of the last tap to be
removed and for a card, then decides. Each
admission is appended to --journal, signed with --gate-key, before ADMIT is printed; the journal
is read back at start, so a restarted lane still refuses what it admitted. Keys are PEM files as
openssl makes them: 'openssl genpkey -algorithm ed25519 -out gate.pem' for the gate,
the ticket service's public key for --service-key.

With --listen the lane also serves its staff page for a tablet: the last decision in large type
(the reason in Japanese and English), the holder's name and seat, the counter of admitted
people, moving on by itself with each decision. Staff sign in with the lane token
(--staff-token-file, or one printed on stderr at start). On a network other than loopback give
--tls-cert and --tls-key: the session cookie is Secure. With --face a tap also reads the card's
face photo for the page, with the same PIN as the support application's (the card's own data,
opened by the individual number, which is not kept).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if event == "" || lane == "" || manifestFile == "" || serviceKey == "" || gateKey == "" || journal == "" {
				return errors.New("--event, --lane, --manifest, --service-key, --gate-key and --journal are required")
			}
			if err := pt.open(cmd.Context(), cards); err != nil {
				return err
			}
			defer pt.Close()
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
			replay, jf, err := openJournal(journal)
			if err != nil {
				return err
			}
			defer jf.Close()
			g, err := gate.New(gate.Config{Manifest: m, GateID: manifest.KeyID(key.Public().(ed25519.PublicKey)), Lane: lane, Key: key,
				Clock: clk, Rand: rand.Reader, Journal: syncWriter{jf}, Replay: replay})
			if err != nil {
				return err
			}
			board, stop, err := sf.start(cmd, staff.Config{Title: cmp.Or(m.EventName, m.Event) + " · " + lane, Clock: clk, Rand: rand.Reader,
				Counts: func() []staff.Count { return []staff.Count{{Label: "count.admitted", N: g.Admitted()}} }})
			if err != nil {
				return err
			}
			defer stop()
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
				p, facts, err := parsePresentation(cmd, g, line, cards, &pt, face)
				var d gate.Decision
				if err != nil {
					d = gate.Decision{Reason: gate.Malformed, Detail: err.Error()}
				} else {
					d = g.Decide(p)
				}
				printDecision(out, d, asJSON)
				if board != nil {
					e := staff.FromDecision(d)
					if facts != nil {
						e.Photo, e.PhotoType = staff.BrowserPhoto(cmd.Context(), facts.Photo)
					}
					board.Publish(e)
				}
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
	cmd.Flags().BoolVar(&face, "face", false, "with --listen, read the face photo of each card tapped for the staff page")
	sf.register(cmd)
	pt.register(cmd)
	return cmd
}

// openJournal reads a gate's or kiosk's journal back (a missing file is an empty journal) and
// opens it for appending.
func openJournal(path string) ([]gate.SignedRecord, *os.File, error) {
	var replay []gate.SignedRecord
	if f, err := os.Open(path); err == nil {
		replay, err = gate.ReadJournal(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	jf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	return replay, jf, err
}

// tapCardFile has the virtual card in file answer ch in-process, and with facts reads the
// card's facts (the photo too with photo) with the same PIN. err is the tap's failure; ferr the
// facts' (the tap stands without them).
func tapCardFile(ctx context.Context, file, pin string, ch gate.Challenge, facts, photo bool) (tp *gate.Tap, f *gate.CardFacts, ferr, err error) {
	c, err := card.Open(file)
	if err != nil {
		return nil, nil, nil, err
	}
	rc := reader.NewClient(reader.NewInProcess(c, "virtual"))
	defer rc.Close()
	if tp, err = gate.TapCard(ctx, rc, pin, ch); err != nil {
		return nil, nil, nil, err
	}
	if facts {
		f, ferr = gate.ReadCardFacts(ctx, rc, pin, photo, nil)
	}
	return tp, f, ferr, nil
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

func parsePresentation(cmd *cobra.Command, g *gate.Gate, line string, cards []string, pt *pcscTaps, face bool) (gate.Presentation, *gate.CardFacts, error) {
	var p gate.Presentation
	var facts *gate.CardFacts
	f := strings.Fields(line)
	for len(f) > 0 {
		switch {
		case f[0] == "code" && len(f) >= 2:
			p.Code, f = f[1], f[2:]
		case pt.enabled() && f[0] == "tap" && len(f) >= 2:
			if !isAuthPIN(f[1]) {
				return p, nil, errors.New("the PIN is 4 digits: give 'tap PIN' (the card is in the reader)")
			}
			ch, err := g.NewChallenge()
			if err != nil {
				return p, nil, err
			}
			p.Tap, facts, _, err = pt.tap(cmd.Context(), f[1], ch, face, face)
			if err != nil {
				return p, nil, err
			}
			f = f[2:]
		case f[0] == "tap" && len(f) >= 3:
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 1 || n > len(cards) {
				return p, nil, fmt.Errorf("no card %q: give 1 to %d (--card)", f[1], len(cards))
			}
			ch, err := g.NewChallenge()
			if err != nil {
				return p, nil, err
			}
			// The photo is for the staff's eyes only; a card that will not give it is still
			// decided on its tap.
			p.Tap, facts, _, err = tapCardFile(cmd.Context(), cards[n-1], f[2], ch, face, face)
			if err != nil {
				return p, nil, err
			}
			f = f[3:]
		default:
			tap := "'tap N PIN'"
			if pt.enabled() {
				tap = "'tap PIN'"
			}
			return p, nil, fmt.Errorf("cannot read %q: give 'code CODE', %s, both, or 'count'", line, tap)
		}
	}
	return p, facts, nil
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

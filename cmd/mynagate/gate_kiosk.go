package main

import (
	"bufio"
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/kiosk"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/gate/staff"
	"github.com/mynagate/mynagate/verify"
	"github.com/spf13/cobra"
)

func newGateKioskCmd() *cobra.Command {
	var rosterFile, kioskKey, journal string
	var caFiles, crlFiles, cards []string
	var facts, asJSON bool
	var sf staffFlags
	var pt pcscTaps
	cmd := &cobra.Command{
		Use:   "kiosk",
		Short: "Check-in without tickets (entry pass, library, shelter): card taps admitted by a roster or recorded",
		Long: `Opens the site's roster (--roster: who may enter by holder commitment, or mode "open" for a
shelter that records everyone whose card checks), the J-LIS authentication CA certificates
(--ca-cert) and a CRL snapshot (--crl), then reads one line per tap on stdin:

  tap N PIN        a tap of the Nth --card: ARRIVE or LEAVE (alternating per person), or REJECT
  count            present now, arrivals, departures
  export roster    the roster with who is present (CSV on stdout)
  export records   every arrival and departure (CSV)
  export reconcile one row per person: first arrival, last departure, still present (CSV)

A tap is the card's authentication signature over a fresh challenge, checked offline as at a
gate. With --reader NAME the cards are tapped in that PC/SC reader (through pcscd) and a tap is
'tap PIN'; it waits up to --tap-wait for the last card to be removed and for a card. With --facts the name and the date of birth (for the age band) are read from the card's
support application with the same PIN, for people not on the roster; each record says where
its facts came from. Each record is signed with --kiosk-key and appended to --journal before
the answer, and the journal is read back at start. With --listen the staff page shows the live
count, the last tap and the CSV exports. 'mynagate gate kiosk reconcile' merges the journals of
a site's kiosks later.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rosterFile == "" || kioskKey == "" || journal == "" || len(caFiles) == 0 || len(crlFiles) == 0 {
				return errors.New("--roster, --ca-cert, --crl, --kiosk-key and --journal are required")
			}
			if err := pt.open(cmd.Context(), cards); err != nil {
				return err
			}
			defer pt.Close()
			ro, err := readRoster(rosterFile)
			if err != nil {
				return err
			}
			key, err := readEd25519Private(kioskKey)
			if err != nil {
				return err
			}
			cas, err := readDERFiles(caFiles, "CERTIFICATE")
			if err != nil {
				return fmt.Errorf("--ca-cert: %w", err)
			}
			crls, err := readDERFiles(crlFiles, "X509 CRL")
			if err != nil {
				return fmt.Errorf("--crl: %w", err)
			}
			replay, jf, err := openJournal(journal)
			if err != nil {
				return err
			}
			defer jf.Close()
			clk := clockwork.NewRealClock()
			k, err := kiosk.New(kiosk.Config{Roster: ro, CACerts: cas, CRLs: crls, ID: manifest.KeyID(key.Public().(ed25519.PublicKey)), Key: key,
				Clock: clk, Rand: rand.Reader, Journal: syncWriter{jf}, Replay: replay})
			if err != nil {
				return err
			}
			board, stop, err := sf.start(cmd, staff.Config{Title: cmp.Or(ro.Name, ro.Site), Kiosk: true, Clock: clk, Rand: rand.Reader,
				Counts: staff.KioskCounts(k), Downloads: kioskDownloads(k)})
			if err != nil {
				return err
			}
			defer stop()
			out := cmd.OutOrStdout()
			sc := bufio.NewScanner(cmd.InOrStdin())
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				switch {
				case len(f) == 0:
				case f[0] == "count" && len(f) == 1:
					c := k.Counts()
					fmt.Fprintf(out, "present %d  arrivals %d  departures %d\n", c.Present, c.Arrivals, c.Departures)
				case f[0] == "export" && len(f) == 2:
					if err := kioskExport(out, k, f[1]); err != nil {
						fmt.Fprintf(out, "REJECT malformed: %v\n", err)
					}
				case f[0] == "tap" && (len(f) == 3 || pt.enabled() && len(f) == 2):
					res := kioskTap(cmd, k, cards, &pt, f[1:], facts)
					printKiosk(out, res, asJSON)
					if board != nil {
						board.Publish(staff.FromKiosk(res))
					}
				default:
					tap := "'tap N PIN'"
					if pt.enabled() {
						tap = "'tap PIN'"
					}
					fmt.Fprintf(out, "REJECT malformed: cannot read %q: give %s, 'count' or 'export roster|records|reconcile'\n", sc.Text(), tap)
				}
			}
			return sc.Err()
		},
	}
	cmd.Flags().StringVar(&rosterFile, "roster", "", "the site's roster file (JSON, format mynagate-kiosk-roster-v1)")
	cmd.Flags().StringArrayVar(&caFiles, "ca-cert", nil, "a J-LIS authentication CA certificate, DER or PEM (repeatable)")
	cmd.Flags().StringArrayVar(&crlFiles, "crl", nil, "a CRL of those CAs, DER or PEM: the revocation snapshot (repeatable)")
	cmd.Flags().StringVar(&kioskKey, "kiosk-key", "", "PEM file of this kiosk's Ed25519 private key (PKCS#8)")
	cmd.Flags().StringVar(&journal, "journal", "", "file of this kiosk's signed records (appended, read back at start)")
	cmd.Flags().StringArrayVar(&cards, "card", nil, "a card file to tap in-process (repeatable; 'tap N' taps the Nth)")
	cmd.Flags().BoolVar(&facts, "facts", false, "read name and date of birth from the card's support application (same PIN)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per tap")
	sf.register(cmd)
	pt.register(cmd)
	cmd.AddCommand(newGateKioskReconcileCmd(), newGateKioskEnrollCmd())
	return cmd
}

func readRoster(path string) (*kiosk.Roster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read one byte past the bound so that an oversized file is refused as such.
	b, err := io.ReadAll(io.LimitReader(f, kiosk.MaxRosterSize+1))
	if err != nil {
		return nil, err
	}
	return kiosk.ParseRoster(b)
}

func readDERFiles(paths []string, typ string) ([][]byte, error) {
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, readDERorPEM(b, typ))
	}
	return out, nil
}

// kioskTap taps a card: args is "N PIN" for the Nth --card, or "PIN" for the card in the
// PC/SC reader.
func kioskTap(cmd *cobra.Command, k *kiosk.Kiosk, cards []string, pt *pcscTaps, args []string, facts bool) kiosk.Result {
	malformed := func(err error) kiosk.Result { return kiosk.Result{Reason: gate.Malformed, Detail: err.Error()} }
	var file string
	if pt.enabled() {
		if len(args) != 1 || !isAuthPIN(args[0]) {
			return malformed(errors.New("the PIN is 4 digits: give 'tap PIN' (the card is in the reader)"))
		}
	} else {
		i, err := strconv.Atoi(args[0])
		if err != nil || i < 1 || i > len(cards) {
			return malformed(fmt.Errorf("no card %q: give 1 to %d (--card)", args[0], len(cards)))
		}
		file, args = cards[i-1], args[1:]
	}
	ch, err := k.NewChallenge()
	if err != nil {
		return malformed(err)
	}
	var tp *gate.Tap
	var f *gate.CardFacts
	var ferr error
	if pt.enabled() {
		tp, f, ferr, err = pt.tap(cmd.Context(), args[0], ch, facts, false)
	} else {
		tp, f, ferr, err = tapCardFile(cmd.Context(), file, args[0], ch, facts, false)
	}
	if err != nil {
		return malformed(err)
	}
	if ferr != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "card facts not read: %v\n", ferr)
	}
	return k.Tap(tp, f)
}

func printKiosk(w io.Writer, r kiosk.Result, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(map[string]any{"admit": r.Admit, "reason": r.Reason, "detail": r.Detail, "record": r.Record})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	if !r.Admit {
		fmt.Fprintf(w, "REJECT %s: %s\n", r.Reason, r.Detail)
		return
	}
	rec := r.Record
	f := []string{strings.ToUpper(rec.Kind)}
	for _, v := range []string{rec.Person, rec.Name, rec.AgeBand} {
		if v != "" {
			f = append(f, v)
		}
	}
	if rec.Source != "" {
		f = append(f, "("+rec.Source+")")
	}
	fmt.Fprintln(w, strings.Join(f, "  "))
}

func kioskExport(w io.Writer, k *kiosk.Kiosk, what string) error {
	switch what {
	case "roster":
		return kiosk.WriteRosterCSV(w, k.Roster(), k.Records())
	case "records":
		return kiosk.WriteRecordsCSV(w, k.Records())
	case "reconcile":
		return kiosk.WriteReconcileCSV(w, k.Report())
	}
	return fmt.Errorf("no export %q: roster, records or reconcile", what)
}

func kioskDownloads(k *kiosk.Kiosk) []staff.Download {
	var out []staff.Download
	for _, d := range []struct{ what, label string }{{"roster", "export.roster"}, {"records", "export.arrivals"}, {"reconcile", "export.reconcile"}} {
		what := d.what
		out = append(out, staff.Download{Path: "/export/" + what + ".csv", Label: d.label, Serve: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="`+k.Roster().Site+"-"+what+`.csv"`)
			kioskExport(w, k, what)
		}})
	}
	return out
}

func newGateKioskReconcileCmd() *cobra.Command {
	var site, what string
	var pubs []string
	cmd := &cobra.Command{
		Use:   "reconcile JOURNAL...",
		Short: "Merge the journals of a site's kiosks into the list a municipality reconciles (CSV on stdout)",
		Long: `Checks every line of the journals against the kiosks' public keys (--kiosk-pub, repeatable) and
the site, counts a line given twice once, and writes one row per person (--what reconcile: first
arrival, last arrival, last departure, still present, at which kiosks) or every record in time
order (--what records). Lines of an unknown kiosk, of another site, or with a bad signature are
listed on stderr and make the exit status 1, after the CSV of the lines that checked.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("missing JOURNAL: usage: %s", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if site == "" || len(pubs) == 0 {
				return errors.New("--site and --kiosk-pub are required")
			}
			if what != "reconcile" && what != "records" {
				return fmt.Errorf("--what %q: reconcile or records", what)
			}
			var keys []ed25519.PublicKey
			for _, p := range pubs {
				k, err := readEd25519Public(p)
				if err != nil {
					return err
				}
				keys = append(keys, k)
			}
			var lines []gate.SignedRecord
			var from []string // the file of each line, for the messages
			for _, a := range args {
				f, err := os.Open(a)
				if err != nil {
					return err
				}
				recs, err := gate.ReadJournal(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", a, err)
				}
				lines = append(lines, recs...)
				for i := range recs {
					from = append(from, fmt.Sprintf("%s line %d", a, i+1))
				}
			}
			rep := kiosk.Reconcile(site, keys, lines)
			var err error
			if what == "records" {
				err = kiosk.WriteRecordsCSV(cmd.OutOrStdout(), rep.Records)
			} else {
				err = kiosk.WriteReconcileCSV(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return err
			}
			for _, r := range rep.Rejected {
				fmt.Fprintf(cmd.ErrOrStderr(), "rejected %s: %s\n", from[r.Line-1], r.Reason)
			}
			if rep.Duplicates > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d lines seen twice, counted once\n", rep.Duplicates)
			}
			if len(rep.Rejected) > 0 {
				return fmt.Errorf("%d journal lines rejected", len(rep.Rejected))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&site, "site", "", "the site whose records to take")
	cmd.Flags().StringArrayVar(&pubs, "kiosk-pub", nil, "PEM file of a kiosk's Ed25519 public key (repeatable)")
	cmd.Flags().StringVar(&what, "what", "reconcile", "reconcile (one row per person) or records (every arrival and departure)")
	return withoutJSON(cmd, "it writes CSV for a spreadsheet")
}

func newGateKioskEnrollCmd() *cobra.Command {
	var rosterFile, cardFile, pin, id, name, site, mode string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Add a card's holder to a site's roster: the card signs a fresh challenge, its commitment is added",
		Long: `Taps --card (its authentication key signs a fresh challenge with --pin, checked here), computes the
holder commitment under the roster's key and adds {id, holder, name} to --roster. The name is
--name, or else read from the card's support application with the same PIN. A roster file that
does not exist yet is created with --site and --mode (roster or open) and a fresh commit key.
The file is checked whole (kiosk.ParseRoster) and replaced atomically; an id or a card already
on it is refused.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rosterFile == "" || cardFile == "" || pin == "" || id == "" {
				return errors.New("--roster, --card, --pin and --id are required")
			}
			ro, err := readRoster(rosterFile)
			switch {
			case errors.Is(err, os.ErrNotExist) && site != "":
				ro = &kiosk.Roster{Format: kiosk.RosterFormat, Site: site, Mode: mode, CommitKey: make([]byte, 32)}
				if _, err := io.ReadFull(rand.Reader, ro.CommitKey); err != nil {
					return err
				}
			case errors.Is(err, os.ErrNotExist):
				return fmt.Errorf("%s does not exist: give --site (and --mode) to create it", rosterFile)
			case err != nil:
				return err
			}
			nonce := make([]byte, 32)
			if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
				return err
			}
			ch := gate.Challenge{Nonce: nonce, Message: gate.ChallengeMessage(ro.Site, "enroll", "", nonce)}
			tp, facts, ferr, err := tapCardFile(cmd.Context(), cardFile, pin, ch, name == "", false)
			if err != nil {
				return err
			}
			cert, err := x509.ParseCertificate(tp.Certificate)
			if err != nil {
				return fmt.Errorf("the card's certificate: %w", err)
			}
			if err := verify.Signature(cert, ch.Message, tp.Signature); err != nil {
				return fmt.Errorf("the card's signature does not verify: %w", err)
			}
			if name == "" {
				if ferr != nil {
					return fmt.Errorf("no --name, and the card's name could not be read: %w", ferr)
				}
				name = facts.Name
			}
			p := kiosk.Person{ID: id, Holder: manifest.Commit(ro.CommitKey, sha256.Sum256(tp.Certificate)), Name: name}
			ro.Entries = append(ro.Entries, p)
			b, err := json.MarshalIndent(ro, "", "  ")
			if err != nil {
				return err
			}
			if _, err := kiosk.ParseRoster(b); err != nil {
				return err
			}
			tmp := rosterFile + ".tmp"
			if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
				return err
			}
			if err := os.Rename(tmp, rosterFile); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(p)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled %s  %s  (%d on the roster of %s)\n", p.ID, p.Name, len(ro.Entries), ro.Site)
			return nil
		},
	}
	cmd.Flags().StringVar(&rosterFile, "roster", "", "the site's roster file (created with --site when missing)")
	cmd.Flags().StringVar(&cardFile, "card", "", "the card file to enroll (tapped in-process)")
	cmd.Flags().StringVar(&pin, "pin", "", "the card's authentication PIN (and support PIN, for the name)")
	cmd.Flags().StringVar(&id, "id", "", "the person's id on the roster (employee, member or resident number)")
	cmd.Flags().StringVar(&name, "name", "", "the name to show (default: read from the card)")
	cmd.Flags().StringVar(&site, "site", "", "a new roster's site id")
	cmd.Flags().StringVar(&mode, "mode", kiosk.ModeRoster, "a new roster's mode: roster or open")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the entry added as JSON")
	return cmd
}

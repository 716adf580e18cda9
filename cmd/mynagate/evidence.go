package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
)

func init() { register(newEvidenceCmd) }

func newEvidenceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "The evidence log (証跡): verify bundles offline, export a tenant's entries for auditors, audit the stored tree",
		Long: `Every verification attempt, accepted or rejected, is an entry of a Merkle log whose
checkpoints the platform signs (C2SP signed notes, Ed25519). A bundle carries one entry, its
inclusion proof and a checkpoint; anyone holding the log's public key (log.pub) verifies it
offline. See docs/design/evidence.md.`,
	}
	cmd.AddCommand(newEvidenceVerifyCmd(), newEvidenceExportCmd(), newEvidenceAuditCmd(), newEvidenceKeyCmd())
	return cmd
}

// evidenceStoreConfig is what the commands that read the log need: the database and the keys.
type evidenceStoreConfig struct {
	db      string // store DSN
	dataDir string // holds evidence/ with the log's keys
	origin  string // the log's origin
}

func (c *evidenceStoreConfig) flags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&c.db, "db", "", "store: sqlite:PATH or postgres://user@host:port/db (as for serve)")
	fl.StringVar(&c.dataDir, "data", "mynagate-data", "data directory of the platform; the log's keys are in its evidence/ directory")
	fl.StringVar(&c.origin, "origin", evidence.DefaultOrigin, "origin of the log's checkpoints (the name of its key)")
}

// keyDir is where the log's keys live in a platform data directory.
func evidenceKeyDir(dataDir string) string { return filepath.Join(dataDir, "evidence") }

// openLog opens the store and the log over it. The store MUST implement evidence.Storage.
func (c *evidenceStoreConfig) openLog(ctx context.Context) (*evidence.Log, func() error, error) {
	l, _, closeStore, err := c.openLogStore(ctx)
	return l, closeStore, err
}

// openLogStore is openLog that also returns the store.
func (c *evidenceStoreConfig) openLogStore(ctx context.Context) (*evidence.Log, *store.Store, func() error, error) {
	if c.db == "" {
		return nil, nil, nil, errors.New("--db is required (sqlite:PATH or postgres://...)")
	}
	// Reading a log never makes keys: a data directory without them is a wrong --data, and a
	// fresh key would only fail every checkpoint later, as another log's.
	dir := evidenceKeyDir(c.dataDir)
	if _, err := os.Stat(filepath.Join(dir, evidence.SigningKeyFile)); err != nil {
		return nil, nil, nil, fmt.Errorf("no evidence log keys in %s: --data names the platform's data directory (serve --data), where they are kept", dir)
	}
	keys, err := evidence.LoadKeys(dir, c.origin, rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := requireDB(c.db); err != nil {
		return nil, nil, nil, err
	}
	st, err := store.Open(ctx, c.db)
	if err != nil {
		return nil, nil, nil, err
	}
	es, ok := any(st).(evidence.Storage)
	if !ok {
		st.Close()
		return nil, nil, nil, fmt.Errorf("the store of this build keeps no evidence log (store.Store does not implement evidence.Storage): there are no entries to read at %s", redactDSN(c.db))
	}
	l, err := evidence.New(es, keys)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return l, st, st.Close, nil
}

// redactDSN hides a password in a PostgreSQL URL.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "@"); i > 0 && strings.Contains(dsn[:i], "://") {
		scheme, rest, _ := strings.Cut(dsn[:i], "://")
		user, _, _ := strings.Cut(rest, ":")
		return scheme + "://" + user + dsn[i:]
	}
	return dsn
}

// readPublicKey reads a log public key from a file, or takes the argument as the key itself.
func readPublicKey(arg string) (*evidence.PublicKey, error) {
	if arg == "" {
		return nil, errors.New("--log-key is required: the log's public key (log.pub, or its text), obtained from the platform out of band")
	}
	text := arg
	if b, err := os.ReadFile(arg); err == nil {
		text = string(b)
	} else if !strings.Contains(arg, "+") {
		return nil, fmt.Errorf("read --log-key: %w", err)
	}
	return evidence.ParsePublicKey(text)
}

func newEvidenceVerifyCmd() *cobra.Command {
	var keyArg, since string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify FILE --log-key PUB",
		Short: "Verify an evidence bundle, consistency bundle or export offline, with the log's public key",
		Long: `Verify an evidence file without any network access, against the log public key you trust
(--log-key: the file log.pub or its text). FILE is an evidence bundle (one entry, its inclusion proof,
a signed checkpoint and, if disclosed, the sealed personal data with its key), a consistency bundle
(two checkpoints and the proof that the older one is a prefix of the newer), or an export (a
tenant's entries over a period, signed by the log). Any changed byte, a wrong key, or an older
checkpoint that is not a prefix of a newer one is reported, and the command exits with status 1.

With --checkpoint OLD, a consistency bundle must start at the checkpoint you kept (OLD), so a
log that shows you a different history than before is caught.`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			defer func() { err = verifyErrorLine(err) }()
			key, err := readPublicKey(keyArg)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			format := evidence.DocumentFormat(data)
			if since != "" && format != evidence.FormatConsistency {
				return errors.New("--checkpoint applies to consistency bundles only")
			}
			switch format {
			case evidence.FormatBundle:
				v, err := evidence.VerifyBundle(data, key)
				if err != nil {
					return err
				}
				if asJSON {
					return printVerifiedJSON(out, v)
				}
				printVerified(out, key, v)
			case evidence.FormatConsistency:
				older, newer, err := evidence.VerifyConsistency(data, key)
				if err != nil {
					return err
				}
				if since != "" {
					if err := checkSince(since, key, older); err != nil {
						return err
					}
				}
				if asJSON {
					return printJSON(cmd, map[string]any{"ok": true, "format": "consistency", "origin": key.Origin(),
						"older": checkpointJSON{older.Size, older.Root[:]}, "newer": checkpointJSON{newer.Size, newer.Root[:]}})
				}
				fmt.Fprintf(out, "OK: the checkpoint of size %d is a prefix of the checkpoint of size %d\n", older.Size, newer.Size)
				fmt.Fprintf(out, "  log      %s (key %s)\n", key.Origin(), key.ID())
				fmt.Fprintf(out, "  older    size %d, root %s\n", older.Size, b64(older.Root[:]))
				fmt.Fprintf(out, "  newer    size %d, root %s\n", newer.Size, b64(newer.Root[:]))
			case evidence.FormatExport:
				bar := newProgress(cmd, -1, progressbar.OptionSetDescription("entries verified"),
					progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }))
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				sum, err := evidence.VerifyExport(f, key, func(done int64) { bar.Set64(done) })
				bar.Finish()
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd, map[string]any{"ok": true, "format": "export", "origin": key.Origin(), "tenant_id": sum.TenantID,
						"from": sum.From.UTC(), "to": sum.To.UTC(), "entries": sum.Count, "disclosed": sum.Disclosed,
						"checkpoint": checkpointJSON{sum.Checkpoint.Size, sum.Checkpoint.Root[:]}})
				}
				fmt.Fprintf(out, "OK: export of %d entries verified offline\n", sum.Count)
				fmt.Fprintf(out, "  log        %s (key %s)\n", key.Origin(), key.ID())
				fmt.Fprintf(out, "  checkpoint size %d, root %s\n", sum.Checkpoint.Size, b64(sum.Checkpoint.Root[:]))
				fmt.Fprintf(out, "  tenant     %s, %s to %s\n", sum.TenantID, humanTime(sum.From), humanTime(sum.To))
				fmt.Fprintf(out, "  entries    %d, %d with personal data disclosed and matching their commitments\n", sum.Count, sum.Disclosed)
			default:
				return fmt.Errorf("%s is not an evidence bundle, consistency bundle or export (no known \"format\" on its first line)", args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyArg, "log-key", "", "the log's public key: a file (log.pub) or the key text (origin+hash+base64)")
	deprecatedAlias(cmd, "key", "log-key")
	cmd.Flags().StringVar(&since, "checkpoint", "", "a checkpoint you kept earlier (signed note file): the consistency bundle must start from it")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (times in UTC)")
	return cmd
}

// verifyErrorLine gives a failed verification as its reason and what it means, on one line: the
// proof library's own error, with both hashes as byte lists, says nothing more to a person.
func verifyErrorLine(err error) error {
	var ve *evidence.VerifyError
	if errors.As(err, &ve) && ve.Detail != "" {
		return fmt.Errorf("evidence: %s: %s", ve.Reason, ve.Detail)
	}
	return err
}

// checkSince compares the older checkpoint of a consistency bundle with one the user kept.
func checkSince(path string, key *evidence.PublicKey, older evidence.Checkpoint) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read --checkpoint: %w", err)
	}
	kept, err := evidence.ParseCheckpoint(b, key)
	if err != nil {
		return fmt.Errorf("--checkpoint %s: %w", path, err)
	}
	if kept != older {
		if kept.Size == older.Size {
			return fmt.Errorf("evidence: %s: the log now shows a different tree of size %d than the checkpoint you kept: the log forked", evidence.ReasonInconsistent, kept.Size)
		}
		return fmt.Errorf("the consistency bundle starts at size %d, the checkpoint you kept has size %d: ask the log for a proof from size %d", older.Size, kept.Size, kept.Size)
	}
	return nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func printVerified(w io.Writer, key *evidence.PublicKey, v *evidence.Verified) {
	l := v.Leaf
	fmt.Fprintln(w, "OK: evidence bundle verified offline")
	fmt.Fprintf(w, "  log        %s (key %s)\n", key.Origin(), key.ID())
	fmt.Fprintf(w, "  checkpoint size %d, root %s\n", v.Checkpoint.Size, b64(v.Checkpoint.Root[:]))
	fmt.Fprintf(w, "  entry      #%d: %s of tenant %s, session %s\n", v.Index, l.ID, l.TenantID, l.SessionID)
	decision := l.Decision.String()
	if l.Reason != "" {
		decision += " (" + l.Reason + ")"
	}
	fmt.Fprintf(w, "  decision   %s %s at %s\n", l.Purpose, decision, humanTime(l.Time))
	switch l.Method {
	case evidence.MethodCRL:
		fmt.Fprintf(w, "  revocation CRL number %s, thisUpdate %s\n", l.CRLNumber, humanTime(l.CRLThisUpdate))
	case evidence.MethodOCSP:
		fmt.Fprintln(w, "  revocation OCSP (the response is in the personal data)")
	default:
		fmt.Fprintln(w, "  revocation not checked (rejected before)")
	}
	if p := v.Personal; p != nil {
		fmt.Fprintf(w, "  personal   disclosed, matches the entry's commitments: certificate %d bytes, signature %d bytes, %d facts\n",
			len(p.Certificate), len(p.Signature), len(p.Facts))
	} else if len(v.Disclosed) > 0 {
		names := slices.Sorted(maps.Keys(v.Disclosed))
		fmt.Fprintf(w, "  personal   %d items disclosed one by one, each matching its commitment: %s (the certificate is not disclosed)\n",
			len(names), strings.Join(names, ", "))
	} else {
		fmt.Fprintln(w, "  personal   not disclosed in this bundle (or shredded after the retention period)")
	}
	if !v.Leaf.RetainUntil.IsZero() {
		fmt.Fprintf(w, "  retention  until %s\n", humanTime(v.Leaf.RetainUntil))
	}
}

// verifiedJSON is the --json form of a verified bundle.
type verifiedJSON struct {
	Origin      string            `json:"origin"`
	TreeSize    uint64            `json:"tree_size"`
	Root        []byte            `json:"root"`
	Index       uint64            `json:"index"`
	ID          string            `json:"id"`
	SessionID   string            `json:"session_id"`
	TenantID    string            `json:"tenant_id"`
	Purpose     string            `json:"purpose"`
	Time        time.Time         `json:"time"`
	Decision    string            `json:"decision"`
	Reason      string            `json:"reason,omitempty"`
	Challenge   []byte            `json:"challenge"`
	Method      string            `json:"revocation_method"`
	CRLNumber   string            `json:"crl_number,omitempty"`
	CRLThis     *time.Time        `json:"crl_this_update,omitempty"`
	Certificate []byte            `json:"certificate,omitempty"`
	Signature   []byte            `json:"signature,omitempty"`
	OCSP        []byte            `json:"ocsp_response,omitempty"`
	Detail      string            `json:"detail,omitempty"`
	Subject     string            `json:"subject,omitempty"`
	Facts       map[string]string `json:"facts,omitempty"`
	Disclosed   bool              `json:"personal_data_disclosed"`
	Items       map[string]string `json:"disclosed_items,omitempty"`
	RetainUntil *time.Time        `json:"retain_until,omitempty"`
}

func printVerifiedJSON(w io.Writer, v *evidence.Verified) error {
	l := v.Leaf
	j := verifiedJSON{Origin: v.Checkpoint.Origin, TreeSize: v.Checkpoint.Size, Root: v.Checkpoint.Root[:], Index: v.Index,
		ID: l.ID, SessionID: l.SessionID, TenantID: l.TenantID, Purpose: l.Purpose, Time: l.Time, Decision: l.Decision.String(),
		Reason: l.Reason, Challenge: l.Challenge, Method: string(l.Method), CRLNumber: l.CRLNumber}
	if !l.CRLThisUpdate.IsZero() {
		j.CRLThis = &l.CRLThisUpdate
	}
	j.Items = v.Disclosed
	if !l.RetainUntil.IsZero() {
		j.RetainUntil = &l.RetainUntil
	}
	if p := v.Personal; p != nil {
		j.Disclosed = true
		j.Certificate, j.Signature, j.OCSP, j.Detail, j.Subject, j.Facts = p.Certificate, p.Signature, p.OCSPResponse, p.Detail, p.Subject, p.Facts
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

// parsePeriodBound parses --from/--to: a JST calendar date (the whole day; end=true gives the
// start of the next day) or an RFC 3339 time.
func parsePeriodBound(s string, end bool) (time.Time, error) {
	if d, err := time.ParseInLocation("2006-01-02", s, jpki.JST); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither YYYY-MM-DD (JST) nor an RFC 3339 time", s)
	}
	return t, nil
}

func newEvidenceExportCmd() *cobra.Command {
	var cfg evidenceStoreConfig
	var tenant, from, to, out string
	var noPersonal, asJSON bool
	cmd := &cobra.Command{
		Use:   "export --tenant T --from DATE --to DATE --out FILE",
		Short: "Write a tenant's entries over a period as an auditor's package, verifiable offline",
		Long: `Write the entries of one tenant made between --from and --to (YYYY-MM-DD in JST, --to
inclusive; or RFC 3339 times, --to exclusive) to FILE, each with its inclusion proof into the
latest signed checkpoint and, unless --no-personal, its personal data and data key. The log signs
the whole file. 'mynagate evidence verify FILE --log-key log.pub' checks it offline.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" || from == "" || to == "" || out == "" {
				return errors.New("--tenant, --from, --to and --out are required")
			}
			start, err := parsePeriodBound(from, false)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			end, err := parsePeriodBound(to, true)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if !start.Before(end) {
				return errors.New("--from must be before --to")
			}
			ctx := cmd.Context()
			l, st, closeStore, err := cfg.openLogStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			// An unknown tenant is a mistyped --tenant, not an empty export.
			ten, err := st.Tenant(ctx, tenant)
			if errors.Is(err, platform.ErrNotFound) {
				return fmt.Errorf("--tenant %s: no such tenant in %s", tenant, redactDSN(cfg.db))
			} else if err != nil {
				return err
			}
			// The export discloses what the tenant may see: the certificate and everything only
			// to a tenant allowed every fact (since before --from: a widened allowance does not
			// reach back), the facts it may see one by one to another.
			d := ten.EvidenceDisclosure(start)
			if noPersonal {
				d = evidence.Disclosure{}
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			progress := func(done, total int64) {
				if bar == nil {
					bar = newProgress(cmd, total, progressbar.OptionSetDescription("entries exported"),
						progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }))
				}
				bar.Set64(done)
			}
			sum, err := l.Export(ctx, f, evidence.ExportQuery{TenantID: tenant, From: start, To: end, Disclose: d.Full, Items: d.Items}, progress)
			if bar != nil {
				bar.Finish()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out)
				return err
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"file": out, "tenant_id": tenant, "entries": sum.Count, "from": sum.From.UTC(), "to": sum.To.UTC(),
					"checkpoint": checkpointJSON{sum.Checkpoint.Size, sum.Checkpoint.Root[:]}})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %d entries of tenant %s (%s to %s) with proofs into the checkpoint of size %d to %s\n",
				sum.Count, tenant, humanTime(sum.From), humanTime(sum.To), sum.Checkpoint.Size, out)
			return nil
		},
	}
	cfg.flags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&tenant, "tenant", "", "tenant id (t_…)")
	fl.StringVar(&from, "from", "", "start: YYYY-MM-DD (JST) or RFC 3339")
	fl.StringVar(&to, "to", "", "end: YYYY-MM-DD (JST, inclusive) or RFC 3339 (exclusive)")
	fl.StringVar(&out, "out", "", "file to write")
	fl.BoolVar(&noPersonal, "no-personal", false, "leave out personal data and data keys")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newEvidenceAuditCmd() *cobra.Command {
	var cfg evidenceStoreConfig
	var asJSON bool
	var keptFiles []string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Recompute the tree from the stored entries and compare it with every stored checkpoint",
		Long: `Read every entry of the log from the store, recompute each leaf hash, every tile and the
root, and compare them with the stored tree and with every checkpoint the log signed (their
signatures are verified too). Personal data still held is checked against its commitments; what
the platform serves about each verification beside it (decision, reason, person, certificate
serial, detail, event payload, retention end) against the leaf's commitment; personal data
shredded before its retention end is reported. --checkpoint FILE (repeatable) names a
checkpoint kept by a tenant or a witness (from a bundle, a webhook's Mynagate-Evidence-Checkpoint
header, or GET /v1/evidence/checkpoint): the stored log must extend it, and its stored
checkpoints reach it, or the log was rolled back or checkpoints deleted.
Exits with status 1 at the first discrepancy, saying where it is.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			l, closeStore, err := cfg.openLog(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			var kept []evidence.Checkpoint
			for _, f := range keptFiles {
				c, err := readKeptCheckpoint(f, l.PublicKey())
				if err != nil {
					return err
				}
				kept = append(kept, c)
			}
			var bar *progressbar.ProgressBar
			rep, err := l.Audit(ctx, func(done, total uint64) {
				if bar == nil {
					bar = newProgress(cmd, int64(total), progressbar.OptionSetDescription("entries audited"),
						progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(cmd.ErrOrStderr()) }))
				}
				bar.Set64(int64(done))
			}, kept...)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			if asJSON {
				j := map[string]any{"ok": true, "entries": rep.Size, "root": rep.Root[:], "checkpoints": rep.Checkpoints,
					"sealed": rep.Sealed, "shredded": rep.Shredded, "overdue": rep.Overdue, "verifications": rep.Served, "kept_checkpoints": rep.Kept}
				if rep.Latest != nil {
					j["latest_checkpoint_size"] = rep.Latest.Size
				}
				return printJSON(cmd, j)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "OK: the stored log recomputes to its tree and to every checkpoint it signed\n")
			fmt.Fprintf(out, "  entries     %d, root %s\n", rep.Size, b64(rep.Root[:]))
			if rep.Latest != nil {
				fmt.Fprintf(out, "  checkpoints %d verified; the latest has size %d\n", rep.Checkpoints, rep.Latest.Size)
			} else {
				fmt.Fprintln(out, "  checkpoints none published yet")
			}
			fmt.Fprintf(out, "  personal    %d sealed and matching their commitments, %d shredded, %d past retention awaiting shredding\n", rep.Sealed, rep.Shredded, rep.Overdue)
			fmt.Fprintf(out, "  served      %d verifications as stored match their entries\n", rep.Served)
			if len(kept) > 0 {
				fmt.Fprintf(out, "  kept        %d checkpoints kept elsewhere are extended by the stored log\n", rep.Kept)
			}
			return nil
		},
	}
	cfg.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringArrayVar(&keptFiles, "checkpoint", nil, "a checkpoint kept by a tenant or witness: a signed note, a bundle holding one, or its base64 (repeatable)")
	return cmd
}

func newEvidenceKeyCmd() *cobra.Command {
	var dataDir, origin string
	var initKeys, asJSON bool
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Print the log's public key, to give to auditors",
		Long: `Print the public key of the evidence log whose keys are in the platform's data directory
(--data, as for serve). serve makes the keys on its first start; --init makes them now if they do
not exist yet. Without --init a data directory without keys is an error, so that a mistyped
--data never hands auditors the key of a log that does not exist.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := evidenceKeyDir(dataDir)
			if _, err := os.Stat(filepath.Join(dir, evidence.SigningKeyFile)); err != nil && !initKeys {
				return fmt.Errorf("no evidence log keys in %s: --data names the platform's data directory (serve --data), where they are kept; --init makes new ones", dir)
			}
			keys, err := evidence.LoadKeys(dir, origin, rand.Reader)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, map[string]string{"key": keys.Public.String(), "origin": keys.Public.Origin(), "key_id": keys.Public.ID()})
			}
			fmt.Fprintln(cmd.OutOrStdout(), keys.Public.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "mynagate-data", "data directory of the platform; the log's keys are in its evidence/ directory")
	cmd.Flags().StringVar(&origin, "origin", evidence.DefaultOrigin, "origin of the log's checkpoints")
	cmd.Flags().BoolVar(&initKeys, "init", false, "make the log's keys if the data directory has none yet")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// checkpointJSON is a checkpoint's size and root hash (base64) in JSON output.
type checkpointJSON struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

// readKeptCheckpoint reads a checkpoint someone kept: the signed note itself, an evidence bundle
// (its checkpoint), or the base64 of the note as a webhook's Mynagate-Evidence-Checkpoint header
// carries it. Its signature is verified with the log's key.
func readKeptCheckpoint(path string, key *evidence.PublicKey) (evidence.Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return evidence.Checkpoint{}, fmt.Errorf("--checkpoint: %w", err)
	}
	msg := data
	if evidence.DocumentFormat(data) == evidence.FormatBundle {
		var b evidence.Bundle
		if err := json.Unmarshal(data, &b); err != nil {
			return evidence.Checkpoint{}, fmt.Errorf("--checkpoint %s: %w", path, err)
		}
		msg = []byte(b.Checkpoint)
	} else if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data))); err == nil {
		msg = dec
	}
	c, err := evidence.ParseCheckpoint(msg, key)
	if err != nil {
		return evidence.Checkpoint{}, fmt.Errorf("--checkpoint %s: not a checkpoint signed by this log's key: %w", path, err)
	}
	return c, nil
}

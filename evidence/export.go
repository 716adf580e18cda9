package evidence

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// An export is an auditor's package of one tenant's entries over a period: JSON Lines, each line
// canonical JSON like a bundle.
//
//	line 1      ExportHeader   the log key, one signed checkpoint, the tenant and the period
//	lines 2…n   ExportEntry    one per entry, by ascending index, each with its inclusion proof
//	                           into the header's checkpoint (and its personal data, disclosed)
//	last line   ExportTrailer  the number of entries and the log's signed attestation over
//	                           every line before it
//
// The inclusion proofs prove that each entry is in the log. They cannot prove that no entry of
// the tenant was left out (that needs the whole log, which C2SP tiles let an auditor mirror);
// the attestation is the log's signed statement that these are all of them, which the log
// cannot later deny. It is a signed note by the log's key whose text is
//
//	<origin>/export
//	<number of entries>
//	<base64 SHA-256 of every line before the trailer, newlines included>
//
// Its first line is never a checkpoint's (a checkpoint starts with the origin itself), so the
// one key can sign both without one being taken for the other.

// ExportHeader is the first line of an export.
type ExportHeader struct {
	Format     string `json:"format"` // FormatExport
	LogKey     string `json:"log_key"`
	Checkpoint string `json:"checkpoint"`
	TenantID   string `json:"tenant_id"`
	From       string `json:"from"` // RFC 3339, inclusive
	To         string `json:"to"`   // RFC 3339, exclusive
}

// ExportEntry is one entry line of an export.
type ExportEntry struct {
	Index     uint64      `json:"index"`
	Leaf      []byte      `json:"leaf"`
	Inclusion [][]byte    `json:"inclusion"`
	Sealed    []byte      `json:"sealed,omitempty"`
	DataKey   []byte      `json:"data_key,omitempty"`
	Disclosed []Disclosed `json:"disclosed,omitempty"`
}

// ExportTrailer is the last line of an export.
type ExportTrailer struct {
	End         string `json:"end"` // FormatExport
	Count       int64  `json:"count"`
	Attestation string `json:"attestation"` // signed note over the lines before
}

// attestationText is the text of an export's attestation note.
func attestationText(origin string, count int64, digest []byte) string {
	return fmt.Sprintf("%s/export\n%d\n%s\n", origin, count, base64.StdEncoding.EncodeToString(digest))
}

// ExportQuery selects what Export writes.
type ExportQuery struct {
	TenantID string
	From, To time.Time // From ≤ entry time < To
	// Disclose includes the personal data and data keys of entries not yet shredded.
	Disclose bool
	// Items, without Disclose, includes these items of the personal data one by one (see
	// Disclosure): what a tenant not allowed the certificate may see.
	Items []string
}

// ExportSummary says what an export holds.
type ExportSummary struct {
	Checkpoint Checkpoint
	TenantID   string
	From, To   time.Time
	Count      int64 // entries
	Disclosed  int64 // entries with personal data
}

// Export writes a tenant's integrated entries in [q.From, q.To) as an export, with proofs into
// the latest checkpoint (published first, so that entries integrated a moment ago are covered).
// progress, if not nil, is called after each page of entries with the count so far and the
// total.
func (l *Log) Export(ctx context.Context, w io.Writer, q ExportQuery, progress func(done, total int64)) (*ExportSummary, error) {
	if q.TenantID == "" || !q.From.Before(q.To) {
		return nil, errors.New("evidence: export needs a tenant and a period whose start is before its end")
	}
	cp, err := l.Publish(ctx)
	if err != nil {
		return nil, err
	}
	verified, err := ParseCheckpoint(cp.Note, l.keys.Public)
	if err != nil {
		return nil, fmt.Errorf("evidence: the latest checkpoint does not verify: %w", err)
	}
	tq := TenantQuery{TenantID: q.TenantID, From: q.From.UTC(), To: q.To.UTC(), Limit: 500}
	total, err := l.store.CountTenantEntries(ctx, tq)
	if err != nil {
		return nil, fmt.Errorf("evidence: count entries: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	digest := sha256.New()
	sum := &ExportSummary{Checkpoint: verified, TenantID: q.TenantID, From: tq.From, To: tq.To}
	write := func(v any) error {
		b, err := marshalCanonical(v)
		if err != nil {
			return err
		}
		digest.Write(b)
		_, err = bw.Write(b)
		return err
	}
	err = write(ExportHeader{Format: FormatExport, LogKey: l.keys.Public.String(), Checkpoint: string(cp.Note),
		TenantID: q.TenantID, From: tq.From.Format(time.RFC3339Nano), To: tq.To.Format(time.RFC3339Nano)})
	if err != nil {
		return nil, fmt.Errorf("evidence: write export: %w", err)
	}
	for {
		es, err := l.store.TenantEntries(ctx, tq)
		if err != nil {
			return nil, fmt.Errorf("evidence: read entries of tenant %s: %w", q.TenantID, err)
		}
		for i := range es {
			e := &es[i]
			if e.Index >= cp.Size {
				continue // integrated after the checkpoint; the next export covers it
			}
			b, err := l.bundleAt(ctx, e, cp, Disclosure{Full: q.Disclose, Items: q.Items})
			if err != nil {
				return nil, err
			}
			if err := write(ExportEntry{Index: b.Index, Leaf: b.Leaf, Inclusion: b.Inclusion, Sealed: b.Sealed, DataKey: b.DataKey, Disclosed: b.Disclosed}); err != nil {
				return nil, fmt.Errorf("evidence: write export: %w", err)
			}
			sum.Count++
			if b.DataKey != nil || len(b.Disclosed) > 0 {
				sum.Disclosed++
			}
		}
		if progress != nil {
			progress(sum.Count, total)
		}
		if len(es) < tq.Limit {
			break
		}
		tq.StartIndex = es[len(es)-1].Index + 1
	}
	att, err := note.Sign(&note.Note{Text: attestationText(l.origin, sum.Count, digest.Sum(nil))}, l.keys.Signer)
	if err != nil {
		return nil, fmt.Errorf("evidence: sign export: %w", err)
	}
	if err := write(ExportTrailer{End: FormatExport, Count: sum.Count, Attestation: string(att)}); err != nil {
		return nil, fmt.Errorf("evidence: write export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("evidence: write export: %w", err)
	}
	return sum, nil
}

// VerifyExport verifies an export offline against the log's public key: the header's signed
// checkpoint, every entry's inclusion proof and disclosed personal data, that every entry is
// the header's tenant's and in its period, that indexes ascend, and that the trailer's signed
// attestation covers exactly these lines and counts the entries. progress, if not nil, is called with the number of entries verified so far, every
// 1000 entries.
func VerifyExport(r io.Reader, key *PublicKey, progress func(done int64)) (*ExportSummary, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	lineNo := 0
	next := func() ([]byte, error) {
		line, err := br.ReadBytes('\n')
		if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
			return nil, err
		}
		lineNo++
		return line, nil
	}
	first, err := next()
	if err != nil {
		return nil, verifyErr(ReasonMalformed, "the export is empty")
	}
	digest := sha256.New()
	digest.Write(first)
	var h ExportHeader
	if err := unmarshalCanonical(first, &h, "export header"); err != nil {
		return nil, err
	}
	if h.Format != FormatExport {
		return nil, verifyErr(ReasonUnsupportedVersion, "the file is a %q document, not an export (%s)", h.Format, FormatExport)
	}
	if err := checkLogKey(h.LogKey, key, "export"); err != nil {
		return nil, err
	}
	cp, err := openCheckpoint([]byte(h.Checkpoint), key, "export's checkpoint")
	if err != nil {
		return nil, err
	}
	sum := &ExportSummary{Checkpoint: cp, TenantID: h.TenantID}
	if sum.From, err = parseExportTime(h.From); err == nil {
		sum.To, err = parseExportTime(h.To)
	}
	if err != nil {
		return nil, &VerifyError{Reason: ReasonMalformed, Detail: "the export's period is not RFC 3339", Err: err}
	}
	var lastIndex uint64
	line, err := next()
	for {
		if err != nil {
			return nil, verifyErr(ReasonMalformed, "the export ends at line %d without its trailer: it was truncated", lineNo)
		}
		following, nerr := next()
		if nerr != nil && !errors.Is(nerr, io.EOF) {
			return nil, fmt.Errorf("evidence: read export: %w", nerr)
		}
		if nerr != nil { // line is the last one: the trailer
			var e ExportEntry
			if json.Unmarshal(line, &e) == nil && len(e.Leaf) > 0 {
				return nil, verifyErr(ReasonInconsistent, "the export ends with an entry on line %d, without its trailer: it was truncated", lineNo)
			}
			var t ExportTrailer
			if err := unmarshalCanonical(line, &t, fmt.Sprintf("export trailer (line %d)", lineNo)); err != nil {
				return nil, err
			}
			if t.End != FormatExport || t.Count != sum.Count {
				return nil, verifyErr(ReasonInconsistent, "the export's trailer counts %d entries, the file has %d: entries were added or removed", t.Count, sum.Count)
			}
			text, err := openNote([]byte(t.Attestation), key, "export's attestation")
			if err != nil {
				return nil, err
			}
			if text != attestationText(key.Origin(), sum.Count, digest.Sum(nil)) {
				return nil, verifyErr(ReasonInconsistent, "the log's signed attestation is not over this file's %d entries and header: lines were altered, added or removed", sum.Count)
			}
			return sum, nil
		}
		var e ExportEntry
		if err := unmarshalCanonical(line, &e, fmt.Sprintf("export entry on line %d", lineNo-1)); err != nil {
			return nil, err
		}
		v, err := verifyEntry(cp, e.Index, e.Leaf, e.Inclusion, e.Sealed, e.DataKey, e.Disclosed)
		if err != nil {
			var ve *VerifyError
			if errors.As(err, &ve) {
				ve.Detail = fmt.Sprintf("line %d: %s", lineNo-1, ve.Detail)
			}
			return nil, err
		}
		switch {
		case v.Leaf.TenantID != h.TenantID:
			return nil, verifyErr(ReasonInconsistent, "line %d: entry %s is of tenant %s, the export is of %s", lineNo-1, v.Leaf.ID, v.Leaf.TenantID, h.TenantID)
		case v.Leaf.Time.Before(sum.From) || !v.Leaf.Time.Before(sum.To):
			return nil, verifyErr(ReasonInconsistent, "line %d: entry %s is of %s, outside the export's period", lineNo-1, v.Leaf.ID, v.Leaf.Time.Format(time.RFC3339))
		case sum.Count > 0 && e.Index <= lastIndex:
			return nil, verifyErr(ReasonInconsistent, "line %d: entry index %d does not ascend (after %d): an entry was repeated or moved", lineNo-1, e.Index, lastIndex)
		}
		digest.Write(line)
		lastIndex = e.Index
		sum.Count++
		if v.Personal != nil || len(v.Disclosed) > 0 {
			sum.Disclosed++
		}
		if progress != nil && sum.Count%1000 == 0 {
			progress(sum.Count)
		}
		line, err = following, nil
	}
}

func parseExportTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Format(time.RFC3339Nano) != s || t.Location() != time.UTC {
		return time.Time{}, fmt.Errorf("%q is not in UTC canonical form", s)
	}
	return t, nil
}

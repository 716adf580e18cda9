package jlis

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
)

// CRLInfo describes the current CRL of a CA.
type CRLInfo struct {
	CA         string
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int64
	Path       string // the DER file in the data directory
	Size       int64
}

// CRL returns the current full CRL of the named CA. Under a publication schedule it is the CRL
// published last (one is published first if there is none), answered without waiting for a
// CRL being built. Under the on-revocation schedule a new one is generated first when a
// certificate was revoked since the last one or the last one is older than the CRL interval.
// The CRL number increases by one with every generation and is never reused.
func (s *Simulator) CRL(ctx context.Context, name string) (*CRLInfo, error) {
	a, err := s.authority(name)
	if err != nil {
		return nil, err
	}
	if !s.schedule.OnRevocation {
		if info, err := s.publishedCRL(ctx, name); err != nil || info != nil {
			return info, err
		}
		s.crlMu.Lock()
		defer s.crlMu.Unlock()
		if info, err := s.publishedCRL(ctx, name); err != nil || info != nil {
			return info, err // published while this call waited
		}
		var number int64
		if err := s.db.QueryRowContext(ctx, `SELECT crl_number FROM ca WHERE name = ?`, name).Scan(&number); err != nil {
			return nil, fmt.Errorf("jlis: read CRL state of %s: %w", name, err)
		}
		return s.generateCRL(ctx, a, number+1, s.clk.Now().UTC().Truncate(time.Second))
	}
	s.crlMu.Lock()
	defer s.crlMu.Unlock()
	var number, thisUpdate int64
	var file string
	var dirty bool
	if err := s.db.QueryRowContext(ctx, `SELECT crl_number, crl_this_update, crl_file, dirty FROM ca WHERE name = ?`, name).Scan(&number, &thisUpdate, &file, &dirty); err != nil {
		return nil, fmt.Errorf("jlis: read CRL state of %s: %w", name, err)
	}
	now := s.clk.Now().UTC().Truncate(time.Second)
	if !dirty && file != "" && now.Before(time.Unix(thisUpdate, 0).Add(s.crlEvery)) {
		if info, err := s.crlInfo(a, number, thisUpdate, file); err == nil {
			return info, nil
		}
		// the file went missing: fall through and generate a new CRL
	}
	return s.generateCRL(ctx, a, number+1, now)
}

func (s *Simulator) crlInfo(a *authority, number, thisUpdate int64, file string) (*CRLInfo, error) {
	path := filepath.Join(s.dir, "crl", file)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("jlis: CRL file: %w", err)
	}
	tu := time.Unix(thisUpdate, 0).UTC()
	var entries int64
	if err := s.db.QueryRow(`SELECT v FROM meta WHERE k = ?`, "crl_entries_"+string(a.name)).Scan(&entries); err != nil && err != sql.ErrNoRows {
		return nil, fmt.Errorf("jlis: CRL entry count: %w", err)
	}
	return &CRLInfo{CA: string(a.name), Number: number, ThisUpdate: tu, NextUpdate: s.nextUpdate(tu), Entries: entries, Path: path, Size: fi.Size()}, nil
}

// nextUpdate is the nextUpdate of a CRL issued at thisUpdate: the next publication under a
// schedule, thisUpdate + the CRL interval on revocation.
func (s *Simulator) nextUpdate(thisUpdate time.Time) time.Time {
	if s.schedule.OnRevocation {
		return thisUpdate.Add(s.crlEvery)
	}
	return s.schedule.next(thisUpdate)
}

// generateCRL writes CRL number n to a new file and records it. The file is written under a
// temporary name and renamed, so a reader never sees a partial CRL; the state row changes only
// after the file is complete.
func (s *Simulator) generateCRL(ctx context.Context, a *authority, n int64, now time.Time) (*CRLInfo, error) {
	dir := filepath.Join(s.dir, "crl")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jlis: CRL directory: %w", err)
	}
	// Read the dirty flag's generation before reading entries: a revocation that lands while
	// the CRL is written sets dirty again and is picked up by the next generation.
	if _, err := s.db.ExecContext(ctx, `UPDATE ca SET dirty = 0 WHERE name = ?`, string(a.name)); err != nil {
		return nil, fmt.Errorf("jlis: CRL state: %w", err)
	}
	name := fmt.Sprintf("%s-%d.crl", a.name, n)
	tmp, err := os.CreateTemp(dir, ".crl-*")
	if err != nil {
		return nil, fmt.Errorf("jlis: CRL file: %w", err)
	}
	defer os.Remove(tmp.Name())
	entries := func(yield func(crlEntry) error) error {
		// Entries of expired certificates are dropped, as RFC 5280 §3.3 allows.
		rows, err := s.db.QueryContext(ctx, `SELECT serial, revoked_at, reason, invalidity FROM cert WHERE ca = ? AND revoked_at IS NOT NULL AND not_after > ? ORDER BY serial`, string(a.name), now.Unix())
		if err != nil {
			return fmt.Errorf("jlis: read revoked certificates: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var serial, at int64
			var reason, inv sql.NullInt64
			if err := rows.Scan(&serial, &at, &reason, &inv); err != nil {
				return fmt.Errorf("jlis: read revoked certificates: %w", err)
			}
			e := crlEntry{Serial: serial, RevokedAt: time.Unix(at, 0).UTC(), Reason: -1}
			if reason.Valid {
				e.Reason = int(reason.Int64)
			}
			if inv.Valid {
				e.Invalidity = time.Unix(inv.Int64, 0).UTC()
			}
			if err := yield(e); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	count, err := writeCRL(tmp, a, big.NewInt(n), now, s.nextUpdate(now), entries)
	if err != nil {
		tmp.Close()
		s.db.ExecContext(ctx, `UPDATE ca SET dirty = 1 WHERE name = ?`, string(a.name))
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("jlis: write CRL: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("jlis: write CRL: %w", err)
	}
	if s.crlBuilt != nil {
		s.crlBuilt(string(a.name)) // tests: the new CRL is complete but not yet published
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return nil, fmt.Errorf("jlis: write CRL: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return nil, fmt.Errorf("jlis: write CRL: %w", err)
	}
	var oldFile string
	_ = s.db.QueryRowContext(ctx, `SELECT crl_file FROM ca WHERE name = ?`, string(a.name)).Scan(&oldFile)
	if _, err := s.db.ExecContext(ctx, `UPDATE ca SET crl_number = ?, crl_this_update = ?, crl_file = ? WHERE name = ?`, n, now.Unix(), name, string(a.name)); err != nil {
		return nil, fmt.Errorf("jlis: record CRL: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, "crl_entries_"+string(a.name), count); err != nil {
		return nil, fmt.Errorf("jlis: record CRL: %w", err)
	}
	// The previous CRL stays on disk: a reader that looked up its name just before the switch
	// can still open it. Older ones go.
	// The pattern also matches other CAs' files ("sign-*" matches "sign-phone-3.crl" and
	// "sign-g2-3.crl"): only this CA's own, name-NUMBER.crl, are removed.
	if old, err := filepath.Glob(filepath.Join(dir, string(a.name)+"-*.crl")); err == nil {
		for _, f := range old {
			b := filepath.Base(f)
			num, ok := strings.CutSuffix(strings.TrimPrefix(b, string(a.name)+"-"), ".crl")
			if _, err := strconv.ParseUint(num, 10, 63); !ok || err != nil {
				continue
			}
			if b != name && b != oldFile {
				os.Remove(f)
			}
		}
	}
	return s.crlInfo(a, n, now.Unix(), name)
}

// crlEntry is one revoked certificate as the CRL lists it.
type crlEntry struct {
	Serial     int64
	RevokedAt  time.Time
	Reason     int // -1: no reasonCode
	Invalidity time.Time
}

// writeCRL streams a CRL through internal/crlwriter, which keeps memory flat for CRLs of
// millions of entries (crypto/x509's CreateRevocationList materialises every entry).
func writeCRL(w io.Writer, a *authority, n *big.Int, thisUpdate, nextUpdate time.Time, entries func(yield func(crlEntry) error) error) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	st, err := crlwriter.Write(bw, crlwriter.Template{Issuer: a.cert, Number: n, ThisUpdate: thisUpdate, NextUpdate: nextUpdate},
		func(yield func(crlwriter.Entry) error) error {
			serial := new(big.Int)
			return entries(func(e crlEntry) error {
				serial.SetInt64(e.Serial)
				return yield(crlwriter.Entry{Serial: serial, RevokedAt: e.RevokedAt, Reason: e.Reason, InvalidityDate: e.Invalidity})
			})
		}, a.key)
	if err != nil {
		return 0, fmt.Errorf("jlis: write CRL of %s: %w", a.name, err)
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("jlis: write CRL of %s: %w", a.name, err)
	}
	return st.Entries, nil
}

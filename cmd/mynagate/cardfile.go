package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

// Card files hold a card's private keys and its PIN counters: a command never leaves J-LIS
// holding a record of a card whose file was not written, and never lets two programs run one card
// file at once (jpki.LockCardFile).

// lockCard takes the card file's lock for this command (by names it in the refusal others get).
func lockCard(path, by string) (*jpki.CardLock, error) {
	return jpki.LockCardFile(path, by)
}

// pendingCard is a card file about to be written: its temporary file already exists in the
// target directory, so a directory that is missing or not writable is found before J-LIS
// records anything.
type pendingCard struct {
	tmp     *os.File
	path    string
	replace bool // false: fail rather than overwrite an existing file
}

// prepareCardFile creates the temporary file for path. With replace false, path must not exist.
func prepareCardFile(path string, replace bool) (*pendingCard, error) {
	if !replace {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("%s already exists; choose another --out (a card file is never overwritten by issue)", path)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".card-*.json.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot write the card file %s: %w", path, err)
	}
	return &pendingCard{tmp: tmp, path: path, replace: replace}, nil
}

// commit writes cf to the temporary file, syncs it and moves it to its path: by rename when
// replacing, else by link, which fails if the path appeared meanwhile.
func (p *pendingCard) commit(cf *jpki.CardFile) error {
	b, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return fmt.Errorf("encode card file: %w", err)
	}
	name := p.tmp.Name()
	if _, err := p.tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write card file %s: %w", p.path, err)
	}
	if err := p.tmp.Sync(); err != nil {
		return fmt.Errorf("write card file %s: %w", p.path, err)
	}
	if err := p.tmp.Close(); err != nil {
		return fmt.Errorf("write card file %s: %w", p.path, err)
	}
	p.tmp = nil
	defer os.Remove(name)
	if p.replace {
		if err := os.Rename(name, p.path); err != nil {
			return fmt.Errorf("write card file %s: %w", p.path, err)
		}
		return nil
	}
	if err := os.Link(name, p.path); err != nil {
		return fmt.Errorf("write card file %s: %w", p.path, err)
	}
	return nil
}

// abort removes the temporary file of a card file that will not be written.
func (p *pendingCard) abort() {
	if p.tmp != nil {
		p.tmp.Close()
		os.Remove(p.tmp.Name())
		p.tmp = nil
	}
}

// cardSaver writes an issued card; tests replace it to make the write fail.
type cardSaver interface {
	commit(cf *jpki.CardFile) error
	abort()
}

// issueTo issues a card and writes it with save. If the card file cannot be written after all,
// the new card's certificates are revoked as discarded before handing over (交付前に破棄), so that
// J-LIS holds no valid certificate whose private key is gone.
func issueTo(ctx context.Context, sim *jlis.Simulator, req jlis.IssueRequest, save cardSaver) (*jlis.Issued, error) {
	iss, err := sim.Issue(ctx, req)
	if err != nil {
		save.abort()
		return nil, err
	}
	if err := save.commit(iss.Card); err != nil {
		save.abort()
		refs, rerr := sim.RevokeCard(context.WithoutCancel(ctx), iss.Card, jlis.CauseDiscarded, time.Time{})
		if rerr != nil {
			return nil, fmt.Errorf("%w; and revoking the card that could not be written failed: %v", err, rerr)
		}
		return nil, fmt.Errorf("%w; the card was not handed over: its certificates %v are revoked (discarded)", err, refs)
	}
	return iss, nil
}

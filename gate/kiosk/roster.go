package kiosk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RosterFormat names the roster file.
const RosterFormat = "mynagate-kiosk-roster-v1"

// Bounds of a roster file: a large office building or a city's shelters, not more.
const (
	MaxRosterSize    = 8 << 20
	MaxRosterEntries = 50_000
	maxName          = 100 // characters
	maxID            = 64
)

// Modes of a kiosk.
const (
	// ModeRoster admits only the roster's people (入館証, a library's members).
	ModeRoster = "roster"
	// ModeOpen records everyone whose card checks (a shelter); the roster, if any, only names
	// people known beforehand.
	ModeOpen = "open"
)

// Roster is a site's file: who may enter (by holder commitment) and the key of the
// commitments. It is the site's configuration, kept with the kiosk like its key.
type Roster struct {
	Format string `json:"format"`
	Site   string `json:"site"`
	Name   string `json:"name,omitempty"`
	Mode   string `json:"mode"`
	// CommitKey keys the holder commitments (manifest.Commit), 32 bytes; one per site, so the
	// same person's commitments at two sites cannot be linked without both keys.
	CommitKey []byte   `json:"commit_key"`
	Entries   []Person `json:"entries"`
}

// Person is one roster entry.
type Person struct {
	ID     string `json:"id"`
	Holder string `json:"holder"` // manifest.Commit of the person's authentication certificate
	Name   string `json:"name,omitempty"`
}

// ParseRoster reads and checks a roster file: at most MaxRosterSize bytes and MaxRosterEntries
// entries, no unknown field, no trailing data, the format, a site id, a mode, a 32-byte commit
// key, and entries with unique ids and unique well-formed commitments and names without
// control characters. The error names the first problem.
func ParseRoster(data []byte) (*Roster, error) {
	if len(data) > MaxRosterSize {
		return nil, fmt.Errorf("kiosk: roster: %d bytes, at most %d", len(data), MaxRosterSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Roster
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("kiosk: roster: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("kiosk: roster: data after the JSON object")
	}
	switch {
	case r.Format != RosterFormat:
		return nil, fmt.Errorf("kiosk: roster: format %q, want %q", r.Format, RosterFormat)
	case !plainID(r.Site):
		return nil, fmt.Errorf("kiosk: roster: site %q: 1 to %d letters, digits, '-', '_' or '.'", r.Site, maxID)
	case r.Mode != ModeRoster && r.Mode != ModeOpen:
		return nil, fmt.Errorf("kiosk: roster: mode %q: %q or %q", r.Mode, ModeRoster, ModeOpen)
	case len(r.CommitKey) != 32:
		return nil, fmt.Errorf("kiosk: roster: commit_key has %d bytes, want 32", len(r.CommitKey))
	case len(r.Entries) > MaxRosterEntries:
		return nil, fmt.Errorf("kiosk: roster: %d entries, at most %d", len(r.Entries), MaxRosterEntries)
	case r.Mode == ModeRoster && len(r.Entries) == 0:
		return nil, errors.New("kiosk: roster: mode roster with no entries would admit nobody")
	}
	if err := checkName(r.Name); err != nil {
		return nil, fmt.Errorf("kiosk: roster: name: %w", err)
	}
	ids, holders := map[string]bool{}, map[string]bool{}
	for i, p := range r.Entries {
		if !plainID(p.ID) {
			return nil, fmt.Errorf("kiosk: roster: entry %d: id %q: 1 to %d letters, digits, '-', '_' or '.'", i+1, p.ID, maxID)
		}
		if ids[p.ID] {
			return nil, fmt.Errorf("kiosk: roster: entry %d: id %q twice", i+1, p.ID)
		}
		if b, err := base64.RawURLEncoding.DecodeString(p.Holder); err != nil || len(b) != 16 {
			return nil, fmt.Errorf("kiosk: roster: entry %s: holder is not a commitment (22 characters of base64url)", p.ID)
		}
		if holders[p.Holder] {
			return nil, fmt.Errorf("kiosk: roster: entry %s: the same holder as another entry", p.ID)
		}
		if err := checkName(p.Name); err != nil {
			return nil, fmt.Errorf("kiosk: roster: entry %s: name: %w", p.ID, err)
		}
		ids[p.ID], holders[p.Holder] = true, true
	}
	return &r, nil
}

func plainID(s string) bool {
	if s == "" || len(s) > maxID {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.", c)) {
			return false
		}
	}
	return true
}

func checkName(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxName {
		return fmt.Errorf("%d characters, at most %d", n, maxName)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return fmt.Errorf("control character %U", c)
		}
	}
	return nil
}

package staff

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/kiosk"
)

// FromDecision is the page's entry for a gate's decision.
func FromDecision(d gate.Decision) Entry {
	e := Entry{Admit: d.Admit, Reason: string(d.Reason), Detail: d.Detail, Name: d.Name, Seat: d.Seat}
	if d.Admit {
		e.Reason = "admit"
	}
	if d.Name != "" {
		e.Source = "manifest"
	}
	return e
}

// FromKiosk is the page's entry for a kiosk's answer: an arrival or departure, or the refusal.
func FromKiosk(r kiosk.Result) Entry {
	if !r.Admit {
		return Entry{Reason: string(r.Reason), Detail: r.Detail}
	}
	return Entry{Admit: true, Reason: r.Record.Kind, Name: r.Record.Name, AgeBand: r.Record.AgeBand, Source: r.Record.Source}
}

// KioskCounts are a kiosk's live counters: present now, arrivals, departures and, when it has
// one, the roster's size.
func KioskCounts(k *kiosk.Kiosk) func() []Count {
	return func() []Count {
		c := k.Counts()
		out := []Count{{Label: "count.present", N: c.Present}, {Label: "count.arrivals", N: c.Arrivals}, {Label: "count.departures", N: c.Departures}}
		if c.Roster > 0 {
			out = append(out, Count{Label: "count.roster", N: c.Roster})
		}
		return out
	}
}

// jp2Decoder is OpenJPEG's command-line decoder (Debian package libopenjp2-tools).
const jp2Decoder = "opj_decompress"

// BrowserPhoto turns the card's JPEG 2000 face photo into a PNG a browser shows: browsers other
// than Safari do not decode JPEG 2000, and no Go decoder is in the standard library or among the
// project's dependencies, so it runs OpenJPEG's opj_decompress (bounded by 5 s, on a private
// temporary directory) when that is installed. Without it, or when the photo does not decode,
// it returns the JPEG 2000 bytes as they are, typed image/jp2, and the page shows the alt text
// in browsers that cannot decode them.
func BrowserPhoto(ctx context.Context, jp2 []byte) ([]byte, string) {
	if len(jp2) == 0 || len(jp2) > MaxPhoto {
		return nil, ""
	}
	if out, err := decodeJP2(ctx, jp2); err == nil {
		return out, "image/png"
	}
	return jp2, "image/jp2"
}

func decodeJP2(ctx context.Context, jp2 []byte) ([]byte, error) {
	exe, err := exec.LookPath(jp2Decoder)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mynagate-photo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "face.jp2"), filepath.Join(dir, "face.png")
	if err := os.WriteFile(in, jp2, 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, exe, "-i", in, "-o", out, "-quiet").Run(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	// Only a PNG of a photo's size goes to the page.
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width > 2000 || cfg.Height > 2000 || len(b) > MaxPhoto {
		return nil, os.ErrInvalid
	}
	return b, nil
}

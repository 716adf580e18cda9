package jlis

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// CRLSchedule says when the simulator publishes CRLs.
//
// J-LIS publishes its CRLs once a day; while the next file is built (5–10 minutes) the previous
// one is served, and a revocation made during the day is known only to OCSP until the next
// publication (docs/design/jpki-reference.md §6, [P8N-API]). A scheduled simulator does the same:
// CRL serves the published CRL and never rebuilds it on a revocation; PublishDue (run by `jlis
// serve` once a minute) publishes when the time has come, PublishCRL at once. OnRevocation is
// the simulator's older behaviour — a new CRL at the first read after any revocation — which
// hides the window where only OCSP knows; it is the library default for tests that revoke and
// check at once, and `jlis serve --crl-schedule on-revocation`.
type CRLSchedule struct {
	// OnRevocation: rebuild at the first read after a revocation, or when the CRL interval
	// has passed (the interval is then also nextUpdate − thisUpdate).
	OnRevocation bool
	// Daily: publish once a day at this time after midnight JST (when Every is zero).
	Daily time.Duration
	// Every: publish at this interval after the last publication.
	Every time.Duration
}

// DefaultCRLSchedule is the schedule of `jlis serve`: daily at 03:00 JST. The hour at which
// J-LIS publishes is not public; 03:00 is this simulator's assumption.
var DefaultCRLSchedule = CRLSchedule{Daily: 3 * time.Hour}

// ParseCRLSchedule reads "daily@HH:MM" (JST), "every DURATION" (e.g. "every 10m", at least a
// minute) or "on-revocation".
func ParseCRLSchedule(s string) (CRLSchedule, error) {
	switch {
	case s == "on-revocation":
		return CRLSchedule{OnRevocation: true}, nil
	case strings.HasPrefix(s, "daily@"):
		t, err := time.Parse("15:04", strings.TrimPrefix(s, "daily@"))
		if err != nil {
			return CRLSchedule{}, invalidf("CRL schedule %q: the time of day is not HH:MM (JST)", s)
		}
		return CRLSchedule{Daily: time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute}, nil
	case strings.HasPrefix(s, "every "):
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(s, "every ")))
		if err != nil || d < time.Minute || d > 7*24*time.Hour {
			return CRLSchedule{}, invalidf("CRL schedule %q: the interval must be a duration from 1m to 168h", s)
		}
		return CRLSchedule{Every: d}, nil
	}
	return CRLSchedule{}, invalidf("CRL schedule %q is not daily@HH:MM, every DURATION or on-revocation", s)
}

// String gives the schedule in the form ParseCRLSchedule reads.
func (c CRLSchedule) String() string {
	switch {
	case c.OnRevocation:
		return "on-revocation"
	case c.Every > 0:
		return "every " + c.Every.String()
	}
	return fmt.Sprintf("daily@%02d:%02d", int(c.Daily/time.Hour), int(c.Daily%time.Hour/time.Minute))
}

// next is the first publication time strictly after t.
func (c CRLSchedule) next(t time.Time) time.Time {
	if c.Every > 0 {
		return t.Add(c.Every)
	}
	j := t.In(jstZone)
	at := time.Date(j.Year(), j.Month(), j.Day(), 0, 0, 0, 0, jstZone).Add(c.Daily)
	if !at.After(t) {
		at = time.Date(j.Year(), j.Month(), j.Day()+1, 0, 0, 0, 0, jstZone).Add(c.Daily)
	}
	return at.UTC()
}

// WithCRLSchedule sets when CRLs are published and records the schedule in the data directory,
// so that commands run beside the server (`jlis crl publish`) write the same nextUpdate.
func WithCRLSchedule(c CRLSchedule) Option {
	return func(s *Simulator) { s.schedule, s.recordSchedule = c, true }
}

// WithRecordedCRLSchedule uses the schedule that `jlis serve` recorded in the data directory
// (DefaultCRLSchedule if none was), without publishing on its own: for commands that read or
// publish CRLs beside a running server.
func WithRecordedCRLSchedule() Option {
	return func(s *Simulator) { s.loadSchedule = true }
}

// CRLSchedule returns the schedule in force.
func (s *Simulator) CRLSchedule() CRLSchedule { return s.schedule }

func (s *Simulator) setupSchedule(ctx context.Context) error {
	const key = "crl_schedule"
	switch {
	case s.recordSchedule:
		_, err := s.db.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, key, s.schedule.String())
		if err != nil {
			return fmt.Errorf("jlis: record CRL schedule: %w", err)
		}
	case s.loadSchedule:
		s.schedule = DefaultCRLSchedule
		v, ok, err := getMeta(ctx, s.db, key)
		if err != nil {
			return err
		}
		if ok {
			if s.schedule, err = ParseCRLSchedule(v); err != nil {
				return fmt.Errorf("jlis: recorded CRL schedule: %w", err)
			}
		}
	}
	return nil
}

// PublishDue publishes a new CRL for every CA whose next publication time has come, and
// returns what it published. It does nothing under the on-revocation schedule.
func (s *Simulator) PublishDue(ctx context.Context) ([]*CRLInfo, error) {
	if s.schedule.OnRevocation {
		return nil, nil
	}
	var out []*CRLInfo
	for _, name := range s.CANames() {
		info, err := s.publishedCRL(ctx, name)
		if err != nil {
			return out, err
		}
		if info != nil && s.clk.Now().Before(info.NextUpdate) {
			continue
		}
		pub, err := s.PublishCRL(ctx, name)
		if err != nil {
			return out, err
		}
		out = append(out, pub)
	}
	return out, nil
}

// PublishCRL builds and publishes a new CRL of the named CA now, whatever the schedule. The
// CRL in force is served until the new one is complete.
func (s *Simulator) PublishCRL(ctx context.Context, name string) (*CRLInfo, error) {
	a, err := s.authority(name)
	if err != nil {
		return nil, err
	}
	s.crlMu.Lock()
	defer s.crlMu.Unlock()
	var number int64
	if err := s.db.QueryRowContext(ctx, `SELECT crl_number FROM ca WHERE name = ?`, name).Scan(&number); err != nil {
		return nil, fmt.Errorf("jlis: read CRL state of %s: %w", name, err)
	}
	return s.generateCRL(ctx, a, number+1, s.clk.Now().UTC().Truncate(time.Second))
}

// publishedCRL returns the CRL in force without building one (nil when none was published or
// its file is gone). It takes no lock, so it answers while a new CRL is being built.
func (s *Simulator) publishedCRL(ctx context.Context, name string) (*CRLInfo, error) {
	a, err := s.authority(name)
	if err != nil {
		return nil, err
	}
	var number, thisUpdate int64
	var file string
	if err := s.db.QueryRowContext(ctx, `SELECT crl_number, crl_this_update, crl_file FROM ca WHERE name = ?`, name).Scan(&number, &thisUpdate, &file); err != nil {
		return nil, fmt.Errorf("jlis: read CRL state of %s: %w", name, err)
	}
	if file == "" {
		return nil, nil
	}
	info, err := s.crlInfo(a, number, thisUpdate, file)
	if err != nil {
		return nil, nil
	}
	return info, nil
}

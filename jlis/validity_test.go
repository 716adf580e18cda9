package jlis_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

// at moves the fake clock forward to 10:00 JST of a date.
func at(t *testing.T, clk *clockwork.FakeClock, date string) {
	t.Helper()
	d, err := jpki.ParseDate(date)
	if err != nil {
		t.Fatal(err)
	}
	target := time.Date(d.Year, d.Month, d.Day, 10, 0, 0, 0, jpki.JST)
	if target.Before(clk.Now()) {
		t.Fatalf("clock at %v cannot go back to %s", clk.Now(), date)
	}
	clk.Advance(target.Sub(clk.Now()))
}

// lastDay is the JST day a certificate ends, checking it ends at 23:59:59 JST.
func lastDay(t *testing.T, der []byte) string {
	t.Helper()
	na := mustParse(t, der).NotAfter.In(jpki.JST)
	if na.Hour() != 23 || na.Minute() != 59 || na.Second() != 59 {
		t.Fatalf("certificate ends %v, not 23:59:59 JST", na)
	}
	return na.Format("2006-01-02")
}

func b4Born(date string) jpki.Basic4 {
	b := testkit.Taro()
	d, err := jpki.ParseDate(date)
	if err != nil {
		panic(err)
	}
	b.Birth = d
	return b
}

// Issuance: card and certificates by age and period of stay. The clock is at 2026-04-01 JST.
func TestValidityAtIssue(t *testing.T) {
	tests := []struct {
		name             string
		birth, stay      string
		card, auth, sign string // "" sign: none issued
		wantErr          string
	}{
		{"adult: card 10th, certificates 5th birthday", "1985-04-02", "", "2035-04-02", "2030-04-02", "2030-04-02", ""},
		{"issued on the birthday: it does not count", "1990-04-01", "", "2036-04-01", "2031-04-01", "2031-04-01", ""},
		{"17: card to the 5th birthday", "2009-01-15", "", "2031-01-15", "2031-01-15", "2031-01-15", ""},
		{"12: no signing certificate", "2014-02-28", "", "2031-02-28", "2031-02-28", "", ""},
		{"29 February: 28 February in common years", "1992-02-29", "", "2036-02-29", "2031-02-28", "2031-02-28", ""},
		{"period of stay ends first", "1985-04-02", "2027-09-30", "2027-09-30", "2027-09-30", "2027-09-30", ""},
		{"period of stay ends after the certificates", "1985-04-02", "2033-03-31", "2033-03-31", "2030-04-02", "2030-04-02", ""},
		{"period of stay over", "1985-04-02", "2026-04-01", "", "", "", "period of stay ending 2026-04-01 is over"},
	}
	sim, _, _ := testkit.Simulator(t) // one clock: every case issues on 2026-04-01
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := jlis.IssueRequest{Basic4: b4Born(tt.birth)}
			if tt.stay != "" {
				req.StayUntil, _ = jpki.ParseDate(tt.stay)
			}
			iss, err := sim.Issue(ctx, req)
			if tt.wantErr != "" {
				if !errors.Is(err, jlis.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if iss.Card.CardExpiry != tt.card {
				t.Errorf("card expiry %s, want %s", iss.Card.CardExpiry, tt.card)
			}
			if got := lastDay(t, iss.Card.Auth.Cert); got != tt.auth {
				t.Errorf("auth certificate ends %s, want %s", got, tt.auth)
			}
			switch {
			case tt.sign == "" && iss.Card.Sign != nil:
				t.Error("a signing certificate was issued")
			case tt.sign != "" && iss.Card.Sign == nil:
				t.Error("no signing certificate was issued")
			case tt.sign != "":
				if got := lastDay(t, iss.Card.Sign.Cert); got != tt.sign {
					t.Errorf("signing certificate ends %s, want %s", got, tt.sign)
				}
			}
		})
	}
}

// Renewal: only in the last 3 months; inside that window to the 6th birthday after the
// renewal, after expiry to the 5th; never past the card.
func TestValidityAtRenewal(t *testing.T) {
	tests := []struct {
		name        string
		birth, stay string
		renewOn     string
		want        string // last day of both new certificates
		wantErr     string
	}{
		// Taro's certificates end 2030-04-02 (issued 2026-04-01), the card 2035-04-02. A 5th
		// birthday after a renewal on 2030-01-02 would be 2034-04-02.
		{"a day before the window", "1985-04-02", "", "2030-01-01", "", "renewal is possible from 2030-01-02 (3 months before), not on 2030-01-01"},
		{"first day of the window: 6th birthday", "1985-04-02", "", "2030-01-02", "2035-04-02", ""},
		{"on the last day: 6th birthday 2036, capped by the card", "1985-04-02", "", "2030-04-02", "2035-04-02", ""},
		{"after expiry: 5th birthday", "1985-04-02", "", "2030-05-01", "2035-04-02", ""},
		// Certificates ending 31 May: the window opens on the last day of February.
		{"month end: 28 February is too early in a leap year", "1980-05-31", "", "2030-02-27", "", "renewal is possible from 2030-02-28"},
		{"month end: window open on 28 February", "1980-05-31", "", "2030-02-28", "2035-05-31", ""},
		// A foreign resident whose card ends with the period of stay.
		{"capped by the card (period of stay)", "1985-04-02", "2031-06-30", "2030-02-01", "2031-06-30", ""},
		{"card expired", "1985-04-02", "2030-03-31", "2030-04-01", "", "expired on 2030-03-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each case has its own simulator and clock
			sim, clk, _ := testkit.Simulator(t)
			req := jlis.IssueRequest{Basic4: b4Born(tt.birth)}
			if tt.stay != "" {
				req.StayUntil, _ = jpki.ParseDate(tt.stay)
			}
			iss, err := sim.Issue(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			at(t, clk, tt.renewOn)
			next, err := sim.Renew(ctx, iss.Card)
			if tt.wantErr != "" {
				if !errors.Is(err, jlis.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a, s := lastDay(t, next.Auth.Cert), lastDay(t, next.Sign.Cert); a != tt.want || s != tt.want {
				t.Errorf("renewed certificates end auth %s, sign %s, want %s", a, s, tt.want)
			}
			if !mustParse(t, next.Auth.Cert).NotBefore.Equal(time.Date(clk.Now().In(jpki.JST).Year(), clk.Now().In(jpki.JST).Month(), clk.Now().In(jpki.JST).Day(), 0, 0, 0, 0, jpki.JST)) {
				t.Errorf("renewed certificate starts %v", mustParse(t, next.Auth.Cert).NotBefore)
			}
		})
	}
}

// A signing certificate applied for after a move ends no later than the authentication
// certificate of the card; the holder's first one at 15 likewise.
func TestSigningCappedByAuth(t *testing.T) {
	tests := []struct {
		name      string
		birth     string
		move      bool
		reissueOn string
		want      string
		wantErr   string
	}{
		{"after a move, late in the auth certificate's life", "1985-04-02", true, "2029-06-01", "2030-04-02", ""},
		{"after a move, the next day", "1985-04-02", true, "2026-04-02", "2030-04-02", ""},
		{"at 15, on a card issued at 12 (card to 2030-04-10)", "2013-04-10", false, "2028-04-10", "2030-04-10", ""},
		{"at 14 years 364 days", "2013-04-10", false, "2028-04-09", "", "a signing certificate is issued from 15"},
		{"over a valid signing certificate", "1985-04-02", false, "2027-01-01", "", "still valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each case has its own simulator and clock
			sim, clk, _ := testkit.Simulator(t)
			iss := testkit.Issue(t, sim, b4Born(tt.birth))
			cf := iss.Card
			if tt.move {
				moved := cf.Basic4
				moved.Address = "大阪府大阪市北区梅田１丁目１番"
				var err error
				if cf, err = sim.Change(ctx, cf, moved, jlis.CauseMove); err != nil {
					t.Fatal(err)
				}
			}
			at(t, clk, tt.reissueOn)
			next, err := sim.ReissueSign(ctx, cf, "NEW2PASS")
			if tt.wantErr != "" {
				if !errors.Is(err, jlis.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := lastDay(t, next.Sign.Cert); got != tt.want {
				t.Errorf("signing certificate ends %s, want %s", got, tt.want)
			}
			if a := lastDay(t, next.Auth.Cert); tt.want > a {
				t.Errorf("signing certificate %s outlives the auth certificate %s", tt.want, a)
			}
		})
	}
}

// A signing certificate is re-issued only onto a card in use, for a living holder; a refusal
// changes nothing.
func TestReissueSignRefusals(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	moved := func(cf *jpki.CardFile) *jpki.CardFile {
		t.Helper()
		b := cf.Basic4
		b.Address = "大阪府大阪市北区梅田１丁目１番"
		next, err := sim.Change(ctx, cf, b, jlis.CauseMove)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	lost := moved(testkit.Issue(t, sim, testkit.Taro()).Card)
	if _, err := sim.RevokeCard(ctx, lost, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	dead := moved(testkit.Issue(t, sim, testkit.Hanako()).Card)
	if _, err := sim.RevokeCard(ctx, dead, jlis.CauseDeath, time.Time{}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	for name, cf := range map[string]*jpki.CardFile{"lost card": lost, "deceased holder": dead} {
		if _, err := sim.ReissueSign(ctx, cf, "NEW2PASS"); !errors.Is(err, jlis.ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
		ref, _ := sim.RefOf(cf.Sign.Cert)
		if info, err := sim.Links(ctx, ref); err != nil || len(info.Next) != 0 {
			t.Errorf("%s: a refused re-issue left links %+v (%v)", name, info, err)
		}
	}
	foreign := testkit.Issue(t, sim, testkit.Taro()).Card
	other, _, _ := testkit.Simulator(t)
	if _, err := other.ReissueSign(ctx, foreign, "NEW2PASS"); !errors.Is(err, jlis.ErrNotFound) {
		t.Errorf("a card of another simulator: err = %v", err)
	}
}

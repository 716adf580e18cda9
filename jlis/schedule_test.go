package jlis_test

import (
	"crypto"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"golang.org/x/crypto/ocsp"
)

func TestParseCRLSchedule(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		bad      bool
	}{
		{in: "daily@03:00", want: "daily@03:00"},
		{in: "daily@23:45", want: "daily@23:45"},
		{in: "every 10m", want: "every 10m0s"},
		{in: "on-revocation", want: "on-revocation"},
		{in: "daily@3", bad: true},
		{in: "daily@24:00", bad: true},
		{in: "every 30s", bad: true},
		{in: "every 200h", bad: true},
		{in: "every soon", bad: true},
		{in: "hourly", bad: true},
		{in: "", bad: true},
	} {
		got, err := jlis.ParseCRLSchedule(tt.in)
		switch {
		case tt.bad && !errors.Is(err, jlis.ErrInvalid):
			t.Errorf("%q: err = %v, want ErrInvalid", tt.in, err)
		case !tt.bad && (err != nil || got.String() != tt.want):
			t.Errorf("%q: %v %v, want %s", tt.in, got, err, tt.want)
		}
	}
}

// jst is 10:00-style shorthand for a time on the fake clock's calendar.
func jst(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, jpki.JST)
}

// Published daily at 03:00 JST: a revocation during the day is known to OCSP at once and to the
// CRL only from the next publication; until then the CRL in force says nothing of it.
func TestCRLScheduleWindowOnlyOCSPKnows(t *testing.T) {
	sched, _ := jlis.ParseCRLSchedule("daily@03:00")
	sim, clk, _ := testkit.Simulator(t, jlis.WithCRLSchedule(sched))
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	iss := testkit.Issue(t, sim, testkit.Taro())
	signCA, _ := sim.CACertificate("sign")
	leaf := mustParse(t, iss.Card.Sign.Cert)

	fetchCRL(t, srv, "auth")
	first := fetchCRL(t, srv, "sign") // 2026-04-01 10:00 JST: none yet, so one is published now
	if first.Number.Int64() != 1 || !first.NextUpdate.Equal(jst(2026, 4, 2, 3, 0)) {
		t.Fatalf("first CRL number %v, nextUpdate %v; want 1 and the next 03:00 JST", first.Number, first.NextUpdate)
	}
	clk.Advance(time.Hour)
	ref, _ := sim.RefOf(iss.Card.Sign.Cert)
	if err := sim.Revoke(ctx, ref, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// The window: OCSP says revoked, the CRL in force (and any re-read of it) does not.
	if r := ocspQuery(t, srv, "sign", leaf, signCA, crypto.SHA256); r.Status != ocsp.Revoked {
		t.Fatalf("OCSP status %d right after the revocation, want revoked", r.Status)
	}
	if pub, err := sim.PublishDue(ctx); err != nil || len(pub) != 0 {
		t.Fatalf("published %v (%v) before the schedule", pub, err)
	}
	for _, at := range []time.Time{jst(2026, 4, 1, 18, 0), jst(2026, 4, 2, 2, 59)} {
		clk.Advance(at.Sub(clk.Now()))
		if _, err := sim.PublishDue(ctx); err != nil {
			t.Fatal(err)
		}
		crl := fetchCRL(t, srv, "sign")
		if crl.Number.Int64() != 1 || len(crl.RevokedCertificateEntries) != 0 {
			t.Fatalf("at %v the CRL is number %v with %d entries; the revocation must wait for 03:00", at, crl.Number, len(crl.RevokedCertificateEntries))
		}
	}
	// 03:00 JST: the daily publication lists it.
	clk.Advance(jst(2026, 4, 2, 3, 0).Sub(clk.Now()))
	pub, err := sim.PublishDue(ctx)
	if err != nil || len(pub) != len(sim.CANames()) {
		t.Fatalf("at 03:00 published %v (%v), want every CA", pub, err)
	}
	crl := fetchCRL(t, srv, "sign")
	if crl.Number.Int64() != 2 || len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("the 03:00 CRL: number %v, entries %d", crl.Number, len(crl.RevokedCertificateEntries))
	}
	if !crl.NextUpdate.Equal(jst(2026, 4, 3, 3, 0)) {
		t.Errorf("nextUpdate %v, want the next day's 03:00 JST", crl.NextUpdate)
	}
	// On demand (jlis crl publish): at once, whatever the hour.
	clk.Advance(time.Hour)
	now, err := sim.PublishCRL(ctx, "sign")
	if err != nil || now.Number != 3 {
		t.Fatalf("publish on demand: %+v %v", now, err)
	}
}

// While the next CRL is built, the previous one is served, complete; the switch is atomic.
func TestCRLPreviousServedWhileBuilding(t *testing.T) {
	var armed atomic.Bool
	building, release := make(chan struct{}), make(chan struct{})
	hook := jlis.WithCRLBuildHook(func(ca string) {
		if ca == "sign" && armed.CompareAndSwap(true, false) {
			close(building)
			<-release
		}
	})
	sim, _, _ := testkit.Simulator(t, jlis.WithCRLSchedule(jlis.DefaultCRLSchedule), hook)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	if got := fetchCRL(t, srv, "sign").Number.Int64(); got != 1 {
		t.Fatalf("first CRL number %d", got)
	}
	armed.Store(true)
	done := make(chan error, 1)
	go func() { _, err := sim.PublishCRL(ctx, "sign"); done <- err }()
	<-building
	start := time.Now()
	crl := fetchCRL(t, srv, "sign")
	if crl.Number.Int64() != 1 {
		t.Fatalf("while building, CRL number %d is served, want the previous 1", crl.Number.Int64())
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("serving the previous CRL waited %v for the build", waited)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := fetchCRL(t, srv, "sign").Number.Int64(); got != 2 {
		t.Fatalf("after the build, CRL number %d, want 2", got)
	}
}

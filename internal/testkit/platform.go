package testkit

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
)

// JLISTrust is what a platform trusting a served J-LIS simulator is given: its CAs, a CRL
// fetcher over its CRLs (refreshed once; a test refreshes it again after revoking), the
// checker over that fetcher, and a client of its API (renewal links, basic-4 facts).
type JLISTrust struct {
	URL     string
	Client  *jlisapi.Client
	CAs     []platform.CA
	Fetcher *revocation.Fetcher
	Checker wiring.Revocation
}

// ServeJLIS serves the simulator sim on loopback until the test ends and fetches its trust as
// a deployment does (wiring.Trust), with CRLs read on clk.
func ServeJLIS(t testing.TB, sim *jlis.Simulator, clk clockwork.Clock) *JLISTrust {
	t.Helper()
	ctx := context.Background()
	jsrv := httptest.NewServer(sim.Handler())
	t.Cleanup(jsrv.Close)
	jc := jlisapi.New(jsrv.URL)
	cas, srcs, err := wiring.Trust(ctx, jc, jsrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	f := revocation.NewFetcher(srcs, revocation.WithClock(clk), revocation.WithTempDir(t.TempDir()))
	if err := f.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	return &JLISTrust{URL: jsrv.URL, Client: jc, CAs: cas, Fetcher: f, Checker: wiring.Revocation{Checker: revocation.NewChecker(f)}}
}

// Options are the platform options that make it trust J-LIS: the CAs, the revocation checker
// and the renewal links.
func (j *JLISTrust) Options() []platform.Option {
	return []platform.Option{platform.WithCAs(j.CAs...), platform.WithRevocation(j.Checker), platform.WithLinks(j.Client)}
}

// JLISPlatform is a platform on clk that trusts the simulator sim as a deployment trusts
// J-LIS: its CAs and CRLs fetched from the simulator served on loopback (CRLs refreshed once),
// renewal links from it, a fresh SQLite store (its path returned for tests that read it), an
// evidence log that runs, the master secret and holder URLs under holderBase.
func JLISPlatform(t testing.TB, sim *jlis.Simulator, clk clockwork.Clock, holderBase string, master []byte) (*platform.Platform, *store.Store, string) {
	t.Helper()
	ctx := context.Background()
	trust := ServeJLIS(t, sim, clk)
	dbPath := filepath.Join(t.TempDir(), "platform.db")
	st, err := store.Open(ctx, "sqlite:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := EvidenceLog(t, st)
	RunEvidence(t, log)
	p, err := platform.New(st, append(trust.Options(), platform.WithClock(clk), platform.WithHolderBaseURL(holderBase), platform.WithEvidence(log),
		platform.WithMaster(master))...)
	if err != nil {
		t.Fatal(err)
	}
	return p, st, dbPath
}

package pages_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/delivery"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/notify"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/web"
	"github.com/mynagate/mynagate/web/pages"
)

var ctx = context.Background()

// env is a whole platform with its pages: J-LIS simulator, store, evidence log, notifier and
// deliverer, the API and the pages on one server, and one tenant with a staff user.
type env struct {
	t         testing.TB
	clk       *clockwork.FakeClock
	sim       *jlis.Simulator
	st        *store.Store
	plat      *platform.Platform
	log       *evidence.Log
	fetcher   *revocation.Fetcher
	notifier  *notify.Notifier
	deliverer *delivery.Deliverer
	srv       *httptest.Server
	tenant    *platform.Tenant
	oidc      *oidc.Provider
}

const (
	staffEmail = "staff@bank.example"
	staffPW    = "correct horse battery"
	opEmail    = "op@platform.example"
	opPW       = "operator password 1"
)

// newEnv makes the world; pagesClock, when given, drives the pages' sessions (streams need a
// real clock, so the browser tests give none).
func newEnv(t testing.TB, pagesClock ...clockwork.Clock) *env {
	t.Helper()
	sim, clk, _ := testkit.Simulator(t)
	e := &env{t: t, clk: clk, sim: sim}
	jsrv := httptest.NewServer(sim.Handler())
	t.Cleanup(jsrv.Close)
	jc := jlisapi.New(jsrv.URL)
	cas, srcs, err := wiring.Trust(ctx, jc, jsrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	e.log = testkit.EvidenceLog(t, st)
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	var onUpdate revocation.UpdateFunc
	e.fetcher = revocation.NewFetcher(srcs, revocation.WithClock(clk), revocation.WithTempDir(t.TempDir()),
		revocation.WithOnUpdate(func(ctx context.Context, src revocation.Source, prev, next *revocation.Index) {
			onUpdate(ctx, src, prev, next)
		}))
	e.plat, err = platform.New(st, platform.WithClock(clk), platform.WithHolderBaseURL(e.srv.URL), platform.WithPrivateWebhookTargets(),
		platform.WithMaster(bytes.Repeat([]byte{7}, 32)), platform.WithCAs(cas...),
		platform.WithRevocation(wiring.Revocation{Checker: revocation.NewChecker(e.fetcher)}), platform.WithLinks(jc), platform.WithEvidence(e.log))
	if err != nil {
		t.Fatal(err)
	}
	if e.notifier, err = notify.New(e.plat, notify.WithBasic4Source(jc)); err != nil {
		t.Fatal(err)
	}
	onUpdate = wiring.OnCRLUpdate(e.notifier)
	if err := e.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if e.deliverer, err = delivery.New(e.plat); err != nil {
		t.Fatal(err)
	}
	prov, err := oidc.New(e.plat, st, oidc.Config{Issuer: e.srv.URL + "/oidc", Master: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	e.oidc = prov
	var pclk clockwork.Clock
	if len(pagesClock) > 0 {
		pclk = pagesClock[0]
	}
	pg, err := pages.New(e.plat, pages.Config{Key: bytes.Repeat([]byte{9}, 32), Poll: 100 * time.Millisecond, OIDC: prov, Clock: pclk,
		Health: func(context.Context) []pages.CAHealth {
			var out []pages.CAHealth
			for _, s := range srcs {
				fs, _ := e.fetcher.State(s.Name)
				md := fs.Index.Metadata()
				out = append(out, pages.CAHealth{Name: s.Name, Number: md.Number.String(), ThisUpdate: md.ThisUpdate, NextUpdate: md.NextUpdate, FetchedAt: fs.FetchedAt, Fresh: fs.Fresh(clk.Now())})
			}
			return out
		},
		Demo: &pages.Demo{PINs: "authentication 1234, signing password ABC123",
			ReaderCommand: "mynagate reader verify --card mynagate-demo/cards/taro.json 'HOLDER_URL'",
			Accounts: []pages.Account{{Role: "Example Bank staff (console)", Email: staffEmail, Password: staffPW, URL: "/console"},
				{Role: "platform operator", Email: opEmail, Password: opPW, URL: "/operator"}},
			// As mynagate demo lists them (cmd/mynagate/demo.go).
			Apps: []pages.App{{Name: "Log in with My Number Card (a demo relying party on the OpenID provider)", URL: "http://127.0.0.1:8091"},
				{Name: "Ticketing (a relying party built on the public API)", URL: "http://127.0.0.1:8090"}},
			Cards: []pages.DemoCard{{Holder: "山田　太郎", Path: "mynagate-demo/cards/taro.json"}, {Holder: "𠮷田　花子", Path: "mynagate-demo/cards/hanako.json"}}}})
	if err != nil {
		t.Fatal(err)
	}
	h = web.New(e.plat, web.WithRoutes(func(m *http.ServeMux) { m.Handle("/oidc/", prov.Handler()) }), web.WithRoutes(pg.Routes))
	if e.tenant, err = e.plat.CreateTenant(ctx, "Example Bank", platform.AllFacts); err != nil {
		t.Fatal(err)
	}
	if _, err := e.plat.CreateConsoleUser(ctx, e.tenant.ID, staffEmail, staffPW, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.plat.CreateConsoleUser(ctx, "", opEmail, opPW, true); err != nil {
		t.Fatal(err)
	}
	return e
}

// holder is a card file answering sessions in-process.
type holder struct {
	e    *env
	path string
}

func (e *env) issue(b4 jpki.Basic4) *holder {
	iss := testkit.Issue(e.t, e.sim, b4)
	path := filepath.Join(e.t.TempDir(), "card.json")
	if err := iss.Card.Save(path); err != nil {
		e.t.Fatal(err)
	}
	return &holder{e: e, path: path}
}

// answer answers the session behind a holder URL with the card (signing key for identity, the
// authentication key for login), giving consent with it.
func (h *holder) answer(holderURL string, consent ...string) (*client.HolderResult, error) {
	return testkit.AnswerWithCard(ctx, h.path, h.e.clk, holderURL, consent...)
}

// publish integrates the evidence recorded so far and signs a checkpoint over it.
func (e *env) publish() {
	e.t.Helper()
	if _, err := e.log.Integrate(ctx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.log.Publish(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// drain integrates the evidence and delivers webhooks until nothing is due.
func (e *env) drain() {
	e.t.Helper()
	e.publish()
	for range 100 {
		k, err := e.deliverer.Cycle(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if k == 0 {
			return
		}
	}
	e.t.Fatal("deliveries do not settle")
}

// move records a change of address: the signing certificate is revoked and replaced, and the
// platform reads the new CRL.
func (e *env) move(h *holder, address string) {
	e.t.Helper()
	e.clk.Advance(24 * time.Hour)
	cf, err := jpki.LoadCardFile(h.path)
	if err != nil {
		e.t.Fatal(err)
	}
	moved := cf.Basic4
	moved.Address = address
	next, err := e.sim.Change(ctx, cf, moved, jlis.CauseMove)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := next.Save(h.path); err != nil {
		e.t.Fatal(err)
	}
	if err := e.fetcher.Refresh(ctx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.notifier.FollowUp(ctx); err != nil {
		e.t.Fatal(err)
	}
}

package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/internal/wiring"

	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/web"
	"github.com/mynagate/mynagate/web/pages"
	"github.com/spf13/cobra"
)

func init() { register(newServeCmd) }

// platformConfig is what a platform node needs, from flags or from the demo.
type platformConfig struct {
	db          string        // store DSN
	jlisURL     string        // J-LIS base URL
	jlisToken   string        // platform token for J-LIS
	dataDir     string        // holds master.key and spooled CRLs
	publicURL   string        // base URL holders reach
	crlInterval time.Duration // CRL refresh interval
	// privateWebhooks lets tenants' webhook endpoints be on loopback and private networks
	// (platform.WithPrivateWebhookTargets).
	privateWebhooks bool
	// rateLimits are the API's rate limits (web.WithRateLimits); nil: none.
	rateLimits *web.RateLimits
	// insecureJLIS allows a J-LIS URL that is not https (the demo's and tests' local simulator).
	insecureJLIS bool
	// pins are the J-LIS CA certificates pinned by serve --trust / --trust-sha256; nil: the ones
	// recorded at the first start are the reference (wiring.CheckTrust).
	pins *wiring.Pins
	// cardAPCAs are the card-AP CA keys trusted for chip-reading verifications (serve
	// --card-ap-ca); none: chip reading is off.
	cardAPCAs []*rsa.PublicKey
	// demo fills the landing page with the demo's accounts and cards.
	demo *pages.Demo
}

// crlHealth reports the fetcher's CRL freshness per CA for the operator's health page.
func crlHealth(f *revocation.Fetcher) func(context.Context) []pages.CAHealth {
	return func(context.Context) []pages.CAHealth {
		var out []pages.CAHealth
		now := time.Now()
		for _, src := range f.Sources() {
			st, _ := f.State(src.Name)
			h := pages.CAHealth{Name: src.Name, Fresh: st.Fresh(now), FetchedAt: st.FetchedAt}
			if st.Index != nil {
				md := st.Index.Metadata()
				h.ThisUpdate, h.NextUpdate = md.ThisUpdate, md.NextUpdate
				if md.Number != nil {
					h.Number = md.Number.String()
				}
			}
			if st.LastError != nil {
				h.Error = st.LastError.Error()
			}
			out = append(out, h)
		}
		return out
	}
}

// node is a running platform: its parts, for the serve command, the demo and tests.
type node struct {
	store    *store.Store
	plat     *platform.Platform
	oidc     *oidc.Provider // the OpenID provider, served under /oidc
	fetcher  *revocation.Fetcher
	evidence *evidence.Log
	handler  http.Handler
	metrics  http.Handler // the Prometheus handler, never on handler: serve --metrics-addr serves it apart
	// stopLog ends the evidence log's background work after the HTTP server has stopped (its
	// shutdown protocol) and waits for its last checkpoint.
	stopLog func()
}

// loadMaster reads the platform's master secret from DIR/master.key, creating it on first use.
func loadMaster(dir string) ([]byte, error) {
	return loadSecretKey(filepath.Join(dir, "master.key"), "master key")
}

// loadSecretKey reads a secret of at least 32 bytes from path, or creates a random one there
// (0600, its directory 0700) on first use. When another node creates it at the same moment, the
// loser reads the winner's key, so every node ends up with the same one. what names the key in
// errors ("master key").
func loadSecretKey(path, what string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		b = make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, b); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadSecretKey(path, what) // another node made it first
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", what, err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, err
		}
		return b, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("%s %s is shorter than 32 bytes", what, path)
	}
	return b, nil
}

// startNode opens the store, fetches the trusted CAs from J-LIS, starts the CRL fetcher and
// builds the platform and its HTTP handler. The fetcher runs until ctx ends.
func startNode(ctx context.Context, cfg platformConfig) (*node, error) {
	if cfg.db == "" {
		return nil, errors.New("--db is required (sqlite:PATH or postgres://...)")
	}
	if cfg.jlisURL == "" {
		return nil, errors.New("--jlis URL of the J-LIS service is required")
	}
	if u, err := url.Parse(cfg.jlisURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("--jlis %q is not an http(s) URL", cfg.jlisURL)
	} else if u.Scheme != "https" && !cfg.insecureJLIS {
		return nil, fmt.Errorf("--jlis %s is not https: J-LIS's CA certificates, renewal links and facts must come over an authenticated channel (use https, or --insecure-jlis for a local simulator)", cfg.jlisURL)
	}
	master, err := loadMaster(cfg.dataDir)
	if err != nil {
		return nil, err
	}
	// The pages' session key derives from the master secret, so every node shares it and it
	// survives restarts.
	secret, err := kdf.New(master)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	st, err := store.Open(ctx, cfg.db)
	if err != nil {
		return nil, err
	}
	jc := jlisapi.New(cfg.jlisURL, jlisapi.WithToken(cfg.jlisToken))
	cas, sources, err := wiring.Trust(ctx, jc, cfg.jlisURL)
	if err != nil {
		st.Close()
		return nil, err
	}
	if cfg.pins == nil {
		slog.Warn("no --trust given: the J-LIS CAs recorded at the first start are the reference; pin them with serve --trust FILE")
	}
	if err := wiring.CheckTrust(ctx, cas, cfg.pins, st, time.Now()); err != nil {
		st.Close()
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	for _, ca := range cas {
		slog.Info("trusting J-LIS CA", "ca", ca.Name, "subject", ca.Cert.Subject.String(), "key_id", platform.CAKey(ca.Cert), "sha256", wiring.Fingerprint(ca.Cert))
	}
	spool := filepath.Join(cfg.dataDir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		st.Close()
		return nil, err
	}
	hook := &crlHook{} // bound to the notifier below, before the first CRL is read (notify.go)
	f := revocation.NewFetcher(sources, revocation.WithTempDir(spool), revocation.WithOnUpdate(hook.update), revocation.WithHighWater(st))
	keys, err := evidence.LoadKeys(filepath.Join(cfg.dataDir, "evidence"), evidence.DefaultOrigin, rand.Reader)
	if err != nil {
		st.Close()
		return nil, err
	}
	log, err := evidence.New(st, keys)
	if err != nil {
		st.Close()
		return nil, err
	}
	logCtx, cancelLog := context.WithCancel(context.WithoutCancel(ctx))
	logDone := make(chan struct{})
	go func() {
		if err := log.Run(logCtx); err != nil && logCtx.Err() == nil {
			slog.Error("evidence log stopped", "err", err)
		}
		close(logDone)
	}()
	stopLog := func() { cancelLog(); <-logDone }
	opts := []platform.Option{platform.WithMaster(master), platform.WithCAs(cas...),
		platform.WithRevocation(wiring.Revocation{Checker: revocation.NewChecker(f)}), platform.WithLinks(jc),
		platform.WithHolderBaseURL(cfg.publicURL), platform.WithEvidence(log)}
	if cfg.privateWebhooks {
		opts = append(opts, platform.WithPrivateWebhookTargets())
	}
	if len(cfg.cardAPCAs) > 0 {
		opts = append(opts, platform.WithCardAPCAs(cfg.cardAPCAs...))
	}
	p, err := platform.New(st, opts...)
	if err != nil {
		stopLog()
		st.Close()
		return nil, err
	}
	nt, err := startNotification(ctx, p, jc, hook)
	if err != nil {
		stopLog()
		st.Close()
		return nil, err
	}
	stopEvidence := stopLog
	stopLog = func() { nt.stop(); stopEvidence() } // the deliverer's shutdown first, then the log's
	if err := f.Refresh(ctx); err != nil {
		slog.Warn("first CRL fetch failed; verifications fall back to OCSP until it succeeds", "err", err)
	}
	// Every CRL refresh also looks for new CA generations (a J-LIS rollover) and trusts them by
	// the same check as above.
	tr := &wiring.TrustRefresher{JLIS: jc, Base: cfg.jlisURL, Pins: cfg.pins, Store: st, Platform: p, Fetcher: f, Clock: clockwork.NewRealClock()}
	go tr.Run(ctx, cfg.crlInterval)
	ready := nodeReadiness(st, f, log)
	wopts := []web.Option{web.WithReadiness(ready), web.WithCollectors(append(f.Collectors(), nt.collectors()...)...)}
	if cfg.rateLimits != nil {
		wopts = append(wopts, web.WithRateLimits(*cfg.rateLimits))
	}
	prov, err := oidc.New(p, st, oidc.Config{Issuer: strings.TrimRight(cfg.publicURL, "/") + "/oidc", Master: master})
	if err != nil {
		stopLog()
		st.Close()
		return nil, err
	}
	pg, err := pages.New(p, pages.Config{Key: secret.Key(kdf.Pages), Health: crlHealth(f), Demo: cfg.demo, OIDC: prov})
	if err != nil {
		stopLog()
		st.Close()
		return nil, err
	}
	wopts = append(wopts, web.WithRoutes(func(m *http.ServeMux) { m.Handle("/oidc/", prov.Handler()) }), web.WithTenantRoutes(prov.APIRoutes))
	wopts = append(wopts, web.WithRoutes(pg.Routes))
	h := web.New(p, wopts...)
	return &node{store: st, plat: p, oidc: prov, fetcher: f, evidence: log, handler: withIndex(h, platformIndex()), metrics: h.Metrics(), stopLog: stopLog}, nil
}

func newServeCmd() *cobra.Command {
	var cfg platformConfig
	var addr, metricsAddr, tokenFile, trustFile string
	var trustSums, cardAPFiles []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the platform API (/v1) for relying parties and holders",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("read --jlis-token-file: %w", err)
				}
				cfg.jlisToken = strings.TrimSpace(string(b))
			}
			if cfg.db == "" || cfg.jlisURL == "" {
				return errors.New("--db (sqlite:PATH or postgres://...) and --jlis URL are required")
			}
			pins, err := wiring.LoadPins(trustFile, trustSums)
			if err != nil {
				return err
			}
			cfg.pins = pins
			for _, f := range cardAPFiles {
				k, err := readRSAPublicKeyPEM(f)
				if err != nil {
					return fmt.Errorf("--card-ap-ca %s: %w", f, err)
				}
				cfg.cardAPCAs = append(cfg.cardAPCAs, k)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			if cfg.publicURL == "" {
				cfg.publicURL = "http://" + ln.Addr().String()
			}
			var mln net.Listener
			if metricsAddr != "" {
				if mln, err = net.Listen("tcp", metricsAddr); err != nil {
					ln.Close()
					return fmt.Errorf("listen on --metrics-addr %s: %w", metricsAddr, err)
				}
			}
			n, err := startNode(ctx, cfg)
			if err != nil {
				ln.Close()
				if mln != nil {
					mln.Close()
				}
				return err
			}
			defer n.store.Close()
			defer n.stopLog() // after the server: the log's shutdown protocol
			fmt.Fprintf(cmd.OutOrStdout(), "mynagate platform on http://%s (store %s, J-LIS %s, evidence log %s)\n", ln.Addr(), n.store.Dialect(), cfg.jlisURL, n.evidence.Origin())
			fmt.Fprintf(cmd.OutOrStdout(), "holder challenges signed with platform key ed25519:%s (holders pin it: reader verify --platform-key)\n", base64.StdEncoding.EncodeToString(n.plat.ChallengePublicKey()))
			if mln != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "metrics on http://%s/metrics\n", mln.Addr())
				mux := http.NewServeMux()
				mux.Handle("GET /metrics", n.metrics)
				go serveUntilDone(ctx, mln, mux)
			}
			return serveUntilDone(ctx, ln, n.handler)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.db, "db", "", "store: sqlite:PATH or postgres://user@host:port/db")
	fl.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	fl.StringVar(&metricsAddr, "metrics-addr", "", "serve /metrics on this address (e.g. an internal interface); without it there are no metrics: they are never on the API")
	fl.StringVar(&cfg.jlisURL, "jlis", "", "base URL of J-LIS (the simulator: mynagate jlis serve)")
	fl.StringVar(&tokenFile, "jlis-token-file", "", "file with the platform's bearer token for J-LIS")
	fl.BoolVar(&cfg.insecureJLIS, "insecure-jlis", false, "allow a --jlis URL that is not https (a local simulator)")
	fl.StringVar(&trustFile, "trust", "", "PEM file of the J-LIS CA certificates to trust; a CA J-LIS serves that is not in it is refused at start (default: the CAs recorded at the first start)")
	fl.StringSliceVar(&trustSums, "trust-sha256", nil, "SHA-256 fingerprint of a J-LIS CA certificate to trust (repeatable; with or instead of --trust)")
	fl.StringSliceVar(&cardAPFiles, "card-ap-ca", nil, "PEM public key of a card-AP CA to trust for chip_reading sessions (repeatable; 'mynagate jlis ca --ca card-ap'); without it chip_reading is refused")
	fl.StringVar(&cfg.dataDir, "data", "mynagate-data", "directory for the master key (shared by all nodes) and spooled CRLs")
	fl.StringVar(&cfg.publicURL, "public-url", "", "base URL holders reach this platform at (default http://ADDR)")
	fl.DurationVar(&cfg.crlInterval, "crl-interval", time.Minute, "how often CRLs are fetched (conditional GET)")
	fl.BoolVar(&cfg.privateWebhooks, "webhook-private-targets", false, "let webhook endpoints be on loopback and private networks (default: public addresses only)")
	cfg.rateLimits = new(web.RateLimits)
	addRateLimitFlags(fl, cfg.rateLimits)
	return cmd
}

// serveUntilDone serves h on ln until ctx ends, then shuts down gracefully (in-flight requests
// get 10 seconds).
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/ticket"
	"github.com/mynagate/mynagate/ticket/pages"
	"github.com/spf13/cobra"
)

func init() { register(newTicketCmd) }

// The ticketing service (package ticket): a relying party of the platform, reaching it only
// through the public client and its webhooks.

func newTicketCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ticket",
		Short: "The ticketing service, a relying party of the platform: events, lotteries, per-person limits, rotating codes, resale",
	}
	cmd.AddCommand(newTicketServeCmd(), newTicketOrganiserCmd())
	for _, b := range ticketSubcommands {
		cmd.AddCommand(b())
	}
	return cmd
}

// ticketSubcommands lets other files add `mynagate ticket X` commands.
var ticketSubcommands []func() *cobra.Command

// ticketConfig is what a ticket node needs.
type ticketConfig struct {
	db          string // sqlite:PATH or postgres://…
	platformURL string
	apiKey      string
	codeKeyFile string
	// webhookSecret verifies the platform's webhooks (whsec_…); empty: no webhook route.
	webhookSecret string
}

// readSecretFile reads a one-line secret file.
func readSecretFile(flag, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", flag, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s %s is empty", flag, path)
	}
	return v, nil
}

// loadCodeKey reads the ticket service's secret, creating it (0600) on first use. Every node of
// one service shares it; nobody else may have it (gates get only the rotating-code key that
// ticket.New derives from it).
func loadCodeKey(path string) ([]byte, error) {
	return loadSecretKey(path, "code key")
}

// startTicket opens the database and builds a ticket node's service and its handler: the API
// (/api/, /webhooks/, /healthz) and the pages (everything else).
func startTicket(ctx context.Context, cfg ticketConfig, opts ...ticket.Option) (*ticket.Service, http.Handler, error) {
	if cfg.db == "" || cfg.platformURL == "" || cfg.apiKey == "" {
		return nil, nil, errors.New("--db, --platform and --api-key-file are required")
	}
	key, err := loadCodeKey(cfg.codeKeyFile)
	if err != nil {
		return nil, nil, err
	}
	db, err := ticket.OpenDB(ctx, cfg.db)
	if err != nil {
		return nil, nil, err
	}
	pc := client.New(cfg.platformURL, client.WithAPIKey(cfg.apiKey))
	if cfg.webhookSecret != "" {
		opts = append(opts, ticket.WithWebhookSecret(cfg.webhookSecret))
	}
	s, err := ticket.New(db, pc, key, opts...)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	pg, err := pages.New(s, key)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	api := s.Handler()
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/webhooks/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/", pg)
	return s, mux, nil
}

func newTicketServeCmd() *cobra.Command {
	var cfg ticketConfig
	var addr, keyFile, whFile, gateKeyFile string
	var gateCAs, gateCRLs []string
	var gateValidity time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a ticketing node (stateless: several nodes share one PostgreSQL)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
			if keyFile == "" {
				return errors.New("--api-key-file is required (the platform API key of the ticketing tenant)")
			}
			var err error
			if cfg.apiKey, err = readSecretFile("--api-key-file", keyFile); err != nil {
				return err
			}
			if whFile != "" {
				if cfg.webhookSecret, err = readSecretFile("--webhook-secret-file", whFile); err != nil {
					return err
				}
			}
			var opts []ticket.Option
			gopt, err := gateOption(gateKeyFile, gateCAs, gateCRLs, gateValidity)
			if err != nil {
				return err
			}
			if gopt != nil {
				opts = append(opts, gopt)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			s, h, err := startTicket(ctx, cfg, opts...)
			if err != nil {
				ln.Close()
				return err
			}
			defer s.DB().Close()
			fmt.Fprintf(cmd.OutOrStdout(), "mynagate ticket on http://%s (database %s, platform %s)\n", ln.Addr(), s.DB().Dialect(), cfg.platformURL)
			return serveUntilDone(ctx, ln, h)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.db, "db", "", "database: sqlite:PATH or postgres://user@host:port/db")
	fl.StringVar(&addr, "addr", "127.0.0.1:8090", "listen address")
	fl.StringVar(&cfg.platformURL, "platform", "", "base URL of the mynagate platform")
	fl.StringVar(&keyFile, "api-key-file", "", "file with the platform API key of the ticketing tenant")
	fl.StringVar(&cfg.codeKeyFile, "code-key-file", "mynagate-ticket/code.key", "the ticket service's secret (created on first use; shared by every node): rotating codes, vouchers and sessions are keyed from it; gates get only the rotating-code key")
	fl.StringVar(&whFile, "webhook-secret-file", "", "file with the platform webhook endpoint's secret (whsec_…): enables POST /webhooks/platform")
	fl.StringVar(&gateKeyFile, "gate-manifest-key", "", "PEM file of the Ed25519 private key (PKCS#8) signing gate manifests: enables GET …/gate-manifest")
	fl.StringArrayVar(&gateCAs, "gate-ca", nil, "J-LIS authentication CA certificate (DER or PEM file) for gate manifests; repeatable")
	fl.StringArrayVar(&gateCRLs, "gate-crl", nil, "CRL of a --gate-ca (file, or http(s) URL fetched at each manifest download); repeatable")
	fl.DurationVar(&gateValidity, "gate-manifest-validity", 24*time.Hour, "longest validity of a gate manifest (also bounded by the CRLs' nextUpdate)")
	return cmd
}

func newTicketOrganiserCmd() *cobra.Command {
	var db, name string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "organiser",
		Short: "Create an organiser and print its API token (shown once)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if db == "" || name == "" {
				return errors.New("--db and --name are required")
			}
			d, err := ticket.OpenDB(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer d.Close()
			s, err := ticket.New(d, noPlatform{}, make([]byte, 32))
			if err != nil {
				return err
			}
			o, tok, err := s.CreateOrganiser(cmd.Context(), name)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, map[string]string{"id": o.ID, "name": o.Name, "token": tok})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "organiser %s (%s); its token follows, shown only this once\n", o.ID, o.Name)
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "database: sqlite:PATH or postgres://…")
	cmd.Flags().StringVar(&name, "name", "", "the organiser's name")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the token is shown only this once)")
	return cmd
}

// noPlatform is the platform of commands that never verify anyone.
type noPlatform struct{}

func (noPlatform) CreateSession(context.Context, client.SessionRequest) (*client.Session, error) {
	return nil, errors.New("no platform configured")
}
func (noPlatform) Session(context.Context, string) (*client.Session, error) {
	return nil, errors.New("no platform configured")
}
func (noPlatform) CardKey(context.Context) (*client.CardKey, error) {
	return nil, errors.New("no platform configured")
}

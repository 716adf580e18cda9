package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/webhook"
	"github.com/spf13/cobra"
)

func init() { register(newWebhookCmd) }

// tenantFlags reach the API as a tenant; the key never comes from the command line.
type tenantFlags struct {
	platform string
	keyFile  string
}

func (f *tenantFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.platform, "platform", "http://127.0.0.1:8080", "base URL of the platform API")
	cmd.Flags().StringVar(&f.keyFile, "api-key-file", "", "file holding the tenant's API key (default: $MYNAGATE_API_KEY)")
}

func (f *tenantFlags) client() (*client.Client, error) {
	key := os.Getenv("MYNAGATE_API_KEY")
	if f.keyFile != "" {
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("read --api-key-file: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		return nil, errors.New("an API key is needed: --api-key-file FILE or $MYNAGATE_API_KEY")
	}
	return client.New(f.platform, client.WithAPIKey(key)), nil
}

func newWebhookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Receive and manage webhooks (certificate.revoked, person.basic4_updated, verification.completed)",
		Long: `Webhooks are signed per Standard Webhooks: headers webhook-id (the same on every retry),
webhook-timestamp and webhook-signature = "v1," + base64(HMAC-SHA256(key, id.timestamp.body)), where
the endpoint's secret is "whsec_" + base64(key).

listen is a receiver for relying-party developers; the other commands manage the endpoints of
the tenant whose API key they are given.`,
	}
	cmd.AddCommand(newWebhookListenCmd(), newWebhookAddCmd(), newWebhookListCmd(), newWebhookRotateCmd(),
		newWebhookDeliveriesCmd(), newWebhookRedeliverCmd())
	return cmd
}

func newWebhookListenCmd() *cobra.Command {
	var (
		secrets   []string
		addr      string
		tolerance time.Duration
		count     int
	)
	cmd := &cobra.Command{
		Use:   "listen --secret whsec_…",
		Short: "Receive webhooks: verify each signature and print the event as one JSON line",
		Long: `Listen on --addr, accept POSTs on any path, verify each message with the secrets (give
--secret twice during a rotation; $MYNAGATE_WEBHOOK_SECRET is used when none is given) and print
every verified event to standard output as one JSON line {"id", "type", "timestamp", "data"}.
A message that fails verification is answered 400 and reported on standard error.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(secrets) == 0 {
				if s := os.Getenv("MYNAGATE_WEBHOOK_SECRET"); s != "" {
					secrets = []string{s}
				}
			}
			v, err := webhook.NewVerifier(secrets...)
			if err != nil {
				return fmt.Errorf("%w (give --secret or $MYNAGATE_WEBHOOK_SECRET)", err)
			}
			v = v.WithTolerance(tolerance)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r := &listener{v: v, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(), count: count, done: stop}
			fmt.Fprintf(cmd.ErrOrStderr(), "listening for webhooks on http://%s/\n", ln.Addr())
			return serveUntilDone(ctx, ln, r)
		},
	}
	cmd.Flags().StringArrayVar(&secrets, "secret", nil, "endpoint secret whsec_… (repeat during a rotation)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:9000", "listen address")
	cmd.Flags().DurationVar(&tolerance, "tolerance", webhook.DefaultTolerance, "how far a message's timestamp may be from this clock")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many verified events (0: run until interrupted)")
	return cmd
}

// listener verifies and prints webhooks. Messages are printed once per webhook-id: a retry of a
// message it already acknowledged is acknowledged again and not printed twice.
type listener struct {
	v      *webhook.Verifier
	out    io.Writer
	errOut io.Writer
	count  int
	done   func()

	mu   sync.Mutex
	seen map[string]bool
	n    int
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	m, err := l.v.Verify(r.Header, body, time.Now())
	if err != nil {
		fmt.Fprintf(l.errOut, "refused a message from %s: %v\n", r.RemoteAddr, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ev struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		fmt.Fprintf(l.errOut, "message %s is not a JSON event: %v\n", m.ID, err)
		http.Error(w, "not a JSON event", http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if !l.seen[m.ID] {
		l.seen[m.ID] = true
		line, _ := json.Marshal(map[string]any{"id": m.ID, "type": ev.Type, "timestamp": ev.Timestamp, "data": ev.Data})
		fmt.Fprintf(l.out, "%s\n", line)
		l.n++
		if l.count > 0 && l.n >= l.count {
			defer l.done()
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func newWebhookAddCmd() *cobra.Command {
	var (
		f         tenantFlags
		url, desc string
		types     []string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "add --url URL",
		Short: "Register a webhook endpoint for the tenant and print its secret (shown once)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			e, secret, err := c.CreateEndpoint(cmd.Context(), client.EndpointRequest{URL: url, Description: desc, EventTypes: types})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"endpoint": e, "secret": secret})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "endpoint %s -> %s\nsecret %s\n", e.ID, e.URL, secret)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&url, "url", "", "where to POST events (http or https)")
	_ = cmd.MarkFlagRequired("url")
	cmd.Flags().StringVar(&desc, "description", "", "a label")
	cmd.Flags().StringSliceVar(&types, "type", nil, "event types to send (default: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newWebhookListCmd() *cobra.Command {
	var f tenantFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's webhook endpoints",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			es, err := c.Endpoints(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, es)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tURL\tTYPES\tSTATE")
			for _, e := range es {
				state := "enabled"
				if e.DisabledAt != nil {
					state = "disabled"
				}
				ts := "all"
				if len(e.EventTypes) > 0 {
					ts = strings.Join(e.EventTypes, ",")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", e.ID, e.URL, ts, state)
			}
			return w.Flush()
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newWebhookRotateCmd() *cobra.Command {
	var f tenantFlags
	var endpoint string
	var grace time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate --endpoint ID",
		Short: "Give an endpoint a new secret; the old one keeps signing during --grace",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			secret, until, err := c.RotateSecret(cmd.Context(), endpoint, grace)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"endpoint": endpoint, "secret": secret, "previous_until": until.UTC()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s\nthe previous secret signs until %s\n", secret, humanTime(until))
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "endpoint id (we_…)")
	_ = cmd.MarkFlagRequired("endpoint")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().DurationVar(&grace, "grace", 24*time.Hour, "how long the previous secret keeps signing (0: stop at once)")
	return cmd
}

func newWebhookDeliveriesCmd() *cobra.Command {
	var f tenantFlags
	var q client.DeliveryQuery
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deliveries",
		Short: "List deliveries, newest first (--state dead for the dead letters)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ds, err := c.Deliveries(cmd.Context(), q)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, ds)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "EVENT\tTYPE\tENDPOINT\tSTATE\tATTEMPTS\tLAST")
			for _, d := range ds {
				last := d.LastError
				if last == "" && d.LastStatus != 0 {
					last = fmt.Sprintf("HTTP %d", d.LastStatus)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", d.EventID, d.EventType, d.EndpointID, d.State, d.Attempts, last)
			}
			return w.Flush()
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&q.State, "state", "", "pending, delivered or dead")
	cmd.Flags().StringVar(&q.EndpointID, "endpoint", "", "only this endpoint")
	cmd.Flags().StringVar(&q.EventID, "event", "", "only this event")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newWebhookRedeliverCmd() *cobra.Command {
	var f tenantFlags
	var event, endpoint string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "redeliver (--event ID [--endpoint ID] | --endpoint ID)",
		Short: "Send an event again, or every dead letter of an endpoint, with the same webhook-id",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var n int
			switch {
			case event != "":
				n, err = c.RedeliverEvent(cmd.Context(), event, endpoint)
			case endpoint != "":
				n, err = c.RedeliverDead(cmd.Context(), endpoint)
			default:
				return errors.New("give --event, or --endpoint for its dead letters")
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, map[string]int{"queued": n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queued %d deliveries\n", n)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&event, "event", "", "event id (evt_…), the webhook-id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "endpoint id (we_…)")
	return cmd
}

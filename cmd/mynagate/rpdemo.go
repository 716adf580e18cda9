package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/rpdemo"
	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
)

func init() {
	register(newRPDemoCmd)
	register(newTVDemoCmd)
}

func newRPDemoCmd() *cobra.Command {
	var cfg rpdemo.Config
	var addr, signCA string
	cmd := &cobra.Command{
		Use:   "rp-demo",
		Short: "Run a demo relying party with \"Log in with My Number Card\" (go-oidc + x/oauth2 against the platform's /oidc)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			if cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
				return errors.New("--issuer, --client-id and --client-secret are required (mynagate oidc client create)")
			}
			if signCA != "" {
				b, err := os.ReadFile(signCA)
				if err != nil {
					return fmt.Errorf("--sign-ca: %w", err)
				}
				for len(b) > 0 {
					var blk *pem.Block
					if blk, b = pem.Decode(b); blk == nil {
						break
					}
					c, err := x509.ParseCertificate(blk.Bytes)
					if err != nil {
						return fmt.Errorf("--sign-ca %s: %w", signCA, err)
					}
					cfg.SignCAs = append(cfg.SignCAs, c)
				}
				if len(cfg.SignCAs) == 0 {
					return fmt.Errorf("--sign-ca %s: no PEM certificate in it", signCA)
				}
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			if cfg.BaseURL == "" {
				cfg.BaseURL = "http://" + ln.Addr().String()
			}
			app, err := rpdemo.New(ctx, cfg)
			if err != nil {
				ln.Close()
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "demo relying party on %s (redirect URI %s/callback)\n", cfg.BaseURL, cfg.BaseURL)
			return serveUntilDone(ctx, ln, app.Handler())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Issuer, "issuer", "http://127.0.0.1:8080/oidc", "the OpenID provider")
	fl.StringVar(&cfg.ClientID, "client-id", "", "the client registered for this app")
	fl.StringVar(&cfg.ClientSecret, "client-secret", "", "its secret")
	fl.StringVar(&addr, "addr", "127.0.0.1:8090", "listen address")
	fl.StringVar(&cfg.BaseURL, "base-url", "", "public base URL of this app (default http://ADDR)")
	fl.StringVar(&signCA, "sign-ca", "", "PEM file of the J-LIS signing CA(s) the signed-document example verifies CMS signatures against (with openssl)")
	return withoutJSON(cmd, "it serves a web app and prints only where")
}

// newTVDemoCmd is a TV or set-top box logging its viewer in with the device authorization
// grant (RFC 8628): it shows the user code and a QR code of the verification URI on the
// terminal, polls the token endpoint (slowing down when told), and prints the verified claims.
func newTVDemoCmd() *cobra.Command { return tvDemoCmd(clockwork.NewRealClock()) }

// tvDemoCmd is tv-demo polling on clk (tests give the provider's fake clock).
func tvDemoCmd(clk clockwork.Clock) *cobra.Command {
	var issuer, clientID string
	var scopes []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "tv-demo",
		Short: "Log a TV in with the device authorization grant: user code and QR on the terminal, then the verified claims",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			if clientID == "" {
				return errors.New("--client-id is required (mynagate oidc client create --public)")
			}
			return runTVDemo(ctx, cmd, clk, issuer, clientID, scopes, asJSON)
		},
	}
	cmd.Flags().StringVar(&issuer, "issuer", "http://127.0.0.1:8080/oidc", "the OpenID provider")
	cmd.Flags().StringVar(&clientID, "client-id", "", "the TV's public client")
	cmd.Flags().StringSliceVar(&scopes, "scope", []string{"name", "birthdate"}, "scopes besides openid")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the verified claims as JSON (the code and QR go to standard error)")
	return cmd
}

func runTVDemo(ctx context.Context, cmd *cobra.Command, clk clockwork.Clock, issuer, clientID string, scopes []string, asJSON bool) error {
	p, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		return fmt.Errorf("discover %s: %w", issuer, err)
	}
	var meta struct {
		Device string `json:"device_authorization_endpoint"`
	}
	if err := p.Claims(&meta); err != nil || meta.Device == "" {
		return fmt.Errorf("%s offers no device authorization endpoint", issuer)
	}
	ep := p.Endpoint()
	ep.DeviceAuthURL = meta.Device
	cfg := oauth2.Config{ClientID: clientID, Endpoint: ep, Scopes: append([]string{gooidc.ScopeOpenID}, scopes...)}
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return fmt.Errorf("device authorization at %s: %w", meta.Device, err)
	}
	expiry := clk.Now().Add(time.Until(da.Expiry))
	out := cmd.OutOrStdout()
	if asJSON {
		out = cmd.ErrOrStderr()
	}
	link := da.VerificationURIComplete
	if link == "" {
		link = da.VerificationURI
	}
	if q, err := qrcode.New(link, qrcode.Low); err == nil {
		fmt.Fprint(out, q.ToSmallString(false))
	}
	fmt.Fprintf(out, "\n  マイナンバーカードでログイン / Log in with My Number Card\n\n      %s\n\n", da.UserCode)
	fmt.Fprintf(out, "  Scan the QR code, or open %s and enter the code.\n", da.VerificationURI)
	fmt.Fprintf(out, "  Waiting (expires %s)...\n", expiry.Format(time.Kitchen))
	tok, raw, err := pollDevice(ctx, clk, cfg, da, expiry)
	if err != nil {
		return err
	}
	idt, err := p.Verifier(&gooidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		return fmt.Errorf("ID token: %w", err)
	}
	var cl struct {
		ACR string   `json:"acr"`
		AMR []string `json:"amr"`
	}
	idt.Claims(&cl)
	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	var facts map[string]any
	ui.Claims(&facts)
	if asJSON {
		return printJSON(cmd, map[string]any{"sub": idt.Subject, "acr": cl.ACR, "amr": cl.AMR, "userinfo": facts})
	}
	fmt.Fprintf(out, "\nLogged in.\n  sub  %s\n  acr  %s\n  amr  %s\n", idt.Subject, cl.ACR, strings.Join(cl.AMR, " "))
	for _, k := range []string{"name", "birthdate", "gender", "address"} {
		if v, ok := facts[k]; ok {
			if m, ok := v.(map[string]any); ok {
				v = m["formatted"]
			}
			fmt.Fprintf(out, "  %-9s %v\n", k, v)
		}
	}
	return nil
}

// pollDevice polls the token endpoint for the device code until the holder has logged in on
// the phone (RFC 8628 §3.4-3.5): it waits the interval the provider gave before each poll, five
// seconds longer after slow_down, and gives up at the code's expiry. It returns the access token
// and the raw ID token. golang.org/x/oauth2's DeviceAccessToken does the same on the wall clock
// (a time.Ticker of whole seconds, no clock to inject), so a test could only wait it out; here
// the waits are on clk like everywhere else in the project, and the single poll stays a plain
// form POST whose answer x/oauth2 would have parsed the same way.
func pollDevice(ctx context.Context, clk clockwork.Clock, cfg oauth2.Config, da *oauth2.DeviceAuthResponse, expiry time.Time) (*oauth2.Token, string, error) {
	interval := time.Duration(da.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second // RFC 8628 §3.2: the default
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da.DeviceCode}, "client_id": {cfg.ClientID}}
	for {
		select {
		case <-ctx.Done():
			return nil, "", fmt.Errorf("device login: %w", ctx.Err())
		case <-clk.After(interval):
		}
		if !clk.Now().Before(expiry) {
			return nil, "", fmt.Errorf("the code %s expired before anyone logged in with it; start tv-demo again", da.UserCode)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.Endpoint.TokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, "", fmt.Errorf("device login: %w", err)
		}
		var body struct {
			AccessToken  string `json:"access_token"`
			TokenType    string `json:"token_type"`
			RefreshToken string `json:"refresh_token"`
			ExpiresIn    int64  `json:"expires_in"`
			IDToken      string `json:"id_token"`
			Error        string `json:"error"`
			Description  string `json:"error_description"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
		resp.Body.Close()
		switch {
		case err != nil:
			return nil, "", fmt.Errorf("device login: the token endpoint answered %s without a JSON body", resp.Status)
		case body.Error == "" && resp.StatusCode == http.StatusOK && body.AccessToken != "":
			tok := &oauth2.Token{AccessToken: body.AccessToken, TokenType: body.TokenType, RefreshToken: body.RefreshToken}
			if body.ExpiresIn > 0 {
				tok.Expiry = time.Now().Add(time.Duration(body.ExpiresIn) * time.Second)
			}
			return tok, body.IDToken, nil
		case body.Error == "authorization_pending":
		case body.Error == "slow_down":
			interval += 5 * time.Second
		case body.Error == "access_denied":
			return nil, "", fmt.Errorf("the holder declined the login on the phone (access_denied); nothing was shared")
		case body.Error == "expired_token":
			return nil, "", fmt.Errorf("the code %s expired before anyone logged in with it; start tv-demo again", da.UserCode)
		case body.Error != "":
			return nil, "", fmt.Errorf("device login: the token endpoint refused: %s %s", body.Error, body.Description)
		default:
			return nil, "", fmt.Errorf("device login: the token endpoint answered %s without a token", resp.Status)
		}
	}
}

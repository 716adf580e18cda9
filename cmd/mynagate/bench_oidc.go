package main

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/mynagate/mynagate/internal/benchkit"
	"github.com/spf13/cobra"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchOIDCCmd) }

func newBenchOIDCCmd() *cobra.Command {
	var n, logins int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "oidc",
		Short: "The OpenID provider: token (refresh grant) and userinfo requests per second, ID-token signing beside raw ECDSA P-256",
		Long: `Sets up a platform on SQLite with the OpenID provider and logs in LOGINS times through the whole
flow (authorization request, login page, the card's answer, consent, code exchange with PKCE);
then measures over HTTP on loopback the token endpoint (refresh-token grants, each rotating its
login's token and signing an ES256 ID token) and userinfo, and in-process the provider's ID-token
signing beside raw ECDSA P-256 signatures measured in the same run.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n <= 0 || logins <= 0 {
				return fmt.Errorf("--n and --logins must be positive")
			}
			ctx := cmd.Context()
			defer slog.SetDefault(slog.Default())
			slog.SetDefault(slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})))
			fmt.Fprintf(cmd.ErrOrStderr(), "setting up: J-LIS, cards, platform, provider, %d logins…\n", logins)
			world, err := benchkit.NewWorld(ctx, "", 4)
			if err != nil {
				return err
			}
			defer world.Close()
			o, err := benchkit.NewOIDC(ctx, world, logins)
			if err != nil {
				return err
			}
			raw1, err := benchkit.RawES256(2 * time.Second)
			if err != nil {
				return err
			}
			sign, err := o.IDTokenSigning(ctx, 2*time.Second)
			if err != nil {
				return err
			}
			tok, err := o.Refresh(n)
			if err != nil {
				return err
			}
			ui, err := o.Userinfo(n)
			if err != nil {
				return err
			}
			raw2, err := benchkit.RawES256(2 * time.Second)
			if err != nil {
				return err
			}
			raw := (raw1.PerSecond() + raw2.PerSecond()) / 2
			if asJSON {
				return printJSON(cmd, map[string]any{"cores": runtime.GOMAXPROCS(0), "raw_es256_per_s": raw, "id_token_sign_per_s": sign.PerSecond(),
					"id_token_over_raw": sign.PerSecond() / raw, "token_per_s": tok.PerSecond(), "userinfo_per_s": ui.PerSecond(),
					"token_per_raw_sign": tok.PerSecond() / raw, "userinfo_per_raw_sign": ui.PerSecond() / raw})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "baseline  raw ECDSA P-256 sign: %.0f/s on %d cores (%.0f/s before, %.0f/s after)\n\n", raw, runtime.GOMAXPROCS(0), raw1.PerSecond(), raw2.PerSecond())
			fmt.Fprintf(w, "%-28s %10s %12s %14s\n", "measurement", "per second", "of raw sign", "CPU per op")
			for _, r := range []benchkit.Result{sign, tok, ui} {
				fmt.Fprintf(w, "%-28s %10.0f %11.1f%% %14s\n", r.Name, r.PerSecond(), 100*r.PerSecond()/raw, r.CPUPerOp().Round(time.Microsecond))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "n", 2000, "requests per HTTP measurement")
	cmd.Flags().IntVar(&logins, "logins", 16, "logins made before measuring; their tokens are the concurrent clients")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

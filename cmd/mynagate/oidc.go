package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/spf13/cobra"
)

func init() { register(newOIDCCmd) }

// withProvider opens the store and the OpenID provider for the client registration commands
// (no J-LIS needed); like the tenant commands it refuses a --db that does not exist yet.
func withProvider(ctx context.Context, db, dataDir, publicURL string, f func(pr *oidc.Provider) error) error {
	return withStore(ctx, db, false, func(st *store.Store, p *platform.Platform) error {
		master, err := loadMaster(dataDir)
		if err != nil {
			return err
		}
		pr, err := oidc.New(p, st, oidc.Config{Issuer: strings.TrimRight(publicURL, "/") + "/oidc", Master: master})
		if err != nil {
			return err
		}
		return f(pr)
	})
}

func newOIDCCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "oidc", Short: "The OpenID provider (/oidc): register relying parties' clients"}
	clientCmd := &cobra.Command{Use: "client", Short: "Manage a tenant's OpenID Connect clients"}
	cmd.AddCommand(clientCmd)
	var db, data, publicURL, tenant, name string
	var redirects, logouts []string
	var public, asJSON bool
	common := func(c *cobra.Command) {
		c.Flags().StringVar(&db, "db", "", "store: sqlite:PATH or postgres://...")
		c.Flags().StringVar(&data, "data", "mynagate-data", "the platform's data directory (its master key)")
		c.Flags().StringVar(&publicURL, "public-url", "http://127.0.0.1:8080", "the platform's public base URL (the issuer is PUBLIC-URL/oidc)")
		c.Flags().StringVar(&tenant, "tenant", "", "the tenant that owns the client (required)")
		c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Register a client; its secret is shown once",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				return fmt.Errorf("--tenant is required")
			}
			return withProvider(cmd.Context(), db, data, publicURL, func(pr *oidc.Provider) error {
				c, secret, err := pr.CreateClient(cmd.Context(), tenant, oidc.ClientRequest{Name: name, RedirectURIs: redirects, LogoutURIs: logouts, Public: public})
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd, map[string]any{"client_id": c.ID, "client_secret": secret, "issuer": pr.Issuer(), "redirect_uris": c.Redirects})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "client %s (%s) of tenant %s, issuer %s\n", c.ID, c.Name, c.TenantID, pr.Issuer())
				if secret != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "secret %s (shown once)\n", secret)
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), "public client: no secret; PKCE with S256 is required")
				}
				return nil
			})
		},
	}
	common(create)
	create.Flags().StringVar(&name, "name", "", "display name, shown on the login page")
	create.Flags().StringSliceVar(&redirects, "redirect-uri", nil, "redirect URI, matched exactly (repeatable; https, or http on loopback)")
	create.Flags().StringSliceVar(&logouts, "post-logout-redirect-uri", nil, "post-logout redirect URI (repeatable)")
	create.Flags().BoolVar(&public, "public", false, "a public client (no secret; PKCE S256 required)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List a tenant's clients",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				return fmt.Errorf("--tenant is required")
			}
			return withProvider(cmd.Context(), db, data, publicURL, func(pr *oidc.Provider) error {
				cs, err := pr.Clients(cmd.Context(), tenant)
				if err != nil {
					return err
				}
				if asJSON {
					out := []map[string]any{}
					for _, c := range cs {
						out = append(out, map[string]any{"client_id": c.ID, "name": c.Name, "public": c.Public(), "redirect_uris": c.Redirects})
					}
					return printJSON(cmd, out)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tNAME\tPUBLIC\tREDIRECT URIS")
				for _, c := range cs {
					fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", c.ID, c.Name, c.Public(), strings.Join(c.Redirects, " "))
				}
				return w.Flush()
			})
		},
	}
	common(list)
	del := &cobra.Command{
		Use:   "delete CLIENT-ID",
		Short: "Delete a client; its tokens stop working at once",
		Args:  exactArgs("CLIENT-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tenant == "" {
				return fmt.Errorf("--tenant is required")
			}
			return withProvider(cmd.Context(), db, data, publicURL, func(pr *oidc.Provider) error {
				if err := pr.DeleteClient(cmd.Context(), tenant, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "client %s deleted\n", args[0])
				return nil
			})
		},
	}
	common(del)
	clientCmd.AddCommand(create, list, del)
	return cmd
}

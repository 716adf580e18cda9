package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/spf13/cobra"
)

func init() {
	register(newTenantCmd)
	register(newAPIKeyCmd)
}

// requireDB refuses an SQLite database that does not exist: opening it would create an empty
// one, and a mistyped --db would then answer "no tenants" (or hold a new tenant nobody serves).
// serve and demo create the database; the operator commands use the one they made.
func requireDB(dsn string) error {
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok || path == "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no database at %s: --db names the platform's database (serve --db creates it, or tenant create --init)", path)
	}
	return nil
}

// withOperator opens the store named by --db and runs f with an operator platform (tenants and
// API keys only; no J-LIS needed).
func withOperator(ctx context.Context, db string, f func(p *platform.Platform) error) error {
	return withOperatorInit(ctx, db, false, f)
}

// withOperatorInit is withOperator that, with create, makes a new SQLite database when there is
// none (tenant create --init).
func withOperatorInit(ctx context.Context, db string, create bool, f func(p *platform.Platform) error) error {
	return withStore(ctx, db, create, func(_ *store.Store, p *platform.Platform) error { return f(p) })
}

// withStore opens the store named by --db (refusing a missing SQLite file unless create) and
// runs f with it and an operator platform over it.
func withStore(ctx context.Context, db string, create bool, f func(st *store.Store, p *platform.Platform) error) error {
	if db == "" {
		return errors.New("--db is required (sqlite:PATH or postgres://...)")
	}
	if !create {
		if err := requireDB(db); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := platform.New(st)
	if err != nil {
		return err
	}
	return f(st, p)
}

func parseFacts(s string) ([]platform.Fact, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	if s == "all" {
		return platform.AllFacts, nil
	}
	var out []platform.Fact
	for _, f := range strings.Split(s, ",") {
		out = append(out, platform.Fact(strings.TrimSpace(f)))
	}
	return out, nil
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// tenantJSON is a tenant as the CLI prints it with --json, in the API's snake_case.
type tenantJSON struct {
	ID         string                    `json:"id"`
	Name       string                    `json:"name"`
	Facts      []platform.Fact           `json:"facts"`
	Revocation platform.RevocationPolicy `json:"revocation"`
	CreatedAt  time.Time                 `json:"created_at"`
}

func tenantOut(t platform.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Name: t.Name, Facts: t.Facts, Revocation: t.RevocationPolicy(), CreatedAt: t.CreatedAt}
}

// revocationSetting parses --revocation.
func revocationSetting(s string) (platform.TenantSetting, error) {
	p := platform.RevocationPolicy(s)
	if !p.Valid() {
		return nil, fmt.Errorf("--revocation %q: must be crl, ocsp or both", s)
	}
	return platform.WithRevocationPolicy(p), nil
}

const revocationUsage = "how revocation is established for the tenant's verifications: crl (the CRL in force; OCSP only while it is late), ocsp (an OCSP answer), or both; a certificate on any CRL held is revoked whatever the policy"

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage relying parties (tenants) of the platform"}
	var db, name, facts, revocation, newRevocation, newFacts string
	var asJSON, initDB bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a tenant and choose which basic 4 facts it may receive",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs, err := parseFacts(facts)
			if err != nil {
				return err
			}
			rev, err := revocationSetting(revocation)
			if err != nil {
				return err
			}
			return withOperatorInit(cmd.Context(), db, initDB, func(p *platform.Platform) error {
				t, err := p.CreateTenant(cmd.Context(), name, fs, rev)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd, tenantOut(*t))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "tenant %s (%s), may receive: %v, revocation: %s\n", t.ID, t.Name, t.Facts, t.RevocationPolicy())
				return nil
			})
		},
	}
	create.Flags().StringVar(&db, "db", "", "store: sqlite:PATH or postgres://...")
	create.Flags().StringVar(&name, "name", "", "display name, shown to holders")
	create.Flags().StringVar(&facts, "facts", "all", "basic 4 facts the tenant may receive: all, none, or a list of name,birthdate,sex,address")
	create.Flags().StringVar(&revocation, "revocation", string(platform.RevocationCRL), revocationUsage)
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	create.Flags().BoolVar(&initDB, "init", false, "create the database if it does not exist (SQLite)")
	update := &cobra.Command{
		Use:   "update TENANT-ID",
		Short: "Change a tenant's settings (its fact allowance, its revocation policy)",
		Long: `Change a tenant's settings. --facts replaces the basic 4 facts the tenant may receive.
A narrower allowance holds for everything served from then on (views, evidence bundles, webhooks,
OpenID claims); a wider one only for verifications made after it: their sealed evidence holds
only the facts allowed when they were made, and their certificate stays withheld.`,
		Args: exactArgs("TENANT-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var set []platform.TenantSetting
			if cmd.Flags().Changed("facts") {
				if strings.TrimSpace(newFacts) == "" {
					return errors.New("--facts is empty: give all, none, or a list of name,birthdate,sex,address")
				}
				fs, err := parseFacts(newFacts)
				if err != nil {
					return err
				}
				set = append(set, platform.WithFacts(fs))
			}
			if cmd.Flags().Changed("revocation") {
				rev, err := revocationSetting(newRevocation)
				if err != nil {
					return err
				}
				set = append(set, rev)
			}
			if len(set) == 0 {
				return errors.New("nothing to change: give --facts and/or --revocation")
			}
			return withOperator(cmd.Context(), db, func(p *platform.Platform) error {
				t, err := p.UpdateTenant(cmd.Context(), args[0], set...)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd, tenantOut(*t))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "tenant %s (%s), may receive: %v, revocation: %s\n", t.ID, t.Name, t.Facts, t.RevocationPolicy())
				return nil
			})
		},
	}
	update.Flags().StringVar(&db, "db", "", "store: sqlite:PATH or postgres://...")
	update.Flags().StringVar(&newRevocation, "revocation", "", revocationUsage)
	update.Flags().StringVar(&newFacts, "facts", "", "the basic 4 facts the tenant may receive from now on: all, none, or a list of name,birthdate,sex,address")
	update.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list := &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withOperator(cmd.Context(), db, func(p *platform.Platform) error {
				ts, err := p.Tenants(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]tenantJSON, 0, len(ts))
					for _, t := range ts {
						out = append(out, tenantOut(t))
					}
					return printJSON(cmd, out)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tNAME\tFACTS\tREVOCATION\tCREATED")
				for _, t := range ts {
					fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\n", t.ID, t.Name, t.Facts, t.RevocationPolicy(), humanTime(t.CreatedAt))
				}
				return w.Flush()
			})
		},
	}
	list.Flags().StringVar(&db, "db", "", "store: sqlite:PATH or postgres://...")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(create, update, list)
	return cmd
}

func newAPIKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Manage tenants' API keys (shown once, stored hashed)"}
	var db, tenant, name string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key for a tenant; the key is printed once",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				return errors.New("--tenant ID is required")
			}
			return withOperator(cmd.Context(), db, func(p *platform.Platform) error {
				key, k, err := p.CreateAPIKey(cmd.Context(), tenant, name)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd, map[string]string{"id": k.ID, "tenant": k.TenantID, "key": key})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", key)
				fmt.Fprintf(cmd.ErrOrStderr(), "API key %s for tenant %s; keep it now, it is not shown again\n", k.ID, k.TenantID)
				return nil
			})
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List a tenant's API keys (without secrets)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" {
				return errors.New("--tenant ID is required")
			}
			return withOperator(cmd.Context(), db, func(p *platform.Platform) error {
				ks, err := p.APIKeys(cmd.Context(), tenant)
				if err != nil {
					return err
				}
				if asJSON {
					type keyJSON struct {
						ID        string     `json:"id"`
						Tenant    string     `json:"tenant"`
						Name      string     `json:"name"`
						CreatedAt time.Time  `json:"created_at"`
						RevokedAt *time.Time `json:"revoked_at,omitempty"`
					}
					out := []keyJSON{}
					for _, k := range ks {
						out = append(out, keyJSON{k.ID, k.TenantID, k.Name, k.CreatedAt, k.RevokedAt})
					}
					return printJSON(cmd, out)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tNAME\tCREATED\tREVOKED")
				for _, k := range ks {
					rev := "-"
					if k.RevokedAt != nil {
						rev = humanTime(*k.RevokedAt)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, k.Name, humanTime(k.CreatedAt), rev)
				}
				return w.Flush()
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke KEY-ID",
		Short: "Revoke an API key; it stops working at once",
		Args:  exactArgs("KEY-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOperator(cmd.Context(), db, func(p *platform.Platform) error {
				if err := p.RevokeAPIKey(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{create, list, revoke} {
		c.Flags().StringVar(&db, "db", "", "store: sqlite:PATH or postgres://...")
	}
	create.Flags().StringVar(&tenant, "tenant", "", "tenant id")
	create.Flags().StringVar(&name, "name", "", "label of the key")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().StringVar(&tenant, "tenant", "", "tenant id")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(create, list, revoke)
	return cmd
}

package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/spf13/cobra"
)

func init() { register(newConsoleCmd) }

// newConsoleCmd manages the web console's users: a tenant's staff (who see that tenant's keys,
// webhooks, usage and evidence at /console) and the platform's operators (/operator).
func newConsoleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "console", Short: "Manage the web console's users"}
	user := &cobra.Command{Use: "user", Short: "Manage console users (email + password)"}
	var db, tenant, email string
	var operator, stdin, asJSON bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a console user: staff of a tenant (--tenant) or an operator (--operator); prints a new password unless --password-stdin",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (tenant == "") == !operator {
				return errors.New("give either --tenant ID (staff of that tenant) or --operator")
			}
			if email == "" {
				return errors.New("--email is required")
			}
			password, generated := "", false
			if stdin {
				line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4*platform.MaxPasswordLen)).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read the password from standard input: %w", err)
				}
				password = strings.TrimRight(line, "\r\n")
			} else {
				var err error
				if password, err = newPassword(); err != nil {
					return err
				}
				generated = true
			}
			return withOperator(cmd.Context(), db, func(p *platform.Platform) error {
				u, err := p.CreateConsoleUser(cmd.Context(), tenant, email, password, operator)
				if err != nil {
					return err
				}
				if asJSON {
					out := map[string]string{"id": u.ID, "email": u.Email, "role": u.Role, "tenant_id": u.TenantID,
						"created_at": u.CreatedAt.UTC().Format(time.RFC3339)}
					if generated {
						out["password"] = password // shown once
					}
					return printJSON(cmd, out)
				}
				what := "staff of tenant " + u.TenantID
				if u.Role == platform.RoleOperator {
					what = "an operator"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "console user %s (%s) created, %s\n", u.Email, u.ID, what)
				if generated {
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n", password)
					fmt.Fprintln(cmd.ErrOrStderr(), "the password above is shown once")
				}
				return nil
			})
		},
	}
	create.Flags().StringVar(&db, "db", "", "store: sqlite:PATH or postgres://...")
	create.Flags().StringVar(&tenant, "tenant", "", "tenant id (the user is that tenant's staff)")
	create.Flags().BoolVar(&operator, "operator", false, "the user is an operator of the platform")
	create.Flags().StringVar(&email, "email", "", "email address the user signs in with")
	create.Flags().BoolVar(&asJSON, "json", false, "print the user as JSON (with the password when it was generated)")
	create.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from the first line of standard input (12 to 128 characters)")
	user.AddCommand(create)
	cmd.AddCommand(user)
	return cmd
}

// newPassword returns 20 random characters from an alphabet without look-alikes.
func newPassword() (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	out := make([]byte, 0, 20)
	var b [1]byte
	for len(out) < cap(out) {
		if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
			return "", err
		}
		// Rejection sampling: 224 = 4 × 56, so every character is equally likely.
		if b[0] < 224 {
			out = append(out, alphabet[int(b[0])%len(alphabet)])
		}
	}
	return string(out), nil
}

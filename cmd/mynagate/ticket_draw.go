package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mynagate/mynagate/ticket/draw"
	"github.com/spf13/cobra"
)

func init() { ticketSubcommands = append(ticketSubcommands, newTicketDrawCmd) }

func newTicketDrawCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "draw", Short: "Lottery draws: re-run a published draw"}
	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify FILE|URL",
		Short: "Re-run a published lottery draw and check its seed against the commitment and its winners",
		Long: `Reads a published draw (GET /api/events/ID/draws/ROUND of a ticketing node, or a file holding
it), checks that the revealed seed hashes to the commitment published before the window closed,
re-runs the draw from the list of applications (the algorithm is in package ticket/draw's
documentation) and checks that the winners are exactly the published ones.`,
		Args: exactArgs("FILE|URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader
			src := args[0]
			if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
				hc := &http.Client{Timeout: 30 * time.Second}
				resp, err := hc.Get(src)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("GET %s: HTTP %d", src, resp.StatusCode)
				}
				r = resp.Body
			} else {
				f, err := os.Open(src)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			var d draw.Document
			dec := json.NewDecoder(io.LimitReader(r, 1<<30))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				return fmt.Errorf("%s is not a published draw: %w", src, err)
			}
			if d.Seed == "" {
				return errors.New("the draw has not been made yet: only its commitment is published (seed_hash " + d.SeedHash + ")")
			}
			if err := draw.Verify(&d); err != nil {
				return exitCode{code: 1, err: err}
			}
			if asJSON {
				return printJSON(cmd, map[string]any{"ok": true, "round": d.Round, "event": d.Event, "applications": len(d.Entries),
					"winners": len(d.Winners), "seed_hash": d.SeedHash})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: round %d of %s: %d applications, %d winners; the seed matches the commitment %s\n",
				d.Round, d.Event, len(d.Entries), len(d.Winners), d.SeedHash)
			return nil
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(verify)
	return cmd
}

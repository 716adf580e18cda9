package main

import (
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/mynagate/mynagate/jpki"
)

// The command-line conventions of docs/design/cli.md, as helpers. TestCommandTree (cli_test.go)
// walks the command tree and checks them.

// noJSON is the annotation of a command that prints no data, or data in a format of its own (a
// server's log, PEM, DER, a stream of JSON lines), and so has no --json flag. Its value says why.
const noJSON = "mynagate.no-json"

// withoutJSON marks cmd as printing no data (see noJSON) and returns it.
func withoutJSON(cmd *cobra.Command, why string) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[noJSON] = why
	return cmd
}

// deprecatedAlias keeps an old spelling of a flag working, hidden from help, with a warning
// naming the new one. The old flag shares the new one's value.
func deprecatedAlias(cmd *cobra.Command, old, name string) {
	f := cmd.Flags().Lookup(name)
	cmd.Flags().AddFlag(&pflag.Flag{Name: old, Usage: f.Usage, Value: f.Value, DefValue: f.DefValue, NoOptDefVal: f.NoOptDefVal})
	_ = cmd.Flags().MarkDeprecated(old, "use --"+name)
}

// printsNoData lists the commands, by path below the root, that print no data or data in a
// format of their own, and why (see noJSON); markNoData applies it. A command's own file may call
// withoutJSON instead.
var printsNoData = map[string]string{
	"serve":          "a server: it logs, and answers over HTTP",
	"demo":           "a server: it prints what to try, and answers over HTTP",
	"jlis serve":     "a server: it answers over HTTP",
	"ticket serve":   "a server: it answers over HTTP",
	"bench verify":   "a measurement report for people; benchmarks are the machine-readable form",
	"bench ticket":   "a measurement report for people; benchmarks are the machine-readable form",
	"card insert":    "serves the card until stopped; it reports on stderr",
	"card remove":    "prints a confirmation only",
	"card reset-pin": "prints a confirmation only",
	"apikey revoke":  "prints a confirmation only",
	"jlis populate":  "prints a confirmation only",
	"jlis ca":        "prints a certificate as PEM",
	"jlis cert":      "prints a certificate as PEM",
	"jlis crl":       "writes a DER CRL",
	"webhook listen": "prints every event as one JSON line already",
}

// markNoData annotates the commands of printsNoData in the tree under root.
func markNoData(root *cobra.Command) {
	for path, why := range printsNoData {
		if c, rest, err := root.Find(strings.Fields(path)); err == nil && len(rest) == 0 && c != root {
			withoutJSON(c, why)
		}
	}
}

// newProgress is a progress bar on stderr when stderr is a terminal, and silent otherwise (a
// bar redrawn into a log file or a pipe is noise, and a spinner of unknown total never ends).
func newProgress(cmd *cobra.Command, total int64, opts ...progressbar.Option) *progressbar.ProgressBar {
	w := cmd.ErrOrStderr()
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return progressbar.NewOptions64(total, progressbar.OptionSetWriter(io.Discard), progressbar.OptionSetVisibility(false))
	}
	return progressbar.NewOptions64(total, append([]progressbar.Option{progressbar.OptionSetWriter(w)}, opts...)...)
}

// noArgs accepts no positional argument, and names the one given.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: %s takes flags only (see --help)", args[0], cmd.CommandPath())
	}
	return nil
}

// exactArgs accepts exactly the named positional arguments, and names the one missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return rangeArgs(len(names), names...)
}

// rangeArgs accepts the first min of the named arguments and optionally the rest.
func rangeArgs(min int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min {
			return fmt.Errorf("missing %s: usage: %s", names[len(args)], cmd.UseLine())
		}
		if len(args) > len(names) {
			return fmt.Errorf("unexpected argument %q: usage: %s", args[len(names)], cmd.UseLine())
		}
		return nil
	}
}

// hexSerial formats a certificate serial number as the CLI prints it everywhere: upper-case
// hexadecimal, as a string in JSON (decimal numbers above 2^53 lose digits in jq and JavaScript).
func hexSerial(n *big.Int) string { return strings.ToUpper(n.Text(16)) }

// hexSerial64 is hexSerial for the simulator's int64 serials.
func hexSerial64(n int64) string { return fmt.Sprintf("%X", n) }

// humanTime formats a time for people: RFC 3339 in JST, with its offset. JSON carries times as
// RFC 3339 too (encoding/json), in UTC unless a field says otherwise.
func humanTime(t time.Time) string { return t.In(jpki.JST).Format(time.RFC3339) }

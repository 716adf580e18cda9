// Command mynagate is the one binary of the project: the platform server, the J-LIS simulator,
// the virtual card, the card reader and the operator tools are its subcommands.
//
// Each subcommand lives in its own file and registers itself from init with register, so that
// the root command knows nothing of the packages behind it.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// builders holds the constructors of the top-level subcommands, in registration order.
var builders []func() *cobra.Command

// register adds a top-level subcommand. It is called from init in the file of that subcommand.
func register(b func() *cobra.Command) { builders = append(builders, b) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "mynagate",
		Short:         "Identity verification with the My Number Card (JPKI): platform, J-LIS simulator, virtual card, reader",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuildInfo().String(),
	}
	root.SetVersionTemplate("mynagate {{.Version}}\n")
	for _, b := range builders {
		root.AddCommand(b())
	}
	markNoData(root)
	return root
}

// exitCode lets a command choose its exit status while still returning a plain error message.
type exitCode struct {
	code int
	err  error
}

func (e exitCode) Error() string { return e.err.Error() }
func (e exitCode) Unwrap() error { return e.err }

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the process exit status. Errors are printed as one
// line on stderr, prefixed with the program name.
func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		// One line, whatever the error carries.
		fmt.Fprintf(os.Stderr, "mynagate: %s\n", strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(err.Error()))
		var ec exitCode
		if errors.As(err, &ec) {
			return ec.code
		}
		return 1
	}
	return 0
}

package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestCommandTree walks every command of the binary and checks the conventions of
// docs/design/cli.md that can be read off the tree. Each failure says what to change.
func TestCommandTree(t *testing.T) {
	root := newRoot()
	if root.Version == "" {
		t.Error("mynagate --version: the root command has no Version")
	}
	if c, _, err := root.Find([]string{"version"}); err != nil || c.Name() != "version" {
		t.Error("there is no `mynagate version` command")
	}
	kebab := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	// Old spellings that live on only as hidden, deprecated aliases (deprecatedAlias).
	retired := map[string]string{"kind": "--key auth|sign"}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := c.CommandPath()
		if c.Short == "" {
			t.Errorf("%s: no Short help", path)
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Deprecated != "" {
				if f.Deprecated == "" {
					t.Errorf("%s --%s: hidden but not deprecated: a hidden flag is an old spelling (deprecatedAlias)", path, f.Name)
				}
				return
			}
			if !kebab.MatchString(f.Name) {
				t.Errorf("%s --%s: flag names are lower-case words joined by -", path, f.Name)
			}
			if use, ok := retired[f.Name]; ok {
				t.Errorf("%s --%s: the choice of a card's key or certificate is %s (keep --%s only as deprecatedAlias)", path, f.Name, use, f.Name)
			}
			switch f.Name {
			case "key":
				if !strings.HasPrefix(f.Usage, "auth|sign") {
					t.Errorf("%s --key: --key only chooses a card's key or certificate, and its help starts with \"auth|sign\" (got %q); name other keys otherwise (--log-key, --api-key-file, ...)", path, f.Usage)
				}
			case "ca":
				if f.Value.Type() != "string" {
					t.Errorf("%s --ca: --ca names a J-LIS CA (sign, auth, ...); a %s flag needs another name", path, f.Value.Type())
				}
			case "json":
				if f.Value.Type() != "bool" {
					t.Errorf("%s --json: must be a boolean switch", path)
				}
			case "serial":
				if !strings.Contains(f.Usage, "hex") {
					t.Errorf("%s --serial: serials are hexadecimal, and the help says so", path)
				}
			}
		})
		if c.Runnable() {
			_, noJSONReason := c.Annotations[noJSON]
			hasJSON := c.Flags().Lookup("json") != nil || c.InheritedFlags().Lookup("json") != nil
			switch {
			case !hasJSON && !noJSONReason:
				t.Errorf("%s: a command that prints data takes --json; one that prints none is marked withoutJSON(cmd, why)", path)
			case hasJSON && noJSONReason:
				t.Errorf("%s: has --json and is marked withoutJSON", path)
			}
			// Wrong positional arguments are refused with the command's own words, never
			// cobra's "accepts 1 arg(s), received 0": use noArgs, exactArgs or rangeArgs.
			if c.Args == nil {
				t.Errorf("%s: no Args check; use noArgs or exactArgs(\"NAME\", ...)", path)
			} else {
				for _, args := range [][]string{nil, {"a", "b", "c", "d", "e", "f"}} {
					if err := c.Args(c, args); err != nil && strings.Contains(err.Error(), "arg(s)") {
						t.Errorf("%s: %q; use noArgs or exactArgs(\"NAME\", ...) from cli.go", path, err)
					}
				}
			}
		}
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			walk(sub)
		}
	}
	walk(root)
}

package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(newVersionCmd) }

// buildInfo is what `mynagate version` reports: the module version and the VCS stamp Go wrote
// into the binary (go build in a git checkout; go run and tests have none).
type buildInfo struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Go       string `json:"go"`
	Revision string `json:"vcs_revision,omitempty"`
	Time     string `json:"vcs_time,omitempty"`
	Modified bool   `json:"vcs_modified,omitempty"`
}

func readBuildInfo() buildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return buildInfo{Module: "github.com/mynagate/mynagate", Version: "unknown"}
	}
	out := buildInfo{Module: bi.Main.Path, Version: bi.Main.Version, Go: bi.GoVersion}
	if out.Version == "" {
		out.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.time":
			out.Time = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		}
	}
	return out
}

// String is the one-line version: "VERSION (REVISION[, modified], TIME) GO".
func (b buildInfo) String() string {
	var vcs []string
	if b.Revision != "" {
		r := b.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		vcs = append(vcs, r)
		if b.Modified {
			vcs = append(vcs, "modified")
		}
		if b.Time != "" {
			vcs = append(vcs, b.Time)
		}
	}
	s := b.Version
	if len(vcs) > 0 {
		s += " (" + strings.Join(vcs, ", ") + ")"
	}
	if b.Go != "" {
		s += " " + b.Go
	}
	return s
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of mynagate: module version, VCS revision and time, Go version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuildInfo()
			if asJSON {
				return printJSON(cmd, b)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mynagate %s\n", b)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

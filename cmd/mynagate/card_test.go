package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mynagate/mynagate/internal/pcsctest"
)

// TestCardScripts runs testdata/script-card/*.txtar with a private pcscd per script: $VPCD is
// its vpcd address and PCSCLITE_CSOCK_NAME its socket, so OpenSC's tools in a script see only
// that script's card. Without pcscd, vpcd or OpenSC, the [pcscd] condition is false and scripts skip what needs
// them — except under CI=true, where that is a failure.
func TestCardScripts(t *testing.T) {
	tools := []string{"pcscd", "opensc-tool"}
	have := true
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			have = false
		}
	}
	if _, err := os.Stat(pcsctest.VPCDDriver); err != nil {
		have = false
	}
	if !have && os.Getenv("CI") == "true" {
		t.Fatalf("pcscd, vpcd and OpenSC are required under CI=true")
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script-card",
		Condition: func(cond string) (bool, error) {
			if cond == "pcscd" {
				return have, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("CI", os.Getenv("CI"))
			if !have {
				return nil
			}
			d, err := pcsctest.StartDaemon()
			if err != nil {
				return err
			}
			env.Defer(d.Close)
			env.Setenv("VPCD", d.VPCDAddr)
			for _, kv := range d.Env() {
				for _, k := range []string{"PCSCLITE_CSOCK_NAME=", "OPENSC_CONF="} {
					if len(kv) > len(k) && kv[:len(k)] == k {
						env.Setenv(k[:len(k)-1], kv[len(k):])
					}
				}
			}
			return nil
		},
	})
}

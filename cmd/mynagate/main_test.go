package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run this binary as the command "mynagate" inside scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mynagate": func() { os.Exit(run(os.Args[1:])) },
	})
}

// TestScripts runs the command-line scenarios in testdata/script: each .txtar file is a shell-like
// script with its input files (see github.com/rogpeppe/go-internal/testscript).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("CI", os.Getenv("CI"))
			return nil
		},
	})
}

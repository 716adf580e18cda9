package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"testing"
	"time"

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
			env.Setenv("PGADMIN", pgAdmin())
			return nil
		},
		// [postgres]: a PostgreSQL server answers at $PGADMIN; always true under CI=true, so
		// that a missing server fails the script instead of skipping it.
		Condition: func(cond string) (bool, error) {
			if cond != "postgres" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			if os.Getenv("CI") == "true" {
				return true, nil
			}
			u, err := url.Parse(pgAdmin())
			if err != nil {
				return false, nil
			}
			c, err := net.DialTimeout("tcp", u.Host, time.Second)
			if err != nil {
				return false, nil
			}
			c.Close()
			return true, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// stdout2env NAME REGEXP sets $NAME to REGEXP's first group in the last stdout.
			"stdout2env": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: stdout2env NAME REGEXP")
				}
				m := regexp.MustCompile(args[1]).FindStringSubmatch(ts.ReadFile("stdout"))
				if len(m) < 2 {
					ts.Fatalf("stdout has no match for %s", args[1])
				}
				ts.Setenv(args[0], m[1])
			},
		},
	})
}

// pgAdmin is the administrative PostgreSQL URL of the tests (MYNAGATE_TEST_POSTGRES overrides).
func pgAdmin() string {
	if v := os.Getenv("MYNAGATE_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

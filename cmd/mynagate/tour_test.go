package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestReadmeTour runs the walk-through of README.md ("Trying it", between <!-- tour --> and
// <!-- /tour -->) as written, so that the README cannot drift from the product: a fresh
// directory, the binary built from this tree, bash, curl and jq. The only changes to the lines
// are the free ports: the platform's and J-LIS's addresses replace 127.0.0.1:8080 and
// 127.0.0.1:8470, and every other listener of the demo gets 127.0.0.1:0. The build line builds
// from this module instead of the current directory. Under CI=true missing tools fail the test.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the demo")
	}
	for _, tool := range []string{"bash", "curl", "jq", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI=true (the README's walk-through uses it)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- tour -->\\s*```sh\\n(.*?)```\\s*<!-- /tour -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no walk-through between <!-- tour --> and <!-- /tour -->")
	}
	script := string(m[1])
	const buildLine = "go build -o mynagate ./cmd/mynagate\n"
	if !strings.HasPrefix(script, buildLine) {
		t.Fatalf("the walk-through does not start by building the binary (%q)", buildLine)
	}
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	script = strings.Replace(script, buildLine, fmt.Sprintf("(cd %q && go build -o %q ./cmd/mynagate)\n", root, filepath.Join(dir, "mynagate")), 1)
	platformAddr, jlisAddr := freeLoopback(t), freeLoopback(t)
	if !strings.Contains(script, "./mynagate demo ") {
		t.Fatal("the walk-through does not start the demo with ./mynagate demo")
	}
	demoFlags := fmt.Sprintf("--addr %s --jlis-addr %s", platformAddr, jlisAddr)
	newDemoCmd().Flags().VisitAll(func(f *pflag.Flag) {
		if strings.HasSuffix(f.Name, "-addr") && f.Name != "jlis-addr" {
			demoFlags += " --" + f.Name + " 127.0.0.1:0"
		}
	})
	script = strings.Replace(script, "./mynagate demo ", "./mynagate demo "+demoFlags+" ", 1)
	script = strings.ReplaceAll(script, "127.0.0.1:8080", platformAddr)
	script = strings.ReplaceAll(script, "127.0.0.1:8470", jlisAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the demo, if a line failed before kill %1
	}
	demoLog, _ := os.ReadFile(filepath.Join(dir, "demo.log"))
	if err != nil {
		t.Fatalf("the README's walk-through failed: %v\n--- output\n%s\n--- demo.log\n%s", err, out.String(), demoLog)
	}
	for _, want := range []string{
		`(?m)^ready$`,
		`"holder_url": "http://` + regexp.QuoteMeta(platformAddr) + `/v1/holder/sessions/s_`,
		`accepted: identity verification v_[0-9a-f]+ for "Demo Bank"`,
		`It receives your name, date of birth, sex, address\.`,
		`"decision": "accepted"`,
		`"sub": "[A-Za-z0-9_-]{20,}"`,
		`"name": "山田　太郎"`,
		`(?m)^OK: evidence bundle verified offline$`,
		`personal   disclosed, matches the entry's commitments`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("the walk-through's output lacks %s\n--- output\n%s", want, out.String())
		}
	}
	for _, want := range []string{"The platform trusts only this demo's J-LIS", "Ready: serving until Ctrl-C"} {
		if !strings.Contains(string(demoLog), want) {
			t.Errorf("demo.log lacks %q\n%s", want, demoLog)
		}
	}
}

// freeLoopback returns a loopback address with a port free at the time of the call.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

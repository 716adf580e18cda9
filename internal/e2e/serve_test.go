package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain checks the contract families' coverage of the spec when all of them ran (see
// contract_test.go), and removes the binary buildMynagate built.
func TestMain(m *testing.M) {
	code := m.Run()
	if problems, n, ok := contractCoverage(); ok {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "contract coverage:", p)
			code = 1
		}
		if testing.Verbose() || len(problems) > 0 {
			fmt.Fprintf(os.Stderr, "contract coverage: %d exchanges validated\n", n)
		}
	}
	if buildErr == nil && binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// buildMynagate builds the binary once for the package's tests that run it as a process.
func buildMynagate(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mynagate-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mynagate")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/mynagate/mynagate/cmd/mynagate").CombinedOutput(); err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// TestServeMetricsApart runs `mynagate serve --metrics-addr`: the API no longer answers /metrics,
// the metrics listener does, with the API's counters, and SIGTERM stops both.
func TestServeMetricsApart(t *testing.T) {
	bin := buildMynagate(t)
	sim, _, _ := testkit.Simulator(t, jlis.WithClock(clockwork.NewRealClock()))
	jsrv := httptest.NewServer(sim.Handler())
	defer jsrv.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--db", "sqlite:"+filepath.Join(dir, "p.db"), "--jlis", jsrv.URL, "--insecure-jlis", "--data", filepath.Join(dir, "data"),
		"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	r := bufio.NewReader(stdout)
	var api, metrics string
	addr := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)
	for api == "" || metrics == "" {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("server output ended: %v (api %q, metrics %q)", err, api, metrics)
		}
		switch {
		case strings.HasPrefix(line, "mynagate platform on "):
			api = addr.FindString(line)
		case strings.HasPrefix(line, "metrics on "):
			metrics = addr.FindString(line)
		}
	}
	go io.Copy(io.Discard, r)

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, _ := get(api + "/healthz"); st != http.StatusOK {
		t.Errorf("API /healthz: %d", st)
	}
	if st, body := get(api + "/metrics"); st != http.StatusNotFound || !strings.Contains(body, "not-found") {
		t.Errorf("API /metrics: %d %s, want the 404 problem", st, body)
	}
	st, body := get(metrics + "/metrics")
	if st != http.StatusOK || !strings.Contains(body, `mynagate_http_requests_total{route="GET /healthz",status="200"} 1`) {
		t.Errorf("metrics listener: %d, want the API's request counter:\n%.2000s", st, body)
	}
	if st, _ := get(metrics + "/v1/usage"); st != http.StatusNotFound {
		t.Errorf("metrics listener serves the API: /v1/usage %d", st)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

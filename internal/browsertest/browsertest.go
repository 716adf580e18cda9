// Package browsertest starts Debian's chromium for the browser tests, driven through chromedp,
// so that every package's browser tests find, start and photograph it the same way.
//
// It owns finding the browser (a missing chromium skips the test, and fails it under CI=true,
// as internal/pcsctest does for pcscd), the headless flags (no sandbox, no GPU, no first-run
// page, no background networking, component updates or sync), a fresh user-data directory per
// browser, and screenshots written to the test's artifact directory (testing.T.ArtifactDir:
// kept with `go test -artifacts`, or in $MYNAGATE_SCREENSHOTS_DIR when that is set). What a
// test does in the browser stays in the test.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// candidates are the places Debian and others install chromium.
var candidates = []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"}

// Chromium returns the browser's path; without it the test skips, and under CI=true fails.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing (CI=true): .ci/run installs Debian's chromium")
	}
	t.Skip("chromium is not installed")
	return ""
}

// Options are the allocator options for a headless chromium at exe with its own user-data
// directory; extra ones (window size, language) follow and may override them.
func Options(exe, userDataDir string, extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(userDataDir),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true)}
	return append(opts, extra...)
}

// Launch starts a headless chromium at exe with a fresh user-data directory (removed again by
// cancel) and returns a context for its first tab. It is for a browser shared by a package's
// tests (started once, stopped from TestMain); a single test uses Start.
func Launch(exe string, extra ...chromedp.ExecAllocatorOption) (context.Context, func(), error) {
	dir, err := os.MkdirTemp("", "mynagate-chromium-")
	if err != nil {
		return nil, nil, err
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), Options(exe, dir, extra...)...)
	bctx, bcancel := chromedp.NewContext(actx)
	cancel := func() { bcancel(); acancel(); os.RemoveAll(dir) }
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		return nil, nil, err
	}
	return bctx, cancel, nil
}

// Start starts a headless chromium for one test (skipping or failing it as Chromium does when
// there is none) and returns a tab's context bounded by timeout; the browser stops when the
// test ends.
func Start(t *testing.T, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	exe := Chromium(t)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), Options(exe, t.TempDir(), extra...)...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	bctx, cancelT := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancelT)
	return bctx
}

// Artifacts returns where a test's screenshots go: $MYNAGATE_SCREENSHOTS_DIR when set,
// otherwise the test's artifact directory.
func Artifacts(t *testing.T) string {
	if d := os.Getenv("MYNAGATE_SCREENSHOTS_DIR"); d != "" {
		return d
	}
	return t.ArtifactDir()
}

// Screenshot takes a full-page screenshot and writes it as name into each of dirs.
func Screenshot(name string, dirs ...string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		for _, dir := range dirs {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return chromedp.Void{}, err
			}
			if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
				return chromedp.Void{}, err
			}
		}
		return chromedp.Void{}, nil
	}
}

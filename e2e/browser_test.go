package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// chromiumPath is Debian's chromium; CI installs it and sets
// SIGNOFF_REQUIRE_BROWSER so a missing browser fails instead of skipping.
const chromiumPath = "/usr/bin/chromium"

// needBrowser skips (or, with SIGNOFF_REQUIRE_BROWSER, fails) a test when
// Chromium is not installed.
func needBrowser(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("SIGNOFF_REQUIRE_BROWSER") != "" {
			t.Fatalf("SIGNOFF_REQUIRE_BROWSER is set but %s is missing: apt-get install -y chromium", chromiumPath)
		}
		t.Skipf("%s not found: install Debian's chromium (apt-get install -y chromium) to run the browser test", chromiumPath)
	}
}

// browser starts a headless Chromium with a profile of its own (its own
// cookies) in a window of width×height, and returns a context for its
// steps, bounded by timeout.
func browser(t *testing.T, width, height int, timeout time.Duration) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelCtx)
	// Start the browser on a context without a timeout (a timeout on the
	// first run would bound the browser's whole life), then bound the steps.
	require.NoError(t, chromedp.Do(ctx))
	steps, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return steps
}

// keepShots checks and keeps screenshots: in the test's temp dir, and in
// SIGNOFF_SCREENSHOT_DIR (prefixed) for a person to look at.
func keepShots(t *testing.T, prefix string, shots map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	for name, png := range shots {
		require.True(t, len(png) > 1000 && string(png[1:4]) == "PNG", "%s is not a PNG", name)
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, png, 0o600))
		t.Logf("screenshot: %s", path)
		if out := os.Getenv("SIGNOFF_SCREENSHOT_DIR"); out != "" {
			_ = os.WriteFile(filepath.Join(out, prefix+name), png, 0o644)
		}
	}
}

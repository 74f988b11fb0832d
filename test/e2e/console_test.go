package e2e

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// consoleLogin runs hearth console against s and returns the login link it
// prints.
func consoleLogin(t testing.TB, s *server) string {
	t.Helper()
	out, err := s.cli(t.Context(), "console").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("hearth console: %v %s", err, stderr)
	}
	u := strings.TrimSpace(string(out))
	if !strings.HasPrefix(u, s.URL+"/console/login?token=") {
		t.Fatalf("hearth console printed %q; want a login link on %s", u, s.URL)
	}
	return u
}

// TestConsoleSession (issue 14): the login link is good once; its cookie
// authenticates only requests that carry the console's header (a forged
// cross-site form cannot add it), and a foreign origin is refused even
// with both.
func TestConsoleSession(t *testing.T) {
	s := startServer(t, "", "--isolation", "process")
	u := consoleLogin(t, s)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/" || !bytes.Contains(body, []byte("Hearth console")) {
		t.Fatalf("login link: %d at %s; want the console page at /console/", resp.StatusCode, resp.Request.URL)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Request.Response.Cookies() {
		if ck.Name == "hearth_console" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v; want HttpOnly and SameSite=Strict", cookie)
	}

	get := func(path string, header ...string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		what   string
		header []string
		want   int
	}{
		{"cookie and header", []string{"X-Hearth-Console", "1"}, 200},
		{"cookie without the header", nil, 403},
		{"cookie, header, the server's own origin", []string{"X-Hearth-Console", "1", "Origin", s.URL}, 200},
		{"cookie, header, a foreign origin", []string{"X-Hearth-Console", "1", "Origin", "http://evil.example"}, 403},
		{"cookie, header, a rebinding Host", []string{"X-Hearth-Console", "1", "Host", "evil.example"}, 403},
	} {
		for _, path := range []string{"/_hearth/v1/environments", "/metrics", "/2015-03-31/functions"} {
			req, _ := http.NewRequest("GET", s.URL+path, nil)
			for i := 0; i+1 < len(tc.header); i += 2 {
				if tc.header[i] == "Host" {
					req.Host = tc.header[i+1]
					continue
				}
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s: GET %s = %d; want %d", tc.what, path, resp.StatusCode, tc.want)
			}
		}
	}
	// The link is used up.
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("second use of the login link: %d; want 403", resp.StatusCode)
	}
	// Signing out ends the session.
	req, _ := http.NewRequest("POST", s.URL+"/console/logout", nil)
	req.Header.Set("X-Hearth-Console", "1")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	jar.SetCookies(resp.Request.URL, []*http.Cookie{cookie}) // as if the browser kept it
	if got := get("/_hearth/v1/environments", "X-Hearth-Console", "1"); got != 403 {
		t.Errorf("after sign-out: %d; want 403", got)
	}
}

// chromium finds a Chromium to drive, or skips the test when there is none
// and HEARTH_REQUIRE_CHROMIUM is unset.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("HEARTH_REQUIRE_CHROMIUM") != "" {
		t.Fatal("no chromium on PATH and HEARTH_REQUIRE_CHROMIUM is set (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install chromium; HEARTH_REQUIRE_CHROMIUM=1 makes this a failure)")
	return ""
}

// TestConsoleBrowser (issue 14) drives the console in a headless Chromium
// against the real binary: it signs in with hearth console's link, lists a
// created function, shows an environment busy and then idle, invokes from
// the form and shows the payload and log tail, follows the log, and
// renders a non-blank screenshot.
func TestConsoleBrowser(t *testing.T) {
	exe := chromium(t)
	s := startServer(t, "")
	f := goFn()
	f.timeout = 30
	s.create(t, "console-fn", f)
	login := consoleLogin(t, s)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root cannot use Chromium's sandbox
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1280, 1400),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(context.WithoutCancel(t.Context()), opts...)
	defer cancel()
	// The first call on ctx starts the browser, which lives as long as
	// ctx: no timeout on it, only on each step (within).
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(login)); err != nil {
		t.Fatalf("open the login link: %v", err)
	}
	within := func(d time.Duration) context.Context {
		c, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return c
	}
	if err := chromedp.Do(within(time.Minute), chromedp.WaitVisible(chromedp.CSS(`#functions tbody tr[data-name="console-fn"]`))); err != nil {
		t.Fatalf("the console did not list console-fn: %v", err)
	}
	loc, err := chromedp.Run(within(10*time.Second), chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, "token=") || !strings.HasSuffix(loc, "/console/") {
		t.Errorf("after login the browser is at %s; want /console/ without the token", loc)
	}

	// An invocation that sleeps: busy, then idle in the environments view.
	done := make(chan error, 1)
	go func() {
		_, err := s.tryInvoke(context.WithoutCancel(t.Context()), s.Client, "console-fn", map[string]any{"op": "sleep", "ms": 4000})
		done <- err
	}()
	if err := chromedp.Do(within(time.Minute), chromedp.WaitVisible(chromedp.CSS(`#environments tbody tr[data-function="console-fn"][data-state="busy"]`))); err != nil {
		t.Fatalf("no busy environment shown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("sleeping invocation: %v", err)
	}
	if err := chromedp.Do(within(30*time.Second), chromedp.WaitVisible(chromedp.CSS(`#environments tbody tr[data-function="console-fn"][data-state="idle"]`))); err != nil {
		t.Fatalf("the environment is not shown idle: %v", err)
	}

	// The invoke form.
	if err := chromedp.Do(within(time.Minute),
		chromedp.SetValue(chromedp.CSS(`#invoke-fn`), "console-fn"),
		chromedp.SetValue(chromedp.CSS(`#invoke-payload`), `{"op":"print","text":"from-the-browser"}`),
		chromedp.Click(chromedp.CSS(`#invoke-btn`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@id="invoke-meta"][contains(., "(200")]`)),
	); err != nil {
		t.Fatalf("invoke form: %v", err)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(within(10*time.Second), chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return v
	}
	if result := text("#invoke-result"); !strings.Contains(result, `"op":"print"`) {
		t.Errorf("invoke result %q; want the function's reply to the payload (op print)", result)
	}
	if logTail := text("#invoke-log"); !strings.Contains(logTail, "from-the-browser 0") || !strings.Contains(logTail, "REPORT RequestId") {
		t.Errorf("log tail %q; want the printed line and the REPORT line", logTail)
	}

	// The live log: its tail holds what the form's invocation printed.
	if err := chromedp.Do(within(30*time.Second),
		chromedp.SetValue(chromedp.CSS(`#logs-fn`), "console-fn"),
		chromedp.Click(chromedp.CSS(`#logs-btn`)),
		chromedp.WaitVisible(chromedp.Search(`//pre[@id="logs"][contains(., "from-the-browser 0")]`)),
	); err != nil {
		t.Fatalf("live log: %v", err)
	}

	shot, err := chromedp.Run(within(30*time.Second), chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "console.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	if keep := os.Getenv("HEARTH_CONSOLE_SCREENSHOT"); keep != "" {
		// A copy that outlives the test, for a person to look at.
		if err := os.WriteFile(keep, shot, 0o644); err != nil {
			t.Error(err)
		}
	}
	checkScreenshot(t, shot)
}

// checkScreenshot wants a PNG of a plausible size whose pixels are not all
// one colour.
func checkScreenshot(t *testing.T, b []byte) {
	t.Helper()
	if len(b) < 10<<10 || len(b) > 20<<20 {
		t.Errorf("screenshot of %d bytes; want 10 KiB to 20 MiB", len(b))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	bounds := img.Bounds()
	if bounds.Dx() < 800 || bounds.Dy() < 600 {
		t.Errorf("screenshot %v; want at least 800×600", bounds)
	}
	colours := map[[4]uint32]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 7 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 7 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colours) < 16 {
		t.Errorf("screenshot has %d distinct colours; want a rendered page (at least 16)", len(colours))
	}
}

// Package browsertest runs a real headless Chromium for tests of the web UI.
//
// [Start] launches one browser for a test, [Browser.Tab] opens a tab in it,
// and the methods of [Tab] drive the page: navigate, read text, click, fill
// fields, move the focus with the keyboard, take screenshots. Every action is
// bounded by [ActionTimeout], so a test never hangs on a page that does not
// answer. A test that fails keeps a full-page PNG of each of its tabs (see
// [Browser.Tab]).
//
// The browser is the one of PROMOTE_CHROMIUM, or chromium, chromium-browser or
// google-chrome on PATH. Without one the test is skipped, unless CI is set: then
// it fails, so that a CI run cannot pass without its browser tests.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// ActionTimeout bounds each action on a page: a navigation, a wait for an
// element, a click, a key press, a screenshot.
const ActionTimeout = 30 * time.Second

// startTimeout bounds the launch of the browser and the opening of a tab.
// Chromium's first start on a cold machine is slower than any later action.
const startTimeout = 60 * time.Second

// stopTimeout bounds the shutdown of the browser at cleanup; after it the
// process is killed.
const stopTimeout = 15 * time.Second

// Window size of the browser, in CSS pixels: a laptop screen.
const (
	WindowWidth  = 1280
	WindowHeight = 900
)

// EnvChromium names the environment variable with the path of the browser.
const EnvChromium = "PROMOTE_CHROMIUM"

// EnvScreenshotDir names the environment variable with the directory for the
// screenshots of failed tests.
const EnvScreenshotDir = "PROMOTE_SCREENSHOT_DIR"

// browserNames are the executables looked for on PATH, in order.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome"}

// FindChromium returns the path of the browser: PROMOTE_CHROMIUM when set,
// otherwise the first of chromium, chromium-browser and google-chrome on PATH.
func FindChromium() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvChromium, p, err)
		}
		return p, nil
	}
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium: %s is not set and none of %s is on PATH",
		EnvChromium, strings.Join(browserNames, ", "))
}

// Browser is a headless Chromium started for one test. It stops when that test
// ends.
type Browser struct {
	ctx     context.Context // the browser's first tab; it owns the process
	version string
	output  *tailBuffer

	mu   sync.Mutex
	tabs int // tabs opened so far, to number their screenshots
}

// Start launches a headless Chromium for t and stops it when t ends. It skips
// t when no browser is found, and fails it instead when the environment
// variable CI is set.
//
// The flags suit a container where tests run as root: no sandbox, no GPU,
// shared memory in the temporary directory rather than a small /dev/shm, and a
// fresh user-data directory in the temporary directory, removed at the end.
func Start(t testing.TB) *Browser {
	t.Helper()
	path, err := FindChromium()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v; CI is set, so the browser tests fail rather than skip (.ci/chromium.sh installs Chromium)", err)
		}
		t.Skipf("%v; skipping the browser test", err)
	}

	output := &tailBuffer{max: 16 << 10}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(WindowWidth, WindowHeight),
		chromedp.Flag("lang", "en-US"),
		chromedp.CombinedOutput(output),
		// Without a user-data-dir flag the allocator makes a temporary one
		// and removes it, with any process left in it, when the browser
		// stops.
	)
	// The browser outlives t.Context, which ends before the cleanups that
	// take the failure screenshots run; its own cleanup stops it.
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.WithoutCancel(t.Context()), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: ctx, output: output}

	// The first action starts the process; its context must be the browser's
	// own, without a deadline, so a watchdog bounds it instead.
	if err := withWatchdog(startTimeout, cancel, func() error { return chromedp.Do(ctx) }); err != nil {
		cancel()
		allocCancel()
		t.Fatalf("start Chromium %s: %v\n%s", path, err, output.String())
	}
	t.Cleanup(func() { b.stop(t, cancel, allocCancel) })

	vctx, vcancel := context.WithTimeout(ctx, ActionTimeout)
	defer vcancel()
	v, err := chromedp.CallBrowser(vctx, browser.GetVersion, cdp.Empty{})
	if err != nil {
		t.Fatalf("read the version of Chromium: %v", err)
	}
	b.version = v.Product
	t.Logf("browser: %s (%s)", b.version, path)
	return b
}

// Version returns the browser's product name and version, such as
// "Chrome/156.0.8078.108".
func (b *Browser) Version() string { return b.version }

// stop closes the browser and waits for its process to end; a browser that
// does not end within stopTimeout is killed.
func (b *Browser) stop(t testing.TB, cancel, allocCancel context.CancelFunc) {
	var proc *os.Process
	if c := chromedp.FromContext(b.ctx); c != nil && c.Browser != nil {
		proc = c.Browser.Process()
	}
	done := make(chan struct{})
	go func() {
		cancel()
		allocCancel() // waits for the process and removes its directory
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		if proc != nil {
			_ = proc.Kill()
		}
		t.Errorf("Chromium did not stop within %v; killed it", stopTimeout)
		<-done
	}
}

// Tab is a browser tab that belongs to one test: its methods report errors
// by failing that test, so call them only from the test's own goroutine.
type Tab struct {
	t   testing.TB
	ctx context.Context
	n   int

	// timeout bounds each action; ActionTimeout but in this package's tests.
	timeout time.Duration
}

// Tab opens a new tab for t, sharing cookies with the browser's other tabs,
// and closes it when t ends. If t has failed by then, a full-page PNG of the
// tab is saved first and its path logged; see [ScreenshotDir].
func (b *Browser) Tab(t testing.TB) *Tab {
	t.Helper()
	return b.openTab(t)
}

// IsolatedTab is like [Browser.Tab], but the tab has cookies and storage of
// its own, like a private window: a second user signed in beside the first.
func (b *Browser) IsolatedTab(t testing.TB) *Tab {
	t.Helper()
	return b.openTab(t, chromedp.WithNewBrowserContext())
}

func (b *Browser) openTab(t testing.TB, opts ...chromedp.ContextOption) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, opts...)
	if err := withWatchdog(startTimeout, cancel, func() error { return chromedp.Do(ctx) }); err != nil {
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	b.mu.Lock()
	b.tabs++
	n := b.tabs
	b.mu.Unlock()
	tab := &Tab{t: t, ctx: ctx, n: n, timeout: ActionTimeout}
	// The window's size includes room for the browser's own bars; the page's
	// viewport is set to the full size so that screenshots have it.
	if _, err := runAction(ctx, ActionTimeout, chromedp.EmulateViewport(WindowWidth, WindowHeight)); err != nil {
		cancel()
		t.Fatalf("set the viewport of a tab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			tab.saveFailureScreenshot()
		}
		cancel()
	})
	return tab
}

// withWatchdog runs f and cancels the context it uses when f has not returned
// within d, so that f returns.
func withWatchdog(d time.Duration, cancel context.CancelFunc, f func() error) error {
	timer := time.AfterFunc(d, cancel)
	err := f()
	if !timer.Stop() {
		return fmt.Errorf("no answer within %v: %w", d, err)
	}
	return err
}

// Context returns the tab's chromedp context, for actions this package has no
// method for. Bound each call with [ActionTimeout].
func (tab *Tab) Context() context.Context { return tab.ctx }

// run runs an action on the tab within ActionTimeout and fails the test on an
// error, naming the action and the page it was on.
func run[T any](tab *Tab, what string, a chromedp.Action[T]) T {
	tab.t.Helper()
	v, err := runAction(tab.ctx, tab.timeout, a)
	if err != nil {
		tab.t.Fatalf("%s on %s: %v", what, tab.location(), err)
	}
	return v
}

func runAction[T any](ctx context.Context, timeout time.Duration, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("nothing within %v: %w", timeout, err)
	}
	return v, err
}

// location returns the tab's URL for error messages, or a placeholder when
// the page does not answer.
func (tab *Tab) location() string {
	ctx, cancel := context.WithTimeout(tab.ctx, 2*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown page)"
	}
	return u
}

// Navigate loads url and, when waitFor is not empty, waits until an element
// matching that CSS selector is visible.
func (tab *Tab) Navigate(url, waitFor string) {
	tab.t.Helper()
	run(tab, fmt.Sprintf("Navigate(%q)", url), chromedp.Navigate(url))
	if waitFor != "" {
		tab.WaitVisible(waitFor)
	}
}

// NavigateStatus loads url and returns the HTTP status of its document.
func (tab *Tab) NavigateStatus(url string) int {
	tab.t.Helper()
	resp := run(tab, fmt.Sprintf("Navigate(%q)", url), chromedp.NavigateResponse(url))
	if resp == nil {
		tab.t.Fatalf("Navigate(%q): no response", url)
	}
	return int(resp.Status)
}

// WaitVisible waits until an element matching the CSS selector is visible.
func (tab *Tab) WaitVisible(sel string) {
	tab.t.Helper()
	run(tab, fmt.Sprintf("WaitVisible(%q)", sel), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// URL returns the address of the page in the tab.
func (tab *Tab) URL() string {
	tab.t.Helper()
	return run(tab, "URL()", chromedp.Location())
}

// Title returns the title of the page in the tab.
func (tab *Tab) Title() string {
	tab.t.Helper()
	return run(tab, "Title()", chromedp.Title())
}

// Text waits for the first element matching the CSS selector and returns its
// rendered text (innerText), trimmed of surrounding space.
func (tab *Tab) Text(sel string) string {
	tab.t.Helper()
	s := run(tab, fmt.Sprintf("Text(%q)", sel), chromedp.Text(chromedp.CSS(sel)))
	return strings.TrimSpace(s)
}

// Texts returns the rendered text of every element matching the CSS selector,
// in document order, each trimmed of surrounding space. It does not wait: an
// empty result means no such element now.
func (tab *Tab) Texts(sel string) []string {
	tab.t.Helper()
	var out []string
	tab.Eval(fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => (e.innerText ?? e.textContent).trim())`, jsString(sel)), &out)
	return out
}

// Count returns how many elements match the CSS selector now.
func (tab *Tab) Count(sel string) int {
	tab.t.Helper()
	var n int
	tab.Eval(fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel)), &n)
	return n
}

// Attr returns an attribute of the first element matching the CSS selector,
// waiting for the element; ok is false when it has no such attribute.
func (tab *Tab) Attr(sel, name string) (value string, ok bool) {
	tab.t.Helper()
	r := run(tab, fmt.Sprintf("Attr(%q, %q)", sel, name), chromedp.AttributeValue(chromedp.CSS(sel), name))
	return r.Value, r.Exists
}

// HTML returns the outer HTML of the first element matching the CSS selector.
func (tab *Tab) HTML(sel string) string {
	tab.t.Helper()
	return run(tab, fmt.Sprintf("HTML(%q)", sel), chromedp.OuterHTML(chromedp.CSS(sel)))
}

// Eval evaluates a JavaScript expression in the page and decodes its JSON
// value into out (which may be nil to ignore the value).
func (tab *Tab) Eval(expr string, out any) {
	tab.t.Helper()
	raw := run(tab, fmt.Sprintf("Eval(%.60q)", expr), chromedp.Evaluate[[]byte](expr))
	if out == nil {
		return
	}
	if err := json.Unmarshal(raw, out); err != nil {
		tab.t.Fatalf("Eval(%.60q): decode %s: %v", expr, raw, err)
	}
}

// AccessibleNames returns the accessible name of every element of the page
// whose role is role ("button", "link", "textbox"...), in document order: the
// names a screen reader announces, as the browser computes them from
// aria-labelledby, aria-label, content, labels and title, so that a test
// need not compute them again.
func (tab *Tab) AccessibleNames(role string) []string {
	tab.t.Helper()
	tree := run(tab, fmt.Sprintf("AccessibleNames(%q)", role), func(ctx context.Context, _ *chromedp.Target) (accessibility.GetFullAXTreeResult, error) {
		return chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	})
	var names []string
	for _, n := range tree.Nodes {
		if n.Ignored || axString(tab, n.Role) != role {
			continue
		}
		names = append(names, axString(tab, n.Name))
	}
	return names
}

// axString returns the string an accessibility node's property holds, or ""
// when it has none.
func axString(tab *Tab, v *accessibility.Value) string {
	tab.t.Helper()
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		tab.t.Fatalf("accessibility value %s: %v", v.Value, err)
	}
	return strings.TrimSpace(s)
}

// Click clicks the first visible element matching the CSS selector. It does
// not wait for a page the click may load; see [Tab.ClickAndLoad].
func (tab *Tab) Click(sel string) {
	tab.t.Helper()
	run(tab, fmt.Sprintf("Click(%q)", sel), chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// ClickAndLoad clicks the first visible element matching the CSS selector, a
// link or a submit button, waits until the page it leads to has loaded
// (following redirects) and returns that page's HTTP status.
func (tab *Tab) ClickAndLoad(sel string) int {
	tab.t.Helper()
	what := fmt.Sprintf("ClickAndLoad(%q)", sel)
	resp, err := runAction(tab.ctx, tab.timeout, responseOf(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)))
	if err != nil {
		tab.t.Fatalf("%s on %s: %v", what, tab.location(), err)
	}
	return resp
}

// PressAndLoad sends keys to the focused element, such as [kb.Enter] on a
// focused button, waits until the page it leads to has loaded and returns
// that page's HTTP status.
func (tab *Tab) PressAndLoad(keys string) int {
	tab.t.Helper()
	what := fmt.Sprintf("PressAndLoad(%q)", keys)
	resp, err := runAction(tab.ctx, tab.timeout, responseOf(chromedp.KeyEvent(keys)))
	if err != nil {
		tab.t.Fatalf("%s on %s: %v", what, tab.location(), err)
	}
	return resp
}

// responseOf runs a step that loads a page and returns the status of the
// page's document.
func responseOf(step chromedp.Action[chromedp.Void]) chromedp.Action[int] {
	return func(ctx context.Context, t *chromedp.Target) (int, error) {
		resp, err := chromedp.RunResponse(ctx, step)
		if err != nil {
			return 0, err
		}
		if resp == nil {
			return 0, errors.New("no page loaded")
		}
		return int(resp.Status), nil
	}
}

// Fill replaces the value of the field matching the CSS selector by typing
// value into it, as a user would.
func (tab *Tab) Fill(sel, value string) {
	tab.t.Helper()
	what := fmt.Sprintf("Fill(%q)", sel)
	run(tab, what, chromedp.WaitVisible(chromedp.CSS(sel)))
	cleared := run(tab, what, chromedp.Evaluate[bool](fmt.Sprintf(
		`(() => { const e = document.querySelector(%s); if (!e || !("value" in e)) return false; e.value = ""; return true })()`, jsString(sel))))
	if !cleared {
		tab.t.Fatalf("%s on %s: not a field with a value", what, tab.location())
	}
	run(tab, what, chromedp.SendKeys(chromedp.CSS(sel), value, chromedp.NodeVisible))
}

// Value returns the current value of the field matching the CSS selector.
func (tab *Tab) Value(sel string) string {
	tab.t.Helper()
	return run(tab, fmt.Sprintf("Value(%q)", sel), chromedp.Value(chromedp.CSS(sel)))
}

// Focus moves the focus to the first element matching the CSS selector.
func (tab *Tab) Focus(sel string) {
	tab.t.Helper()
	run(tab, fmt.Sprintf("Focus(%q)", sel), chromedp.Focus(chromedp.CSS(sel)))
}

// Press sends keys to the focused element, as key presses: text, or keys of
// the kb package such as [kb.Enter] and [kb.Escape].
func (tab *Tab) Press(keys string) {
	tab.t.Helper()
	run(tab, fmt.Sprintf("Press(%q)", keys), chromedp.KeyEvent(keys))
}

// Element describes a focused element, for keyboard navigation tests.
type Element struct {
	Tag   string `json:"tag"`   // lower case: "a", "button", "input", "body"
	ID    string `json:"id"`    // id attribute
	Name  string `json:"name"`  // name attribute
	Href  string `json:"href"`  // href attribute, as written
	Text  string `json:"text"`  // rendered text, trimmed, or value of an input
	Label string `json:"label"` // aria-label attribute
}

// String returns the element in CSS-like form, such as a#skip "Skip to content".
func (e Element) String() string {
	s := e.Tag
	if e.ID != "" {
		s += "#" + e.ID
	}
	if e.Href != "" {
		s += fmt.Sprintf("[href=%q]", e.Href)
	}
	if e.Text != "" {
		s += fmt.Sprintf(" %q", e.Text)
	}
	return s
}

const activeElementJS = `(() => {
	const e = document.activeElement || document.body;
	const text = (e.tagName === "INPUT" || e.tagName === "TEXTAREA") ? e.value : (e.innerText ?? e.textContent ?? "");
	return {
		tag: e.tagName.toLowerCase(),
		id: e.id || "",
		name: e.getAttribute("name") || "",
		href: e.getAttribute("href") || "",
		text: text.trim().replace(/\s+/g, " ").slice(0, 200),
		label: e.getAttribute("aria-label") || "",
	};
})()`

// ActiveElement returns the element that has the focus (the body when none).
func (tab *Tab) ActiveElement() Element {
	tab.t.Helper()
	var e Element
	tab.Eval(activeElementJS, &e)
	return e
}

// AutofocusedElement returns the element that has the focus once the
// page's autofocus has been applied: a browser applies it at the page's
// next rendering after the load that Navigate and ClickAndLoad wait for,
// which on a busy machine comes later. It waits, for at most five seconds,
// until the element whose id is id has the focus, and returns the
// focused element then, whichever it is, for the test to judge.
func (tab *Tab) AutofocusedElement(id string) Element {
	tab.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e := tab.ActiveElement()
		if e.ID == id || time.Now().After(deadline) {
			return e
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PressTab presses the Tab key n times and returns the element that has the
// focus then.
func (tab *Tab) PressTab(n int) Element {
	tab.t.Helper()
	order := tab.TabOrder(n)
	if len(order) == 0 {
		return tab.ActiveElement()
	}
	return order[len(order)-1]
}

// TabOrder presses the Tab key n times and returns the focused element after
// each press: the page's keyboard order from the current focus.
func (tab *Tab) TabOrder(n int) []Element {
	tab.t.Helper()
	out := make([]Element, 0, n)
	for range n {
		run(tab, "Press(Tab)", chromedp.KeyEvent(kb.Tab))
		out = append(out, tab.ActiveElement())
	}
	return out
}

// ScreenshotPNG returns a PNG of the whole page, beyond the window's height.
func (tab *Tab) ScreenshotPNG() []byte {
	tab.t.Helper()
	return run(tab, "Screenshot()", chromedp.FullScreenshot(100))
}

// Screenshot saves a PNG of the whole page to path, creating its directory.
func (tab *Tab) Screenshot(path string) {
	tab.t.Helper()
	png := tab.ScreenshotPNG()
	if err := writeFile(path, png); err != nil {
		tab.t.Fatal(err)
	}
}

// ScreenshotViewport saves a PNG of what the window shows, WindowWidth by
// WindowHeight from the top of the page, to path, creating its directory.
func (tab *Tab) ScreenshotViewport(path string) {
	tab.t.Helper()
	png := run(tab, "ScreenshotViewport()", chromedp.CaptureScreenshot())
	if err := writeFile(path, png); err != nil {
		tab.t.Fatal(err)
	}
}

// ScreenshotDir returns the directory for the screenshots of t when it fails:
// $PROMOTE_SCREENSHOT_DIR, or else a directory named after the test under the
// system's temporary directory. Neither is removed when the test ends.
func ScreenshotDir(t testing.TB) string {
	if d := os.Getenv(EnvScreenshotDir); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "promote-screenshots", FileName(t.Name()))
}

// FailureScreenshotPath returns where the tab's screenshot goes if its test
// fails.
func (tab *Tab) FailureScreenshotPath() string {
	return filepath.Join(ScreenshotDir(tab.t), fmt.Sprintf("%s-tab%d.png", FileName(tab.t.Name()), tab.n))
}

// saveFailureScreenshot saves a full-page PNG of the tab after its test failed
// and logs where. It reports its own errors in the log only: the test has
// failed already.
func (tab *Tab) saveFailureScreenshot() {
	path := tab.FailureScreenshotPath()
	url := tab.location()
	png, err := runAction(tab.ctx, ActionTimeout, chromedp.FullScreenshot(100))
	if err == nil {
		err = writeFile(path, png)
	}
	if err != nil {
		tab.t.Logf("screenshot of %s after the failure: %v", url, err)
		return
	}
	tab.t.Logf("screenshot of %s after the failure: %s", url, path)
}

// FileName turns a test name into a file name: letters, digits, '.', '-' and
// '_' stay, anything else becomes '_'.
func FileName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save screenshot: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("save screenshot: %w", err)
	}
	return nil
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

// tailBuffer keeps the last max bytes written to it: the browser's output,
// shown when it fails to start.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if over := w.buf.Len() - w.max; over > 0 {
		w.buf.Next(over)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

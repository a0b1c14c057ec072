package browsertest

import (
	"bytes"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"
)

// testSite serves a few pages without JavaScript: a home page with a skip
// link, a nav and a form that posts and redirects to a result page; a page
// taller than the window; a page that sets a cookie and one that shows it.
type testSite struct {
	mu    sync.Mutex
	posts []string // names posted to /greet
}

const homePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Home</title></head>
<body>
<a id="skip" href="#main">Skip to content</a>
<nav><a id="nav-one" href="/one">One</a> <a id="nav-two" href="/two">Two</a></nav>
<main id="main">
<h1>Hello</h1>
<ul><li class="item">alpha</li><li class="item">beta <b>two</b></li></ul>
<form method="post" action="/greet">
<label for="name">Name</label> <input id="name" name="name" value="nobody">
<button id="send" type="submit">Send</button>
</form>
</main>
</body></html>`

func (s *testSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		fmt.Fprint(w, homePage)
	case r.Method == http.MethodPost && r.URL.Path == "/greet":
		name := r.PostFormValue("name")
		s.mu.Lock()
		s.posts = append(s.posts, name)
		s.mu.Unlock()
		// Post, redirect, get: the browser must follow the redirect.
		http.Redirect(w, r, "/greeting?name="+r.PostFormValue("name"), http.StatusSeeOther)
	case r.Method == http.MethodGet && r.URL.Path == "/greeting":
		fmt.Fprintf(w, `<!doctype html><title>Greeting</title><p id="greeting">Hello, %s</p>`, html.EscapeString(r.URL.Query().Get("name")))
	case r.URL.Path == "/tall":
		fmt.Fprint(w, `<!doctype html><title>Tall</title><body style="margin:0"><div id="top" style="height:3000px;background:#cde">top</div><p id="bottom">bottom</p></body>`)
	case r.URL.Path == "/set-cookie":
		http.SetCookie(w, &http.Cookie{Name: "who", Value: "ada", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		fmt.Fprint(w, `<!doctype html><title>Set</title><p id="done">set</p>`)
	case r.URL.Path == "/cookie":
		v := "none"
		if c, err := r.Cookie("who"); err == nil {
			v = c.Value
		}
		fmt.Fprintf(w, `<!doctype html><title>Cookie</title><p id="who">%s</p>`, html.EscapeString(v))
	case r.URL.Path == "/missing":
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<!doctype html><title>Not found</title><p id="error">no such page</p>`)
	default:
		http.NotFound(w, r)
	}
}

func (s *testSite) posted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.posts...)
}

func TestBrowser(t *testing.T) {
	site := &testSite{}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	b := Start(t)
	if !strings.Contains(b.Version(), "Chrome/") {
		t.Errorf("Version() = %q, want a Chrome product name", b.Version())
	}

	t.Run("navigate and read", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(srv.URL+"/", "h1")
		if got := tab.Title(); got != "Home" {
			t.Errorf("Title() = %q, want %q", got, "Home")
		}
		if got := tab.Text("h1"); got != "Hello" {
			t.Errorf("Text(h1) = %q, want %q", got, "Hello")
		}
		if diff := cmp.Diff([]string{"alpha", "beta two"}, tab.Texts("li.item")); diff != "" {
			t.Errorf("Texts(li.item) (-want +got):\n%s", diff)
		}
		if got := tab.Count("nav a"); got != 2 {
			t.Errorf("Count(nav a) = %d, want 2", got)
		}
		if got := tab.Texts(".nothing"); len(got) != 0 {
			t.Errorf("Texts(.nothing) = %q, want none", got)
		}
		if got, ok := tab.Attr("#nav-two", "href"); !ok || got != "/two" {
			t.Errorf("Attr(#nav-two, href) = %q, %v, want %q, true", got, ok, "/two")
		}
		if _, ok := tab.Attr("#nav-two", "title"); ok {
			t.Errorf("Attr(#nav-two, title) exists, want none")
		}
		if got := tab.NavigateStatus(srv.URL + "/missing"); got != http.StatusNotFound {
			t.Errorf("NavigateStatus(/missing) = %d, want 404", got)
		}
	})

	t.Run("form submit without JavaScript", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(srv.URL+"/", "form")
		tab.Fill("#name", "Ada Lovelace")
		if got := tab.Value("#name"); got != "Ada Lovelace" {
			t.Fatalf("Value(#name) after Fill = %q, want %q", got, "Ada Lovelace")
		}
		if got := tab.ClickAndLoad("#send"); got != http.StatusOK {
			t.Errorf("ClickAndLoad(#send) = %d, want 200", got)
		}
		if got := tab.Text("#greeting"); got != "Hello, Ada Lovelace" {
			t.Errorf("Text(#greeting) = %q, want %q", got, "Hello, Ada Lovelace")
		}
		if got := tab.URL(); !strings.HasPrefix(got, srv.URL+"/greeting?") {
			t.Errorf("URL() = %q, want the greeting page", got)
		}
		if diff := cmp.Diff([]string{"Ada Lovelace"}, site.posted()); diff != "" {
			t.Errorf("posted names (-want +got):\n%s", diff)
		}
	})

	t.Run("keyboard", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(srv.URL+"/", "form")
		if got := tab.ActiveElement(); got.Tag != "body" {
			t.Errorf("ActiveElement() after load = %v, want the body", got)
		}
		var got []string
		for _, e := range tab.TabOrder(5) {
			got = append(got, e.String())
		}
		want := []string{
			`a#skip[href="#main"] "Skip to content"`,
			`a#nav-one[href="/one"] "One"`,
			`a#nav-two[href="/two"] "Two"`,
			`input#name "nobody"`,
			`button#send "Send"`,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Tab order (-want +got):\n%s", diff)
		}
		// Back to the field, type, and submit with Enter on the button.
		tab.Focus("#name")
		tab.Fill("#name", "Grace")
		if e := tab.PressTab(1); e.ID != "send" {
			t.Fatalf("PressTab(1) from #name = %v, want button#send", e)
		}
		if got := tab.PressAndLoad(kb.Enter); got != http.StatusOK {
			t.Errorf("PressAndLoad(Enter) = %d, want 200", got)
		}
		if got := tab.Text("#greeting"); got != "Hello, Grace" {
			t.Errorf("Text(#greeting) = %q, want %q", got, "Hello, Grace")
		}
	})

	t.Run("tabs share cookies, isolated tabs do not", func(t *testing.T) {
		first := b.Tab(t)
		first.Navigate(srv.URL+"/set-cookie", "#done")
		second := b.Tab(t)
		second.Navigate(srv.URL+"/cookie", "#who")
		if got := second.Text("#who"); got != "ada" {
			t.Errorf("cookie in a second tab = %q, want %q", got, "ada")
		}
		isolated := b.IsolatedTab(t)
		isolated.Navigate(srv.URL+"/cookie", "#who")
		if got := isolated.Text("#who"); got != "none" {
			t.Errorf("cookie in an isolated tab = %q, want %q", got, "none")
		}
	})

	t.Run("screenshot of the whole page", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(srv.URL+"/tall", "#bottom")
		path := filepath.Join(t.TempDir(), "sub", "tall.png")
		tab.Screenshot(path)
		w, h := pngSize(t, path)
		if w != WindowWidth || h < 3000 {
			t.Errorf("screenshot is %d×%d, want %d wide and at least 3000 high (the whole page)", w, h, WindowWidth)
		}
		view := filepath.Join(t.TempDir(), "view.png")
		tab.ScreenshotViewport(view)
		if w, h := pngSize(t, view); w != WindowWidth || h != WindowHeight {
			t.Errorf("viewport screenshot is %d×%d, want %d×%d", w, h, WindowWidth, WindowHeight)
		}
	})

	t.Run("a failed test keeps a screenshot of each tab", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv(EnvScreenshotDir, dir)

		failing := &fakeTB{TB: t}
		tall := b.Tab(failing)
		tall.Navigate(srv.URL+"/tall", "#bottom")
		home := b.Tab(failing)
		home.Navigate(srv.URL+"/", "h1")
		paths := []string{tall.FailureScreenshotPath(), home.FailureScreenshotPath()}
		failing.Errorf("deliberate failure")
		failing.runCleanups()

		for _, p := range paths {
			if filepath.Dir(p) != dir {
				t.Errorf("screenshot %s is not in %s=%s", p, EnvScreenshotDir, dir)
			}
			if !strings.HasPrefix(filepath.Base(p), FileName(t.Name())) {
				t.Errorf("screenshot %s is not named after the test %s", p, t.Name())
			}
		}
		if w, h := pngSize(t, paths[0]); w != WindowWidth || h < 3000 {
			t.Errorf("failure screenshot of /tall is %d×%d, want the whole page", w, h)
		}
		if w, h := pngSize(t, paths[1]); w != WindowWidth || h != WindowHeight {
			t.Errorf("failure screenshot of / is %d×%d, want %d×%d", w, h, WindowWidth, WindowHeight)
		}
		if !strings.Contains(failing.logged(), paths[0]) {
			t.Errorf("log %q does not name the screenshot %s", failing.logged(), paths[0])
		}

		passing := &fakeTB{TB: t}
		ok := b.Tab(passing)
		ok.Navigate(srv.URL+"/", "h1")
		okPath := ok.FailureScreenshotPath()
		passing.runCleanups()
		if _, err := os.Stat(okPath); !os.IsNotExist(err) {
			t.Errorf("a passing test left a screenshot %s (stat: %v)", okPath, err)
		}
	})

	t.Run("a missing element fails within the timeout", func(t *testing.T) {
		failing := &fakeTB{TB: t}
		tab := b.Tab(failing)
		tab.timeout = time.Second
		tab.Navigate(srv.URL+"/", "h1")
		stopped := failing.call(func() { tab.Text("#nothing-here") })
		if !stopped || !failing.Failed() {
			t.Errorf("Text(#nothing-here) did not fail the test")
		}
		if !strings.Contains(failing.logged(), "#nothing-here") || !strings.Contains(failing.logged(), "within 1s") {
			t.Errorf("failure %q does not name the selector", failing.logged())
		}
		t.Setenv(EnvScreenshotDir, t.TempDir())
		failing.runCleanups()
	})
}

func TestStartWithoutChromium(t *testing.T) {
	t.Setenv(EnvChromium, filepath.Join(t.TempDir(), "no-such-chromium"))
	tests := []struct {
		name       string
		ci         string
		wantFailed bool
		wantSkip   bool
	}{
		{"skipped outside CI", "", false, true},
		{"fails in CI", "true", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			fake := &fakeTB{TB: t}
			stopped := fake.call(func() { Start(fake) })
			if !stopped {
				t.Fatalf("Start without a browser returned")
			}
			if fake.Failed() != tt.wantFailed || fake.skipped != tt.wantSkip {
				t.Errorf("Start with CI=%q: failed %v, skipped %v; want failed %v, skipped %v (log %q)",
					tt.ci, fake.Failed(), fake.skipped, tt.wantFailed, tt.wantSkip, fake.logged())
			}
			if !strings.Contains(fake.logged(), "no-such-chromium") {
				t.Errorf("message %q does not name the path", fake.logged())
			}
		})
	}
}

func TestFileName(t *testing.T) {
	tests := map[string]string{
		"TestUI":                     "TestUI",
		"TestUI/sign_in":             "TestUI_sign_in",
		"TestUI/approve a promotion": "TestUI_approve_a_promotion",
		"TestX/é:1":                  "TestX___1",
	}
	for in, want := range tests {
		if got := FileName(in); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// pngSize returns the size of the PNG file at path, failing t when it is not
// one.
func pngSize(t *testing.T, path string) (w, h int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	return cfg.Width, cfg.Height
}

// fakeTB stands in for a test that may fail without failing the real one: it
// records failures, skips, logs and cleanups, and runs the cleanups when told.
// Fatal and skip calls stop the calling function as in a real test; run them
// under call.
type fakeTB struct {
	testing.TB // the real test: Name, Helper, TempDir, Setenv

	mu       sync.Mutex
	failed   bool
	skipped  bool
	log      strings.Builder
	cleanups []func()
}

// stop is the value fakeTB panics with to stop a function, as
// runtime.Goexit does in a real test.
type stop struct{}

// call runs f and reports whether a Fatal or Skip stopped it.
func (f *fakeTB) call(fn func()) (stopped bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stop); !ok {
				panic(r)
			}
			stopped = true
		}
	}()
	fn()
	return false
}

func (f *fakeTB) record(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintln(&f.log, args...)
}

func (f *fakeTB) logged() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.log.String()
}

func (f *fakeTB) Fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
}

func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *fakeTB) Log(args ...any)                 { f.record(args...) }
func (f *fakeTB) Logf(format string, args ...any) { f.record(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Error(args ...any)               { f.Fail(); f.record(args...) }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.Fail()
	f.record(fmt.Sprintf(format, args...))
}
func (f *fakeTB) FailNow()                          { f.Fail(); panic(stop{}) }
func (f *fakeTB) Fatal(args ...any)                 { f.Error(args...); panic(stop{}) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...); panic(stop{}) }
func (f *fakeTB) SkipNow()                          { f.skipped = true; panic(stop{}) }
func (f *fakeTB) Skip(args ...any)                  { f.record(args...); f.SkipNow() }
func (f *fakeTB) Skipf(format string, args ...any) {
	f.record(fmt.Sprintf(format, args...))
	f.SkipNow()
}
func (f *fakeTB) Skipped() bool { return f.skipped }

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// runCleanups runs the registered cleanups, last first, as testing does.
func (f *fakeTB) runCleanups() {
	f.mu.Lock()
	fns := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

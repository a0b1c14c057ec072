package notify

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/testtool"
)

// docsGoReceiver returns the Go receiver docs/webhooks.md gives, the first
// Go block of its section on checking a request.
func docsGoReceiver(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Checking a request (receivers)\n")
	if !ok {
		t.Fatal("docs/webhooks.md has no section on checking a request")
	}
	m := regexp.MustCompile("(?s)\n```go\n(.*?)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("docs/webhooks.md gives no Go receiver")
	}
	return m[1]
}

// TestDocsGoReceiver builds the Go receiver docs/webhooks.md gives, as
// someone who writes one does, in a module of their own, and has a
// Dispatcher deliver to it: given two secrets, as while one is rotated, it
// accepts Promote's requests signed with either and refuses a forged one.
func TestDocsGoReceiver(t *testing.T) {
	goCmd := testtool.Find(t, "PROMOTE_GO", "go", "install Go")
	oldSecret := []byte("the-old-secret-0123456789")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/receiver\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(docsGoReceiver(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "receiver")
	build := exec.Command(goCmd, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the receiver docs/webhooks.md gives does not build outside Promote's module: %v\n%s", err, out)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs testtool.Buffer
	rcv := exec.Command(bin)
	rcv.Env = append(os.Environ(), "ADDR="+addr, "PROMOTE_WEBHOOK_SECRETS="+string(oldSecret)+" "+string(testSecret))
	rcv.Stdout, rcv.Stderr = &logs, &logs
	if err := rcv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rcv.Process.Kill(); rcv.Wait() })
	url := "http://" + addr + "/hooks/promote"
	waitFor(t, "the receiver to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	forged, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"id":"ev_1_x","type":"promotion.approved"}`))
	if err != nil {
		t.Fatal(err)
	}
	forged.Header.Set(HeaderID, "ev_1_x")
	forged.Header.Set(HeaderTimestamp, fmt.Sprint(time.Now().Unix()))
	forged.Header.Set(HeaderSignature, Sign([]byte("not-the-secret-0123456789"), time.Now().Unix(), []byte(`{"id":"ev_1_x","type":"promotion.approved"}`)))
	resp, err := http.DefaultClient.Do(forged)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged request: %s, want 401", resp.Status)
	}

	s := openStore(t)
	cfg := dispatcherConfig(s, url)
	// The same events to the receiver, signed with the old secret: as
	// sent by a replica not yet restarted with the new one.
	cfg.Endpoints = append(cfg.Endpoints, Endpoint{Name: "old", URL: url, Secret: oldSecret})
	d := startedDispatcher(t, cfg)
	events := appendRequests(t, s, 1, 2)
	runDispatcher(t, t.Context(), d)
	// Both endpoints send each event at once: the receiver processes one
	// copy and answers the other, while the first is processed, with a
	// 503, so that copy is retried and then acknowledged as a replay.
	// Every delivery ends delivered; the attempts before are such 503s.
	waitFor(t, "every delivery", func() bool {
		done := 0
		for _, dl := range storedDeliveries(t, s) {
			if dl.Status != StatusRetrying {
				done++
			}
		}
		return done >= 4
	})
	for _, dl := range storedDeliveries(t, s) {
		switch {
		case dl.Status == StatusDelivered:
		case dl.Status == StatusRetrying && dl.Code == http.StatusServiceUnavailable && strings.Contains(dl.Error, "being processed"):
		default:
			t.Errorf("delivery of %s to %s: %s %d %s, want delivered, after retries of a copy being processed", dl.EventID, dl.Endpoint, dl.Status, dl.Code, dl.Error)
		}
	}
	for _, id := range idsOf(events) {
		if !strings.Contains(logs.String(), id+" promotion.requested") {
			t.Errorf("the receiver did not handle %s; its log:\n%s", id, logs.String())
		}
	}
}

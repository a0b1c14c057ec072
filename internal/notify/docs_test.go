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
	"github.com/promote-ml/promote/promote"
)

// docsReceiver returns the receiver docs/webhooks.md gives in lang (go,
// python), the first block of that language in its section on checking a
// request.
func docsReceiver(t *testing.T, lang string) string {
	t.Helper()
	_, section, ok := strings.Cut(webhooksDoc(t), "\n## Checking a request (receivers)\n")
	if !ok {
		t.Fatal("docs/webhooks.md has no section on checking a request")
	}
	m := regexp.MustCompile("(?s)\n```" + lang + "\n(.*?)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatalf("docs/webhooks.md gives no %s receiver", lang)
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
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(docsReceiver(t, "go")), 0o644); err != nil {
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

	// The same events to the receiver, signed with the old secret: as
	// sent by a replica not yet restarted with the new one.
	events := deliverToReceiver(t, url, Endpoint{Name: "old", URL: url, Secret: oldSecret})
	for _, id := range idsOf(events) {
		if !strings.Contains(logs.String(), id+" promotion.requested") {
			t.Errorf("the receiver did not handle %s; its log:\n%s", id, logs.String())
		}
	}
}

// deliverToReceiver has a Dispatcher deliver two events to a receiver
// checking requests as docs/webhooks.md says, at url and at the others
// endpoints, and returns them once every delivery is finished. When
// several endpoints send an event at once, the receiver processes one
// copy and answers the others, while the first is processed, with a 503,
// so that those are retried and then acknowledged as a replay: every
// delivery must end delivered, the attempts before being such 503s.
func deliverToReceiver(t *testing.T, url string, others ...Endpoint) []promote.AuditEvent {
	t.Helper()
	s := openStore(t)
	cfg := dispatcherConfig(s, url)
	cfg.Endpoints = append(cfg.Endpoints, others...)
	d := startedDispatcher(t, cfg)
	events := appendRequests(t, s, 1, 2)
	runDispatcher(t, t.Context(), d)
	waitFor(t, "every delivery", func() bool {
		done := 0
		for _, dl := range storedDeliveries(t, s) {
			if dl.Status != StatusRetrying {
				done++
			}
		}
		return done >= len(events)*len(cfg.Endpoints)
	})
	for _, dl := range storedDeliveries(t, s) {
		switch {
		case dl.Status == StatusDelivered:
		case dl.Status == StatusRetrying && dl.Code == http.StatusServiceUnavailable && strings.Contains(dl.Error, "being processed"):
		default:
			t.Errorf("delivery of %s to %s: %s %d %s, want delivered, after retries of a copy being processed", dl.EventID, dl.Endpoint, dl.Status, dl.Code, dl.Error)
		}
	}
	return events
}

// pythonServer serves the docs' Python functions as a receiver would:
// verify, then take, then done (or forget when the body is not JSON), and
// prints each event it processes.
const pythonServer = `
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRETS = [s.encode() for s in os.environ["PROMOTE_WEBHOOK_SECRETS"].split()]

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, text=""):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            wid = verify(SECRETS, self.headers, body)
        except ValueError as e:
            return self.answer(401, str(e))
        state = take(wid)
        if state == "processed":
            return self.answer(200)
        if state == "processing":
            return self.answer(503, "being processed")
        try:
            ev = json.loads(body)
        except ValueError:
            forget(wid)
            return self.answer(500, "not processed")
        print(wid, ev.get("type", ev.get("text")), flush=True)
        done(wid)
        self.answer(204)

server = HTTPServer(("127.0.0.1", 0), Handler)
print("listening", server.server_address[1], flush=True)
server.serve_forever()
`

// TestDocsPythonReceiver runs the Python receiver docs/webhooks.md gives
// and has a Dispatcher deliver to it, in both formats: it accepts
// Promote's requests, signed with either of two secrets while one is
// rotated, and refuses a forged one and one replayed under another ID.
func TestDocsPythonReceiver(t *testing.T) {
	oldSecret := []byte("the-old-secret-0123456789")
	secrets := string(oldSecret) + " " + string(testSecret)
	url, logs := startPythonReceiver(t, secrets)
	// A Slack-format endpoint is another receiver: the event's ID is the
	// same in either format, so one receiver would take the second for a
	// duplicate.
	chatURL, chatLogs := startPythonReceiver(t, string(testSecret))

	post := func(id string, ts int64, secret []byte, body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(HeaderID, id)
		req.Header.Set(HeaderTimestamp, fmt.Sprint(ts))
		req.Header.Set(HeaderSignature, Sign(secret, ts, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now().Unix()
	body := `{"id":"ev_1_x","type":"promotion.approved"}`
	for _, tt := range []struct {
		name   string
		id     string
		ts     int64
		secret []byte
		want   int
	}{
		{"forged", "ev_1_x", now, []byte("not-the-secret-0123456789"), http.StatusUnauthorized},
		{"stale", "ev_1_x", now - 3600, testSecret, http.StatusUnauthorized},
		{"replayed under another ID", "ev_2_y", now, testSecret, http.StatusUnauthorized},
	} {
		if got := post(tt.id, tt.ts, tt.secret, body); got != tt.want {
			t.Errorf("a %s request: %d, want %d", tt.name, got, tt.want)
		}
	}

	// The same events signed with the old secret, as sent by a replica
	// not yet restarted with the new one, and in the Slack format.
	events := deliverToReceiver(t, url, Endpoint{Name: "old", URL: url, Secret: oldSecret},
		Endpoint{Name: "chat", URL: chatURL, Secret: testSecret, Format: FormatSlack})
	for _, id := range idsOf(events) {
		if !strings.Contains(logs.String(), id+" promotion.requested") {
			t.Errorf("the receiver did not handle %s; its log:\n%s", id, logs.String())
		}
		if !strings.Contains(chatLogs.String(), id+" fraud v") {
			t.Errorf("the Slack-format receiver did not handle %s; its log:\n%s", id, chatLogs.String())
		}
	}
}

// startPythonReceiver runs the docs' Python receiver with secrets (space
// separated) until the test ends, and returns its URL and its output.
func startPythonReceiver(t *testing.T, secrets string) (string, *testtool.Buffer) {
	t.Helper()
	py := testtool.Find(t, "PROMOTE_PYTHON", "python3", "install Python 3")
	script := filepath.Join(t.TempDir(), "receiver.py")
	if err := os.WriteFile(script, []byte(docsReceiver(t, "python")+pythonServer), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := new(testtool.Buffer)
	rcv := exec.Command(py, script)
	rcv.Env = append(os.Environ(), "PROMOTE_WEBHOOK_SECRETS="+secrets)
	rcv.Stdout, rcv.Stderr = logs, logs
	if err := rcv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rcv.Process.Kill(); rcv.Wait() })
	var port string
	waitFor(t, "the receiver to listen", func() bool {
		m := regexp.MustCompile(`listening (\d+)\n`).FindStringSubmatch(logs.String())
		if m != nil {
			port = m[1]
		}
		return m != nil
	})
	return "http://127.0.0.1:" + port + "/hooks/promote", logs
}

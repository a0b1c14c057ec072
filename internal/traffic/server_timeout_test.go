package traffic

import (
	"bufio"
	"io"
	"net/http"
	"testing"
	"time"
)

// The fallback's ReadTimeout bounds the reading of a whole request, its
// body included, on the fast path as on net/http's: a client whose upload
// stalls is answered at about ReadTimeout, not held until the splitter's
// Config.Timeout.
func TestServerReadTimeoutBoundsBody(t *testing.T) {
	const readTimeout, timeout = 300 * time.Millisecond, 20 * time.Second
	b, saw := recordingBackend(t, "v1", nil)
	s, _ := newSplitter(t, Config{Timeout: timeout})
	if err := s.SetStable(b); err != nil {
		t.Fatal(err)
	}
	configure := func(f *http.Server) { f.ReadHeaderTimeout, f.IdleTimeout, f.ReadTimeout = 0, 0, readTimeout }
	fast, slow := startFast(t, s, configure), startSlowWith(t, s, configure)
	// net/http's answer is the backend's to the part of the body that
	// came (the transport sends what it read); the fast path, which
	// sends a request once its body is in, answers 408 and sends nothing.
	for _, front := range []struct {
		name, addr string
		want       int
	}{{"fast path", fast.addr, http.StatusRequestTimeout}, {"net/http", slow, 0}} {
		t.Run(front.name, func(t *testing.T) {
			drain(saw)
			c := dial(t, front.addr)
			start := time.Now()
			io.WriteString(c, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf.")
			c.SetReadDeadline(start.Add(timeout / 2))
			a, err := readAnswer(bufio.NewReader(c), "POST")
			d := time.Since(start)
			if err != nil {
				t.Fatalf("no answer %s after a body stalled past ReadTimeout (%s): %v", d, readTimeout, err)
			}
			if d >= timeout/2 {
				t.Errorf("answered %s after the request, want about ReadTimeout (%s), well before Config.Timeout (%s)", d, readTimeout, timeout)
			}
			if front.want == 0 {
				return
			}
			if a.Status != front.want {
				t.Errorf("a body stalled past ReadTimeout = %d %q, want %d", a.Status, a.Body, front.want)
			}
			if got := drain(saw); len(got) != 0 {
				t.Errorf("the backend saw %d requests, want none", len(got))
			}
		})
	}
}

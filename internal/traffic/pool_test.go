package traffic

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// A backend connection back in the pool for less than freshIdle goes
// without the peek only for a first attempt that can be sent again: a
// backend that closes its connections right after answering (a restart,
// or one that keeps none alive without saying so) costs a POST a new
// connection, not a 502, and a GET whose first connection failed is sent
// again on one that was checked, not on the next that the backend closed.
func TestPoolFreshConnections(t *testing.T) {
	tests := []struct {
		name   string
		method string
		closed int // connections in the pool that the backend closed
	}{
		{"POST after the backend closed its connection", http.MethodPost, 1},
		{"GET after the backend closed both its connections", http.MethodGet, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var served atomic.Int64
			accepted := make(chan net.Conn, 4)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				io.WriteString(w, r.Method)
			}))
			srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
				if st == http.StateNew {
					accepted <- c
				}
			}
			srv.Start()
			defer srv.Close()
			u, err := url.Parse(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			p := &connPool{addr: u.Host, host: u.Host}
			defer p.close()
			deadline := time.Now().Add(10 * time.Second)
			var conns []*backendConn
			for range tt.closed {
				bc, _, err := p.get(deadline, 0, true)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, bc)
			}
			for range tt.closed {
				select {
				case c := <-accepted:
					c.Close()
				case <-time.After(5 * time.Second):
					t.Fatal("the backend did not accept the connection")
				}
			}
			time.Sleep(20 * time.Millisecond) // the FINs arrive
			// Back in the pool just now, as after an answer.
			for _, bc := range conns {
				p.put(bc)
			}
			req := httptest.NewRequest(tt.method, "/p", nil)
			x := &exchange{req: req, url: req.URL}
			b := &backend{Backend: Backend{Version: "v1", URL: u}}
			bc, res, err := p.roundTrip(b, x, nil, deadline, 0, func(*http.Response) {})
			if err != nil {
				t.Fatalf("%s on a pool of %d connections the backend closed: %v, want its answer", tt.method, tt.closed, err)
			}
			defer bc.c.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil || res.StatusCode != http.StatusOK || string(body) != tt.method {
				t.Errorf("%s = %d %q, %v; want 200 %q", tt.method, res.StatusCode, body, err, tt.method)
			}
			if n := served.Load(); n != 1 {
				t.Errorf("the backend served %d requests, want 1", n)
			}
		})
	}
}

package traffic_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/promote-ml/promote/bench/traffic"
)

// The bare proxy forwards requests and answers whole, every tenth to the
// canary, in both of its modes.
func TestBare(t *testing.T) {
	for _, parse := range []bool{false, true} {
		t.Run(map[bool]string{false: "scanned", true: "parsed"}[parse], func(t *testing.T) {
			stable, stableBackend := backend(t)
			canary, canaryBackend := backend(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			b := &traffic.Bare{Stable: strings.TrimPrefix(stable.URL, "http://"), Canary: strings.TrimPrefix(canary.URL, "http://"), Every: 10, Parse: parse}
			go b.Serve(ln)
			defer ln.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			defer client.CloseIdleConnections()
			for range 50 {
				status, _, body := get(t, client, "http://"+ln.Addr().String()+"/predict")
				if status != http.StatusOK || body != traffic.Payload {
					t.Fatalf("GET /predict through the bare proxy = %d %q, want 200 %q", status, body, traffic.Payload)
				}
			}
			if s, c := stableBackend.Requests(), canaryBackend.Requests(); s != 45 || c != 5 {
				t.Errorf("backends answered %d (stable) and %d (canary), want 45 and 5", s, c)
			}
		})
	}
}

package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"sync"
	"time"
)

// Load is live traffic: applications sent to one environment's model route
// on the agent at a steady rate, as production clients would send them.
type Load struct {
	URL      string  // e.g. http://127.0.0.1:8081/prod/credit-risk/predict
	Rate     float64 // requests per second
	Payloads []Applicant
	Client   *http.Client

	mu     sync.Mutex
	tally  map[string]Tally // by the answering version; "" when no version answered
	sent   int
	errors int
}

// Tally counts the answers of one version.
type Tally struct {
	Requests int
	Errors   int // 5xx answers and failed requests
}

// Run sends requests until ctx ends, through a few workers; a tick that
// finds every worker busy is skipped, so that a slow backend is not
// buried under a backlog. It returns when every request has ended.
func (l *Load) Run(ctx context.Context) {
	const workers = 4
	l.mu.Lock()
	l.tally = map[string]Tally{}
	l.mu.Unlock()
	bodies := make([][]byte, len(l.Payloads))
	for i, a := range l.Payloads {
		bodies[i], _ = json.Marshal(a)
	}
	work := make(chan []byte)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for body := range work {
				l.send(ctx, body)
			}
		})
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / l.Rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			close(work)
			wg.Wait()
			return
		case <-tick.C:
		}
		select {
		case work <- bodies[i%len(bodies)]:
		default:
		}
	}
}

func (l *Load) send(ctx context.Context, body []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.Client.Do(req)
	if ctx.Err() != nil {
		if err == nil {
			resp.Body.Close()
		}
		return
	}
	version, failed := "", true
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		version, failed = resp.Header.Get("Promote-Version"), resp.StatusCode >= 500
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tally[version]
	t.Requests++
	l.sent++
	if failed {
		t.Errors++
		l.errors++
	}
	l.tally[version] = t
}

// Tallies returns the answers counted so far, by version, and the totals.
func (l *Load) Tallies() (byVersion map[string]Tally, sent, errors int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.tally), l.sent, l.errors
}

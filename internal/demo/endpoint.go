package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/promote-ml/promote/internal/signature"
)

// Endpoint is a local model server: an HTTP server that loads one model
// artifact and answers predictions with it, as a deployment of that
// artifact would. The agent routes an environment's traffic to the
// endpoint that serves the artifact its overlay pins.
type Endpoint struct {
	Model  *Model
	Digest string // the artifact's sha256:<hex>
	URL    string
	srv    *http.Server
	done   chan error
}

// Prediction is an endpoint's answer.
type Prediction struct {
	Model       string  `json:"model"`
	Version     string  `json:"version"`
	Probability float64 `json:"probability_of_default"`
	Decision    string  `json:"decision"` // approve or decline
}

// StartEndpoint loads the artifact at path and serves it on a free port of
// 127.0.0.1 until Close.
func StartEndpoint(path string) (*Endpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model endpoint: %w", err)
	}
	m, err := ParseModel(raw)
	if err != nil {
		return nil, fmt.Errorf("model endpoint %s: %w", path, err)
	}
	sum, _, err := signature.Digest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("model endpoint: %w", err)
	}
	e := &Endpoint{Model: m, Digest: fmt.Sprintf("sha256:%x", sum), URL: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /predict", e.predict)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		err := e.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		e.done <- err
	}()
	return e, nil
}

// Close stops the endpoint and waits for it.
func (e *Endpoint) Close(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	if serr := <-e.done; err == nil {
		err = serr
	}
	return err
}

func (e *Endpoint) predict(w http.ResponseWriter, r *http.Request) {
	var fields map[string]*float64
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&fields); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad application: " + err.Error()})
		return
	}
	p, err := e.Model.Score(fields)
	if err != nil {
		// The model itself fails: a server error, as an unhandled
		// exception in a model server would be.
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "model error: " + err.Error()})
		return
	}
	decision := "approve"
	if p >= e.Model.Threshold {
		decision = "decline"
	}
	writeJSON(w, http.StatusOK, Prediction{Model: e.Model.Model, Version: e.Model.Version, Probability: round(p, 6), Decision: decision})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Probe is what calling an endpoint with test applications showed.
type Probe struct {
	Requests  int
	Failures  int // answers that were not 200, or not the offline decision
	LatencyMs []float64
}

// P95Ms is the 95th percentile of the latencies, in milliseconds (nearest
// rank).
func (p Probe) P95Ms() float64 {
	if len(p.LatencyMs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(p.LatencyMs)
	slices.Sort(s)
	return s[int(math.Ceil(0.95*float64(len(s))))-1]
}

// ProbeEndpoint sends the applications to the endpoint one at a time,
// timing each answer, and checks that each decision is the one the model
// makes offline: the version's serving test and latency benchmark.
func ProbeEndpoint(ctx context.Context, hc *http.Client, e *Endpoint, rows []Applicant) (Probe, error) {
	var p Probe
	for _, a := range rows {
		body, _ := json.Marshal(a)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/predict", bytes.NewReader(body))
		if err != nil {
			return p, err
		}
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return p, fmt.Errorf("probe %s: %w", e.URL, err)
		}
		var got Prediction
		derr := json.NewDecoder(resp.Body).Decode(&got)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		p.LatencyMs = append(p.LatencyMs, float64(time.Since(start).Microseconds())/1000)
		p.Requests++
		want, err := e.Model.Score(fieldsOf(a))
		if resp.StatusCode != http.StatusOK || derr != nil || err != nil || (got.Decision == "decline") != (want >= e.Model.Threshold) {
			p.Failures++
		}
	}
	return p, nil
}

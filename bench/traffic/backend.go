package traffic

import (
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Payload is the body every backend answers with: a model's prediction, as
// small as the figures are meant to be about the router, not the model.
const Payload = `{"score":0.73,"label":"approve"}`

// RequestsPath is where a Backend tells how many requests it has answered,
// so that run.sh can see how a router split them. It is not counted.
const RequestsPath = "/-/requests"

// Backend is the benchmark's model backend: it answers every request with
// Payload as JSON, after Delay when set, whatever the method and path. The
// same handler stands behind all three paths.
type Backend struct {
	// Delay is how long to wait before answering; Go's timers wake to
	// about the millisecond.
	Delay time.Duration
	n     atomic.Int64
}

var (
	payload      = []byte(Payload)
	length       = []string{strconv.Itoa(len(Payload))}
	contentType  = []string{"application/json"}
	contentPlain = []string{"text/plain; charset=utf-8"}
)

// ServeHTTP implements http.Handler.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == RequestsPath {
		w.Header()["Content-Type"] = contentPlain
		io.WriteString(w, strconv.FormatInt(b.n.Load(), 10)+"\n")
		return
	}
	b.n.Add(1)
	// Drain the body so that the connection can be reused.
	io.Copy(io.Discard, r.Body)
	if b.Delay > 0 {
		time.Sleep(b.Delay)
	}
	h := w.Header()
	h["Content-Type"] = contentType
	h["Content-Length"] = length
	w.Write(payload)
}

// Requests returns how many requests b has answered (RequestsPath's
// excepted).
func (b *Backend) Requests() int64 { return b.n.Load() }

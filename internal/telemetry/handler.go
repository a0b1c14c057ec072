package telemetry

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/common/expfmt"
)

// openMetricsFormats are the formats a scrape may ask for, in order of
// preference.
var openMetricsFormats = expfmt.DefaultOpenMetricsAcceptedFormats()

// Handler serves the registry's metrics for a Prometheus scrape, in the
// format the request's Accept header asks for: OpenMetrics or the
// protocol-buffer format when it names them, the text format otherwise.
// Gathering or writing errors are logged to log, which may be nil.
func (r *Registry) Handler(log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		families, err := r.Gather()
		if err != nil {
			log.Error("gather metrics", "err", err)
			http.Error(w, "gather metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		format := expfmt.NegotiateAccept(req.Header, openMetricsFormats...)
		w.Header().Set("Content-Type", string(format))
		enc := expfmt.NewEncoder(w, format)
		for _, mf := range families {
			if err := enc.Encode(mf); err != nil {
				log.Error("write metrics", "family", mf.GetName(), "err", err)
				return
			}
		}
		if c, ok := enc.(expfmt.Closer); ok {
			if err := c.Close(); err != nil {
				log.Error("write metrics", "err", err)
			}
		}
	})
}

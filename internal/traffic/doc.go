// Package traffic is Promote's built-in traffic splitter: a reverse proxy
// (net/http/httputil.ReverseProxy) for one model in one environment that
// divides requests between a stable and a canary backend by a weight set
// at run time, mirrors a share of them to a shadow backend, keeps unhealthy
// backends out of rotation and counts what every backend answers.
//
// # Weights
//
// Splitter.SetStable names the version that serves by default and
// Splitter.SetCanary the candidate with its weight: the share of requests,
// from 0 to 1, that it receives. Weights are plain float64s, so steps of
// 1%, 0.5% or finer are all exact enough. Every request is given a point in
// [0, 1) and goes to the canary when its point is below the weight.
// SetWeight moves the weight while requests flow; a request reads the
// backends and weights with one atomic load, so changes take effect on the
// next request and never tear.
//
// # Judge
//
// Splitter.SetJudge attaches a Judge, a sequential test told of every
// stable and canary request as the metrics count it (not of mirrors, nor
// of the requests the candidate header pinned). When it says the canary
// fails, the weight goes to 0 at that request, before any controller
// looks again, and stays there (a higher weight is a Conflict) while the
// judge stays attached. Without a judge the hook costs a request one
// atomic load.
//
// # Stickiness
//
// Without Config.Sticky a request's point is random. With Sticky.Header or
// Sticky.Cookie, the point is a stable hash (FNV-1a 64, then MurmurHash3's
// finalizer) of the header's or cookie's value with the model and
// environment, the same in every process and release: a client stays
// on its track while the weight stays on the same side of its point, and
// moves only when the weight passes it. Raising the weight moves clients
// from stable to canary only; lowering it, from canary to stable only.
// While a canary is set, a request that lacks Sticky.Cookie is given one
// (a random value; Path=/, HttpOnly, SameSite=Lax, 30 days, and Secure
// when the request came over TLS or with X-Forwarded-Proto: https) and
// placed by it.
//
// # Health
//
// A backend whose requests end in a timeout or a connection error
// Config.FailureThreshold times in a row (5) is ejected for a cool-off
// (Config.CoolOff, 10 s), during which its share of requests goes to the
// other track. It is then readmitted on probation: one more failure ejects
// it again for twice as long (up to Config.MaxCoolOff, 5 min), one response
// ends the probation. When both tracks are out, requests keep going to
// stable; a canary at weight 0 never takes the stable's share. With
// Config.HealthPath, Run also probes every backend every
// Config.HealthInterval, and a backend whose probe does not answer 2xx is
// out until a probe passes. Responses with 5xx statuses are counted but do
// not eject: they are the model's answer, for the canary analysis to judge.
//
// # Shadow
//
// Splitter.SetShadow names a backend to which a share of requests is
// mirrored. The mirror runs in a goroutine of its own and never delays or
// alters the client's response: the primary response is streamed as usual
// while the mirror's is read and discarded. A request without a body is
// mirrored at once; one with a body is copied as the primary request
// reads it, and mirrored once it has been read to its end, if it is at most
// Shadow.MaxBody (1 MiB): a client that streams its body is never held up,
// and a larger body, or one that breaks off, is not mirrored; the larger
// body is counted as dropped, so that the share actually mirrored is
// known. The copies of bodies still arriving hold at most
// Shadow.MaxConcurrent times Shadow.MaxBody bytes together (32 MiB),
// however many clients send one at once: a copy that would pass that is
// given up and counted as dropped too. At most Shadow.MaxConcurrent mirrors (32) are in flight; a
// request whose mirror would pass the bound is not mirrored and is
// counted as dropped too. Each
// mirror is bounded by Shadow.Timeout (10 s). Once both responses are in, their status codes are compared, and with
// Shadow.CompareBodies their bodies too (by hash, computed while the
// primary body streams, up to Shadow.MaxBody). A shadow's answer that
// differs from the primary's, where neither failed and the primary is not
// a 5xx, counts on the shadow track as outcome mismatch: an error of the
// candidate for the analysis, which judges the shadow on it as on its 5xx
// answers. A dropped mirror, and one whose primary outlasted the timeout,
// counts as neither a match nor a mismatch. A mirrored request is the one
// the primary backend is sent (its fields, forwarding fields and query as
// ReverseProxy sends them), with Promote-Shadow: 1. Close (or the end of Run) waits for the mirrors in
// flight.
//
// # Candidate header
//
// With Config.CandidateHeader, a request whose header of that name is 1
// or true (any case) goes to the candidate while one is set, whatever its
// health: the shadow while one is set, which then answers the request in
// stable's place, without a mirror, or else the canary, whatever its
// weight (0 included). It
// is a route for people to try the candidate (Argo Rollouts'
// setHeaderRoute, Flagger's header match). Such requests count on the
// track pinned, never on the candidate's, whose share of requests the
// canary analysis takes to be its weight, do not call OnCandidate, and
// leave the candidate's passive health alone (their failures eject
// nothing, their successes end no run of failures).
// SetPinned closes the route (a rollout that failed or was stopped) and
// opens it again; a canary of another version, or none, opens it too.
// Anyone who can set the header reaches the candidate: the edge in front
// should strip it from public traffic.
//
// # Responses
//
// Every proxied response carries Promote-Track (stable or canary) and
// Promote-Version. When the backend does not answer, the splitter does,
// with a JSON error {"error": {"code": "internal", "message": "..."}}:
// 504 after Config.Timeout (30 s), 502 for a connection error, and 503
// while no stable backend is set. A client still sending its request body
// at the deadline gets 408 instead, counted as a client error, not against
// the backend. A protocol upgrade (a WebSocket) is bounded by the timeout
// only until the backend switches protocols; the connection then lasts as
// long as its ends keep it, and counts as one ok request whose duration is
// the time to the switch.
//
// # Fast path
//
// Server serves a listener for one or more splitters (promote serve's
// agent serves its routes through one) with a fast path for the plain
// requests that make up a model's traffic: HTTP/1.1 with a path, one
// well-formed Host and well-formed fields, every line ending in CRLF and
// none folded, no Expect or protocol upgrade, a query that ReverseProxy
// would pass on as it came, and a body of known length up to MaxFastBody
// (64 KiB). Each connection is read by a loop of its own with net/http's
// request parser (http.ReadRequest); a plain request that Server.Route
// sends to a splitter is forwarded on a kept-alive backend connection and
// its answer read with net/http's response parser (http.ReadResponse),
// all in that loop: none of the server's, the transport's or
// ReverseProxy's per-request goroutines, channels and copies, which cost
// the splitter half of nginx's throughput (BENCHMARKS.md). It sends what
// ReverseProxy with SetURL and SetXForwarded would send, answers what
// ServeHTTP would answer (1xx answers and trailers included), and counts
// the same metrics and health, with these differences: the body is read
// whole before the request goes out (as nginx buffers it), the backend's
// answer is passed on as it came (no Accept-Encoding is added, nor a
// Content-Type sniffed), an answer without a length goes out chunked, and
// a client that goes away while the backend works is noticed only when
// its answer is written (the request counts as the backend answered it,
// where net/http would cancel it and count a client error).
// An idle backend connection is checked before it is used again (a peek
// that must find nothing to read: a backend closes idle connections as it
// likes) unless it delivered an answer less than a millisecond before
// and the request can be sent again (its method is idempotent or it
// carries an idempotency key), which under load spares a system call per
// request; a request that still finds its connection closed is sent again
// once, on a connection checked or new, when it can be, as net/http does,
// so that a backend closing connections right after its answers (a
// restart) fails no POST the check would have saved. The fallback's
// ReadHeaderTimeout, IdleTimeout, ReadTimeout (a request's header and
// body, a body that has not arrived by then answered 408) and
// WriteTimeout bound the fast path's connections as net/http's, and
// the splitter's Config.Timeout its requests; those deadlines are moved
// only when the one wanted lies past the one in force or well before it,
// as nginx keeps its timers, so that a timeout of d may end up to d/16
// (at most 250 ms) late, and a busy connection sets its deadlines a few
// times a second rather than four times per request. On Unix its socket
// writes are raw write(2) calls (sysWriter), which the Go scheduler does
// not take for blocking ones: a loopback write does the receiver's TCP
// work too and lasts long enough for the runtime to hand the goroutine's
// processor to another thread, a wake and a switch per write under load.
//
// At the first request of a connection that is not plain, or that Route
// or the splitter declines (a shadow mirror is set, the splitter was given
// its own Config.Transport, the backend is https or reached through a
// proxy, no stable backend is set), the connection, with the bytes read of
// that request, is handed to Server.Fallback, an http.Server whose handler
// serves the splitters through ServeHTTP, for the rest of its life: every
// malformed request and every error is net/http's to answer, as before.
//
// # Metrics
//
// The metric names and labels are a contract: PromQL queries in dashboards,
// alerts and the canary analysis depend on them.
//
//	promote_traffic_requests_total{model, env, track, outcome}          counter
//	promote_traffic_request_duration_seconds{model, env, track}         histogram (DurationBuckets)
//	promote_traffic_canary_weight_ratio{model, env}                     gauge, 0 to 1
//	promote_traffic_backend_healthy{model, env, track}                  gauge, 1 or 0
//	promote_traffic_shadow_comparisons_total{model, env, result}        counter
//	promote_traffic_shadow_dropped_total{model, env}                    counter
//
// track is stable, canary or shadow (mirrored requests count under shadow),
// or pinned for the requests the candidate header sent to the candidate
// (its series exist only with Config.CandidateHeader);
// outcome is ok (status below 400), client_error (4xx, or a client that
// went away), server_error (5xx), timeout, connection_error or, on the
// shadow track only, mismatch (an answer that differs from stable's); result is
// match, status_mismatch, body_mismatch or error. Durations run from
// receiving the request to the end of the response body (to the switch,
// for an upgrade). A canary's error
// rate, for instance:
//
//	sum(rate(promote_traffic_requests_total{model="m", env="prod", track="canary", outcome=~"server_error|timeout|connection_error"}[5m]))
//	  / sum(rate(promote_traffic_requests_total{model="m", env="prod", track="canary"}[5m]))
//
// Every series of a splitter's tracks and outcomes exists from New on, at
// 0, so that rates are defined before the first error. The counters belong
// to the model and environment, not to a Splitter: a Splitter that replaces
// another for the same model and environment (sharing Metrics) counts on.
// One Splitter per model and environment is live at a time.
package traffic

package metrics

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestFormatWindow(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Minute, "1ms"}, // a start in the future
		{0, "1ms"},
		{time.Microsecond, "1ms"},
		{time.Millisecond, "1ms"},
		{time.Millisecond + 999*time.Microsecond, "1ms"},
		{999 * time.Millisecond, "999ms"},
		{time.Second, "1s"},
		{1500 * time.Millisecond, "1s500ms"},
		{59 * time.Second, "59s"},
		{time.Minute, "1m"},
		{5*time.Minute + 3*time.Second, "5m3s"},
		{5*time.Minute + 2*time.Second + 7*time.Millisecond + time.Nanosecond, "5m2s7ms"},
		{time.Hour, "1h"},
		{time.Hour + 3*time.Millisecond, "1h3ms"},
		{49*time.Hour + 59*time.Minute + 59*time.Second + 999*time.Millisecond, "49h59m59s999ms"},
	}
	for _, tt := range tests {
		if got := formatWindow(tt.d); got != tt.want {
			t.Errorf("formatWindow(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestEscapeString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"credit-risk", "credit-risk"},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{`x"} or vector(1)`, `x\"} or vector(1)`},
		{"line\nbreak", `line\nbreak`},
		{"tab\there", `tab\there`},
		{"café", "café"},
		{"nul\x00", `nul\x00`},
		{"'single'", "'single'"}, // harmless inside "..."
		{"`raw`", "`raw`"},
	}
	for _, tt := range tests {
		if got := escapeString(tt.in); got != tt.want {
			t.Errorf("escapeString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzEscapeString checks that an escaped value stays one double-quoted
// string whose unquoting (PromQL's is Go's) gives the value back.
func FuzzEscapeString(f *testing.F) {
	for _, s := range []string{"", "credit-risk", `a"b\c`, `"} or vector(1) or {a="`, "\n\t\x00", "é\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("queries refuse invalid UTF-8")
		}
		e := escapeString(s)
		if field, ok := unquotedSentinel(`x{a="` + e + `",b="` + sentinelModel + `"}`); !ok {
			t.Fatalf("escapeString(%q) = %s ends the string early: {{.%s}} escaped", s, e, field)
		}
		got, err := strconv.Unquote(`"` + e + `"`)
		if err != nil || got != s {
			t.Fatalf("Unquote(escapeString(%q)) = %q, %v; want the value back", s, got, err)
		}
	})
}

func TestDefaultTemplatesRender(t *testing.T) {
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := since.Add(5*time.Minute + 2500*time.Millisecond)
	q := Query{Model: `credit"risk`, Env: "prod", Track: TrackCanary, Since: since}
	c, err := compileTemplates(Templates{})
	if err != nil {
		t.Fatal(err)
	}
	data := newTemplateData(q, now)
	sel := `model="credit\"risk",env="prod",track="canary"`
	// S stands for each template's series, as in docs/rollouts.md.
	const pattern = `(((last_over_time(S[5m2s500ms]) - S @ 1772366400.000) unless (resets(S[5m2s500ms]) > 0 or min_over_time(S[5m2s500ms]) < S @ 1772366400.000)) or last_over_time(S[5m2s500ms]))`
	failed := `,outcome=~"server_error|timeout|connection_error|mismatch"`
	for _, tt := range []struct {
		q    query
		want string
	}{
		{c.requests, `sum ` + strings.ReplaceAll(pattern, "S", `promote_traffic_requests_total{`+sel+`}`)},
		{c.errors, `sum ` + strings.ReplaceAll(pattern, "S", `promote_traffic_requests_total{`+sel+failed+`}`)},
		{c.latencyBuckets, `sum by (le) ` + strings.ReplaceAll(pattern, "S", `promote_traffic_request_duration_seconds_bucket{`+sel+`}`)},
		{c.latencySum, `sum ` + strings.ReplaceAll(pattern, "S", `promote_traffic_request_duration_seconds_sum{`+sel+`}`)},
	} {
		got, err := tt.q.render(data)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s template rendered\n%s\nwant\n%s", tt.q.name, got, tt.want)
		}
	}
	if !c.latency {
		t.Error("default templates: latency not queried")
	}
}

func TestNewPrometheusErrors(t *testing.T) {
	valid := DefaultTemplates()
	with := func(change func(*Templates)) Templates {
		t := valid
		change(&t)
		return t
	}
	tests := []struct {
		name string
		opts PrometheusOptions
		// want are parts of the error message, all required.
		want []string
	}{
		{
			name: "no URL",
			opts: PrometheusOptions{},
			want: []string{"URL is empty"},
		},
		{
			name: "URL without scheme",
			opts: PrometheusOptions{URL: "prometheus:9090"},
			want: []string{`URL "prometheus:9090"`},
		},
		{
			name: "URL with a query",
			opts: PrometheusOptions{URL: "http://prometheus:9090/?x=1"},
			want: []string{"want no query"},
		},
		{
			name: "template syntax",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) { t.Requests = `sum(x{a="{{.Model"})` })},
			want: []string{"requests template", "template: requests:1:"},
		},
		{
			name: "unknown field",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) {
				t.Errors = `sum(x{model="{{.Modle}}",track="{{.Track}}"})`
			})},
			want: []string{"errors template", "can't evaluate field Modle"},
		},
		{
			name: "value outside quotes",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) {
				t.Requests = `sum(x{track="{{.Track}}"}) * {{.Model}}`
			})},
			want: []string{"requests template", "{{.Model}} must be inside a double-quoted PromQL string"},
		},
		{
			name: "value in a single-quoted string",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) {
				t.Requests = `sum(x{model='{{.Model}}',track="{{.Track}}"})`
			})},
			want: []string{"{{.Model}} must be inside a double-quoted"},
		},
		{
			name: "value in a raw string",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) {
				t.Requests = "sum(x{env=`{{.Env}}`,track=\"{{.Track}}\"})"
			})},
			want: []string{"{{.Env}} must be inside a double-quoted"},
		},
		{
			name: "quote in a single-quoted string does not open a string",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) {
				t.Requests = `sum(x{a='"',model={{.Model}},track="{{.Track}}"})`
			})},
			want: []string{"{{.Model}} must be inside a double-quoted"},
		},
		{
			name: "value in a comment",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) {
				t.Requests = "# \"{{.Model}}\n" + `sum(x{track="{{.Track}}"}) # {{.Track}}`
			})},
			want: []string{"{{.Model}} must be inside a double-quoted"},
		},
		{
			name: "value outside quotes in one track's branch",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) {
				t.Requests = `{{if eq .Track "canary"}}sum(x{v="2"}) * {{.Env}}{{else}}sum(x{track="{{.Track}}"}){{end}}`
			})},
			want: []string{"{{.Env}} must be inside a double-quoted"},
		},
		{
			name: "no track",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) {
				t.Requests = `sum(increase(x{model="{{.Model}}"}[{{.Window}}]))`
			})},
			want: []string{"requests template does not depend on {{.Track}}"},
		},
		{
			name: "empty requests",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) { t.Requests = " " })},
			want: []string{"requests template is empty"},
		},
		{
			name: "renders empty",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) { t.Errors = `{{if false}}{{.Track}}{{end}}` })},
			want: []string{"errors template renders an empty query"},
		},
		{
			name: "buckets without sum",
			opts: PrometheusOptions{URL: "http://p:9090", Templates: with(func(t *Templates) { t.LatencySum = "" })},
			want: []string{"latency buckets and latency sum templates must be set together"},
		},
		{
			name: "every problem at once",
			opts: PrometheusOptions{URL: "ftp://p", LatencyUnit: -time.Second, Templates: Templates{
				Requests: `{{.Nope}}`, Errors: `x{model={{.Model}},track="{{.Track}}"}`,
			}},
			want: []string{`URL "ftp://p"`, "latency unit -1s is negative", "requests template", "can't evaluate field Nope", "errors template: {{.Model}}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPrometheus(tt.opts)
			if err == nil {
				t.Fatalf("NewPrometheus(%+v) = %v, nil; want an error", tt.opts, p)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewPrometheus() error = %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestNewPrometheusAccepts(t *testing.T) {
	tests := []struct {
		name string
		t    Templates
	}{
		{"defaults", Templates{}},
		{"no latency", Templates{
			Requests: `sum(increase(x{model="{{.Model}}",track="{{.Track}}"}[{{.Window}}]))`,
			Errors:   `sum(increase(x{model="{{.Model}}",track="{{.Track}}",code=~"5.."}[{{.Window}}]))`,
		}},
		{"track as a branch", Templates{
			Requests: `sum(increase(x{version={{if eq .Track "canary"}}"v2"{{else}}"v1"{{end}},app="{{.Model}}"}[{{.Window}}]))`,
			Errors:   `sum(increase(y{v="{{.Track}}"}[{{.Window}}])) # a comment with a "quote`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPrometheus(PrometheusOptions{URL: "http://127.0.0.1:9090/prefix/", Templates: tt.t}); err != nil {
				t.Errorf("NewPrometheus(%s) = %v", tt.name, err)
			}
		})
	}
}

// FuzzTemplates checks that template validation never panics, and that an
// accepted template renders for any valid values.
func FuzzTemplates(f *testing.F) {
	for _, s := range []string{
		DefaultRequestsTemplate, DefaultLatencyBucketsTemplate,
		`{{.Model}}`, `x{a="{{.Track}}"}`, `x{a='{{.Track}}'}`, "x{a=`{{.Track}}`}", `# {{.Track}}`,
		`{{if eq .Track "canary"}}"{{.Track}}"{{end}}`, `"\`, `'\'`, `{{template "x"}}`, `{{.Track | printf "%q"}}`,
	} {
		f.Add(s, "credit-risk")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		q, err := compileTemplate("fuzz", text)
		if err != nil || !utf8.ValidString(value) {
			return
		}
		data := newTemplateData(Query{Model: value, Env: value, Track: value, Since: time.Unix(0, 0)}, time.Unix(60, 0))
		if _, err := q.render(data); err != nil {
			t.Fatalf("accepted template %q fails to render for %q: %v", text, value, err)
		}
	})
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   []sample
		// wantErr is part of the error message; "" means no error.
		wantErr string
		// wantQueryError: the error is a *QueryError of this type.
		wantQueryError string
	}{
		{
			name:   "vector",
			status: 200,
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"le":"0.5"},"value":[1435781451.781,"12.5"]},{"metric":{},"value":[1435781451.781,"NaN"]},{"metric":{"le":"+Inf"},"value":[1,"+Inf"]}]}}`,
			want:   []sample{{metric: map[string]string{"le": "0.5"}, value: 12.5}, {metric: map[string]string{}, value: math.NaN()}, {metric: map[string]string{"le": "+Inf"}, value: math.Inf(1)}},
		},
		{
			name:   "empty vector",
			status: 200,
			body:   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
			want:   []sample{},
		},
		{
			name:   "scalar",
			status: 200,
			body:   `{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"3"]}}`,
			want:   []sample{{value: 3}},
		},
		{
			name:    "matrix",
			status:  200,
			body:    `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
			wantErr: `a "matrix" result, want an instant vector`,
		},
		{
			name:    "native histogram",
			status:  200,
			body:    `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"2"}]}]}}`,
			wantErr: "native histogram",
		},
		{
			name:    "bad value",
			status:  200,
			body:    `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"many"]}]}}`,
			wantErr: `sample value "many"`,
		},
		{
			name:           "api error",
			status:         400,
			body:           `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}`,
			wantErr:        "prometheus answered 400 bad_data: 1:5: parse error: unclosed left parenthesis (query up)",
			wantQueryError: "bad_data",
		},
		{
			name:           "not the api",
			status:         502,
			body:           "<html>Bad Gateway</html>",
			wantErr:        `prometheus answered 502 unexpected answer: "<html>Bad Gateway</html>"`,
			wantQueryError: "",
		},
		{
			name:           "success with an error status",
			status:         500,
			body:           `{"status":"success","data":{"resultType":"vector","result":[]}}`,
			wantErr:        "prometheus answered 500",
			wantQueryError: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseResponse("up", tt.status, []byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseResponse() error = %v", err)
				}
				if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(sample{}), cmp.Comparer(sameFloat)); diff != "" {
					t.Errorf("parseResponse() mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseResponse() error = %v, want it to say %q", err, tt.wantErr)
			}
			var qe *QueryError
			if isQE := errors.As(err, &qe); isQE != (tt.status != http.StatusOK) || isQE && qe.Type != tt.wantQueryError {
				t.Errorf("parseResponse() error = %#v, want a *QueryError of type %q: %t", err, tt.wantQueryError, tt.status != http.StatusOK)
			}
		})
	}
}

// sameFloat compares floats with NaN equal to NaN.
func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// FuzzParseResponse checks that any answer decodes or fails cleanly.
func FuzzParseResponse(f *testing.F) {
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"le":"0.5"},"value":[1,"2"]}]}}`))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}`))
	f.Add(400, []byte(`{"status":"error","errorType":"bad_data","error":"x"}`))
	f.Add(502, []byte(`<html>`))
	f.Add(200, []byte(`{"status":"success","data":{"resultType":"vector","result":[{"value":[1]}]}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		samples, err := parseResponse("up", status, body)
		if err != nil && samples != nil {
			t.Fatalf("parseResponse() = %v, %v: samples with an error", samples, err)
		}
	})
}

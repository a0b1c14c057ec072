package promtest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Query is one PromQL query of a Grafana dashboard: a panel target's
// expression, or a query variable's label_values metric.
type Query struct {
	// Where names it in messages: the panel's title and the target's
	// refId, or the variable.
	Where string
	// Expr is the expression as the dashboard holds it, Grafana's
	// variables in it.
	Expr string
}

// Dashboard is the part of a Grafana dashboard's JSON model that the
// tests read.
type Dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is a dashboard's template variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": "…"}
	Datasource *Datasource     `json:"datasource"`
	AllValue   string          `json:"allValue"`
}

// Datasource is a panel's, a target's or a variable's data source.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is a dashboard panel, or a row holding panels.
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *Datasource `json:"datasource"`
	} `json:"targets"`
	Panels []Panel `json:"panels"` // a collapsed row's
}

// ParseDashboard reads a dashboard's JSON model; unknown fields are
// allowed, as Grafana's model has many.
func ParseDashboard(data []byte) (*Dashboard, error) {
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return &d, nil
}

// AllPanels returns the dashboard's panels, those of collapsed rows
// included, rows excluded.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// labelValues is a Prometheus query variable's label_values(METRIC, LABEL).
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// Queries returns every PromQL query of the dashboard: each panel
// target's expression, and the selector of each query variable's
// label_values. A query variable of another form is an error.
func (d *Dashboard) Queries() ([]Query, error) {
	var out []Query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return nil, fmt.Errorf("variable %s: query: %w", v.Name, err)
			}
			q = obj.Query
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			return nil, fmt.Errorf("variable %s: query %q is not label_values(METRIC, LABEL)", v.Name, q)
		}
		out = append(out, Query{Where: "variable " + v.Name, Expr: m[1]})
	}
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			out = append(out, Query{Where: fmt.Sprintf("panel %q, target %s", p.Title, t.RefID), Expr: t.Expr})
		}
	}
	return out, nil
}

// grafanaVariable is a reference to a dashboard variable: $name, ${name}
// or ${name:format}.
var grafanaVariable = regexp.MustCompile(`\$(?:\{([a-zA-Z0-9_]+)(?::[a-zA-Z]+)?\}|([a-zA-Z0-9_]+))`)

// builtins are Grafana's global variables a query may use, with the value
// a test gives them.
var builtins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1h",
}

// Instantiate replaces the Grafana variables of expr as Grafana does
// before it sends the query: the global ones by sample durations, each of
// the dashboard's query variables by its "All" value (its allValue, else
// ".+"). A variable that is neither is an error naming it.
func (d *Dashboard) Instantiate(expr string) (string, error) {
	all := map[string]string{}
	for _, v := range d.Templating.List {
		if v.Type == "query" || v.Type == "custom" {
			all[v.Name] = v.AllValue
			if all[v.Name] == "" {
				all[v.Name] = ".+"
			}
		}
	}
	var unknown []string
	out := grafanaVariable.ReplaceAllStringFunc(expr, func(ref string) string {
		m := grafanaVariable.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if v, ok := builtins[name]; ok {
			return v
		}
		if v, ok := all[name]; ok {
			return v
		}
		unknown = append(unknown, "$"+name)
		return ref
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("%s: no such variable", strings.Join(unknown, ", "))
	}
	return out, nil
}

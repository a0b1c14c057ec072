package deploy_test

import (
	"os"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/promtest"
)

// dashboardFile is the Grafana dashboard shipped beside the alerting
// rules. internal/cli/alerts_test.go checks its queries against a real
// promote serve and Prometheus.
const dashboardFile = "grafana/promote.json"

func readDashboard(t *testing.T) *promtest.Dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	d, err := promtest.ParseDashboard(data)
	if err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// The dashboard imports into a current Grafana as it is: its model's
// schema is a current one, it asks for a Prometheus data source through a
// variable that every panel and query use, and its panels have distinct
// IDs and do not overlap on the 24-column grid.
func TestGrafanaDashboardModel(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("%s: title %q, uid %q; want both", dashboardFile, d.Title, d.UID)
	}
	// Grafana 11 writes schemaVersion 39 and later; older models are
	// migrated on load, which rewrites the panels.
	if d.SchemaVersion < 39 {
		t.Errorf("%s: schemaVersion %d, want at least 39 (Grafana 11)", dashboardFile, d.SchemaVersion)
	}
	var source *promtest.Variable
	for i, v := range d.Templating.List {
		if v.Type == "datasource" {
			source = &d.Templating.List[i]
		}
	}
	if source == nil || string(source.Query) != `"prometheus"` {
		t.Fatalf("%s: no data source variable of type prometheus: %+v", dashboardFile, d.Templating.List)
	}
	uses := func(ds *promtest.Datasource) bool {
		return ds != nil && ds.Type == "prometheus" && ds.UID == "${"+source.Name+"}"
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" && !uses(v.Datasource) {
			t.Errorf("variable %s: data source %+v, want the variable ${%s}", v.Name, v.Datasource, source.Name)
		}
	}
	ids := map[int]string{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		if prev, ok := ids[p.ID]; ok || p.ID == 0 {
			t.Errorf("panel %q: id %d, already %q's (or 0)", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is not within the 24 columns", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Fatalf("panel %q overlaps %q at column %d, row %d", p.Title, other, x, y)
				}
				taken[cell{x, y}] = p.Title
			}
		}
	}
	panels := d.AllPanels()
	if len(panels) == 0 {
		t.Fatalf("%s has no panels", dashboardFile)
	}
	for _, p := range panels {
		if p.Title == "" || len(p.Targets) == 0 || !uses(p.Datasource) {
			t.Errorf("panel %d %q: %d targets, data source %+v; want a title, targets and the variable ${%s}", p.ID, p.Title, len(p.Targets), p.Datasource, source.Name)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] || tg.Expr == "" || !uses(tg.Datasource) {
				t.Errorf("panel %q: target %q: want a distinct refId, an expression and the variable ${%s}", p.Title, tg.RefID, source.Name)
			}
			refs[tg.RefID] = true
		}
	}
}

// Every query reads Promote's metrics, with no variable the dashboard
// does not define; internal/cli/alerts_test.go checks that a real
// promote serve exports them and that Prometheus takes each query.
func TestGrafanaDashboardQueries(t *testing.T) {
	d := readDashboard(t)
	qs, err := d.Queries()
	if err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	for _, q := range qs {
		expr, err := d.Instantiate(q.Expr)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		names, err := promtest.MetricNames(expr)
		if err != nil || len(names) == 0 {
			t.Errorf("%s: %s reads no metric (%v)", q.Where, q.Expr, err)
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "promote_") {
				t.Errorf("%s: reads %s, not one of Promote's metrics", q.Where, n)
			}
		}
	}
}

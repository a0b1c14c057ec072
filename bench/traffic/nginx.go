package traffic

import (
	"bytes"
	_ "embed"
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/template"
)

//go:embed nginx.conf.tmpl
var nginxTemplate string

var nginxConf = template.Must(template.New("nginx.conf").Parse(nginxTemplate))

// NginxConfig is the configuration of the nginx that the benchmark compares
// the splitter with: a proxy splitting requests between two upstreams with
// split_clients, as the splitter does, with keep-alive to both.
type NginxConfig struct {
	// Dir is where nginx writes its pid file, error log and temporary
	// files: an absolute path.
	Dir string
	// Listen is the address nginx listens on (host:port).
	Listen string
	// Stable and Canary are the backends' addresses (host:port).
	Stable, Canary string
	// CanaryPercent is the canary's share of requests, in percent.
	CanaryPercent float64
	// Workers is nginx's worker_processes: the machine's cores.
	Workers int
	// Keepalive is how many idle connections to each upstream a worker
	// keeps (the splitter keeps up to 256).
	Keepalive int
}

// Render returns the configuration file's text, or an error naming every
// field that is wrong.
func (c NginxConfig) Render() ([]byte, error) {
	var problems []string
	if !strings.HasPrefix(c.Dir, "/") {
		problems = append(problems, fmt.Sprintf("directory %q is not an absolute path", c.Dir))
	}
	if strings.ContainsAny(c.Dir, " \t\n;{}\"'$") {
		problems = append(problems, fmt.Sprintf("directory %q has characters nginx's configuration would need quoted", c.Dir))
	}
	for _, a := range []struct{ name, addr string }{{"listen", c.Listen}, {"stable", c.Stable}, {"canary", c.Canary}} {
		if host, port, err := net.SplitHostPort(a.addr); err != nil || host == "" || !isPort(port) {
			problems = append(problems, fmt.Sprintf("%s address %q: want host:port", a.name, a.addr))
		}
	}
	if c.CanaryPercent <= 0 || c.CanaryPercent >= 100 {
		problems = append(problems, fmt.Sprintf("canary percent %g: want more than 0 and less than 100", c.CanaryPercent))
	}
	if c.Workers < 1 {
		problems = append(problems, fmt.Sprintf("workers %d: want at least 1", c.Workers))
	}
	if c.Keepalive < 1 {
		problems = append(problems, fmt.Sprintf("keepalive %d: want at least 1", c.Keepalive))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("nginx configuration: %s", strings.Join(problems, "; "))
	}
	var buf bytes.Buffer
	err := nginxConf.Execute(&buf, struct {
		NginxConfig
		CanaryPercent                string
		StableVersion, CanaryVersion string
	}{c, strconv.FormatFloat(c.CanaryPercent, 'f', -1, 64), StableVersion, CanaryVersion})
	if err != nil {
		return nil, fmt.Errorf("render the nginx configuration: %w", err)
	}
	return buf.Bytes(), nil
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 1<<16
}

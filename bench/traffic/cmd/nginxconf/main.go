// Command nginxconf writes the configuration of the nginx that the router
// benchmark (bench/traffic/run.sh) compares the splitter with: a proxy
// splitting requests between two backends with split_clients (see
// traffic.NginxConfig).
//
//	nginxconf -dir /tmp/x -listen 127.0.0.1:8080 -stable 127.0.0.1:41234 -canary 127.0.0.1:41235 > /tmp/x/nginx.conf
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/promote-ml/promote/bench/traffic"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nginxconf:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var c traffic.NginxConfig
	fs := flag.NewFlagSet("nginxconf", flag.ContinueOnError)
	fs.StringVar(&c.Dir, "dir", "", "absolute `path` of the directory nginx writes its pid file, log and temporary files in")
	fs.StringVar(&c.Listen, "listen", "", "`host:port` nginx listens on")
	fs.StringVar(&c.Stable, "stable", "", "`host:port` of the stable backend")
	fs.StringVar(&c.Canary, "canary", "", "`host:port` of the canary backend")
	fs.Float64Var(&c.CanaryPercent, "canary-percent", 10, "the canary's share of requests, in percent")
	fs.IntVar(&c.Workers, "workers", runtime.NumCPU(), "worker processes (default: the cores)")
	fs.IntVar(&c.Keepalive, "keepalive", 256, "idle connections to each backend a worker keeps")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conf, err := c.Render()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(conf)
	return err
}

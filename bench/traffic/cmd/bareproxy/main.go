// Command bareproxy is the router benchmark's measuring stick
// (bench/traffic/floor.sh): traffic.Bare, a proxy without net/http's
// server, transport or ReverseProxy, sending every -every-th request to
// the canary. It is not a router; see traffic.Bare. It prints the address
// it listens on, then serves until interrupted.
//
//	bareproxy -addr 127.0.0.1:0 -stable 127.0.0.1:41234 -canary 127.0.0.1:41235 [-every 10] [-parse]
//	listening on http://127.0.0.1:41236
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/promote-ml/promote/bench/traffic"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bareproxy:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bareproxy", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	stable := fs.String("stable", "", "the stable backend's host:port")
	canary := fs.String("canary", "", "the canary backend's host:port")
	every := fs.Uint64("every", 10, "send every n-th request to the canary (10: 10%)")
	parse := fs.Bool("parse", false, "read requests and answers with net/http's parsers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stable == "" || *canary == "" {
		return errors.New("-stable and -canary are required (host:port)")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	b := &traffic.Bare{Stable: *stable, Canary: *canary, Every: *every, Parse: *parse}
	return b.Serve(ln)
}

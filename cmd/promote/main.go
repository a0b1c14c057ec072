// Command promote moves ML model versions through environments with
// policy-as-code gates, approvals, GitOps commits and progressive delivery.
package main

import (
	"os"

	"github.com/promote-ml/promote/internal/cli"
)

func main() {
	cli.TuneGC()
	ctx, stop := cli.SignalContext(os.Args[1:])
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

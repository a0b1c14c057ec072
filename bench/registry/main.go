package registry

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

// Main runs a seeding command's run with the process's arguments until it
// returns or Ctrl-C, and exits 1 with its error, prefixed by name.
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Package nettest gives tests loopback addresses for the servers they
// start by address: a child process, or a server told its address by flag.
package nettest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
)

// The ports FreeAddr draws from: below the ephemeral ranges that outgoing
// connections take their local ports from (Linux 32768–60999, BSDs, macOS
// and Windows 49152–65535).
const (
	lowPort  = 20000
	highPort = 32000
)

// FreeAddr returns a loopback address that was free a moment ago. Its port
// is below the kernel's ephemeral range: a port from 127.0.0.1:0 comes from
// that range, and a client's connection can take it between the check and
// the server's bind ("address already in use"); a port below it can be
// taken only by another listener, and FreeAddr draws at random.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	for range 100 {
		port := lowPort + rand.IntN(highPort-lowPort)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	tb.Fatalf("no free loopback port in %d-%d after 100 tries", lowPort, highPort-1)
	return ""
}

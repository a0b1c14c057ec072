// Command timeit times whole-process runs of two commands, alternating
// between them so that both see the same machine, and prints the median and
// 90th percentile of each one's wall time and the ratio of the first to the
// second. bench/gate/run.sh uses it to compare `promote gate` with conftest.
//
//	timeit -n 200 -a 'promote gate --policy p.yaml ...' -b 'conftest test ...'
//
// A command is split on white space (no shell, so no quoting): it is run
// directly, its output discarded. A run whose exit code is not the expected
// one stops the measurement, so that a broken command is never timed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/promote-ml/promote/bench/internal/durations"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "timeit:", err)
		os.Exit(1)
	}
}

// command is one of the two commands being compared, with its timings.
type command struct {
	name string
	args []string
	exit int
	wall []time.Duration
	cpu  []time.Duration // user + system time of the process
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("timeit", flag.ContinueOnError)
	n := fs.Int("n", 200, "timed runs of each command")
	warmup := fs.Int("warmup", 10, "untimed runs of each command first (page cache, CPU frequency)")
	a := fs.String("a", "", "first command")
	b := fs.String("b", "", "second command")
	aName := fs.String("a-name", "", "name of the first command (default: its program's base name)")
	bName := fs.String("b-name", "", "name of the second command")
	aExit := fs.Int("a-exit", 0, "exit code the first command must return")
	bExit := fs.Int("b-exit", 0, "exit code the second command must return")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-n %d: want at least one run", *n)
	}
	cmds := make([]*command, 0, 2)
	for _, c := range []struct {
		flag, line, name string
		exit             int
	}{{"-a", *a, *aName, *aExit}, {"-b", *b, *bName, *bExit}} {
		fields := strings.Fields(c.line)
		if len(fields) == 0 {
			return fmt.Errorf("%s: a command is needed", c.flag)
		}
		name := c.name
		if name == "" {
			name = fields[0][strings.LastIndex(fields[0], "/")+1:]
		}
		cmds = append(cmds, &command{name: name, args: fields, exit: c.exit})
	}
	for i := range *warmup {
		for _, c := range order(cmds, i) {
			if _, _, err := c.once(); err != nil {
				return err
			}
		}
	}
	for i := range *n {
		for _, c := range order(cmds, i) {
			wall, cpu, err := c.once()
			if err != nil {
				return err
			}
			c.wall = append(c.wall, wall)
			c.cpu = append(c.cpu, cpu)
		}
	}
	fmt.Fprintf(out, "%-10s %6s %10s %10s %10s %12s\n", "command", "runs", "median", "p90", "min", "cpu median")
	for _, c := range cmds {
		fmt.Fprintf(out, "%-10s %6d %10s %10s %10s %12s\n", c.name, len(c.wall),
			durations.Ms(durations.Median(c.wall)), durations.Ms(durations.Percentile(c.wall, 90)), durations.Ms(slices.Min(c.wall)), durations.Ms(durations.Median(c.cpu)))
	}
	x, y := cmds[0], cmds[1]
	fmt.Fprintf(out, "ratio %s/%s: median %.3f, p90 %.3f\n", x.name, y.name,
		float64(durations.Median(x.wall))/float64(durations.Median(y.wall)),
		float64(durations.Percentile(x.wall, 90))/float64(durations.Percentile(y.wall, 90)))
	return nil
}

// order alternates which command goes first, so that neither always runs
// right after the other.
func order(cmds []*command, i int) []*command {
	if i%2 == 0 {
		return cmds
	}
	return []*command{cmds[1], cmds[0]}
}

// once runs c and returns its wall time, measured on the monotonic clock
// from just before the process starts to just after it is reaped, and the
// CPU time it used.
func (c *command) once() (time.Duration, time.Duration, error) {
	cmd := exec.Command(c.args[0], c.args[1:]...) // stdout and stderr go to the null device
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return 0, 0, fmt.Errorf("%s: %w", c.name, err)
		}
		code = ee.ExitCode()
	}
	if code != c.exit {
		return 0, 0, fmt.Errorf("%s exited %d, want %d: %s", c.name, code, c.exit, strings.Join(c.args, " "))
	}
	st := cmd.ProcessState
	return wall, st.UserTime() + st.SystemTime(), nil
}

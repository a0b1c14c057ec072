// Command timeseq times repeated runs of a sequence of commands, run one
// after the other, and prints the median, 90th percentile and minimum wall
// time of each command and of the whole sequence. bench/gitops/run.sh uses
// it to time three `kustomize build` runs, one per overlay: what the CLI
// takes to do what overlay.RenderAll does in process.
//
//	timeseq -n 30 -c 'kustomize build deploy/overlays/dev' -c 'kustomize build deploy/overlays/staging' ...
//
// As in bench/gate/cmd/timeit, a command is split on white space (no shell,
// so no quoting) and run directly, its output discarded. A run that does not
// exit 0 stops the measurement, so that a broken command is never timed.
// The last line of the output is machine-readable:
//
//	RESULT runs=30 median_ms=... p90_ms=... min_ms=... cpu_median_ms=...
//
// With -raw FILE it also appends each timed sequence's wall time to FILE, so
// that a script can pool the runs of several calls.
package main

import (
	"bytes"
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
		fmt.Fprintln(os.Stderr, "timeseq:", err)
		os.Exit(1)
	}
}

// commands is the repeatable -c flag.
type commands [][]string

func (c *commands) String() string { return fmt.Sprint(*c) }

func (c *commands) Set(s string) error {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return errors.New("empty command")
	}
	*c = append(*c, fields)
	return nil
}

// timings are the wall and CPU (user + system) times of the runs of one
// command, or of the whole sequence.
type timings struct {
	wall, cpu []time.Duration
}

func (t *timings) add(wall, cpu time.Duration) {
	t.wall = append(t.wall, wall)
	t.cpu = append(t.cpu, cpu)
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("timeseq", flag.ContinueOnError)
	n := fs.Int("n", 30, "timed runs of the sequence")
	warmup := fs.Int("warmup", 3, "untimed runs of the sequence first (page cache, CPU frequency)")
	raw := fs.String("raw", "", "append each timed sequence's wall time, in milliseconds, to this file, one a line")
	var cmds commands
	fs.Var(&cmds, "c", "a command of the sequence (repeat for each, in order)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-n %d: want at least one run", *n)
	}
	if len(cmds) == 0 {
		return errors.New("-c: at least one command is needed")
	}
	each := make([]timings, len(cmds))
	var seq timings
	for i := range *warmup + *n {
		var seqWall, seqCPU time.Duration
		for j, c := range cmds {
			wall, cpu, err := once(c)
			if err != nil {
				return err
			}
			seqWall += wall
			seqCPU += cpu
			if i >= *warmup {
				each[j].add(wall, cpu)
			}
		}
		if i >= *warmup {
			seq.add(seqWall, seqCPU)
		}
	}
	fmt.Fprintf(out, "%-60s %5s %10s %10s %10s %12s\n", "command", "runs", "median", "p90", "min", "cpu median")
	row := func(name string, t timings) {
		fmt.Fprintf(out, "%-60s %5d %10s %10s %10s %12s\n", name, len(t.wall),
			durations.Ms(durations.Median(t.wall)), durations.Ms(durations.Percentile(t.wall, 90)), durations.Ms(slices.Min(t.wall)), durations.Ms(durations.Median(t.cpu)))
	}
	for j, c := range cmds {
		row(abbrev(strings.Join(c, " "), 60), each[j])
	}
	row(fmt.Sprintf("sequence of %d", len(cmds)), seq)
	if *raw != "" {
		if err := appendRaw(*raw, seq.wall); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "RESULT runs=%d median_ms=%.3f p90_ms=%.3f min_ms=%.3f cpu_median_ms=%.3f\n", len(seq.wall),
		durations.Millis(durations.Median(seq.wall)), durations.Millis(durations.Percentile(seq.wall, 90)), durations.Millis(slices.Min(seq.wall)), durations.Millis(durations.Median(seq.cpu)))
	return nil
}

// once runs a command and returns its wall time, from just before the
// process starts to just after it is reaped, and its CPU time.
func once(args []string) (wall, cpu time.Duration, err error) {
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// appendRaw appends the wall times to the file name, in milliseconds, one
// a line, so that several runs of timeseq can be pooled.
func appendRaw(name string, wall []time.Duration) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, d := range wall {
		fmt.Fprintf(&b, "%.3f\n", durations.Millis(d))
	}
	_, err = f.Write(b.Bytes())
	return errors.Join(err, f.Close())
}

// abbrev keeps the end of s, which names the overlay, when s is too long.
func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-(n-3):]
}

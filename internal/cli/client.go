package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/promote-ml/promote/internal/httpapi"
)

// clientFlags are the flags of every command that talks to a server.
type clientFlags struct {
	server string
	token  string
	output string
}

// addClientFlags adds --server, --token and --output to cmd, defaulting
// from PROMOTE_SERVER and PROMOTE_TOKEN. The token is read from the
// environment only when the client is made (client), not as the flag's
// default: help prints defaults, and a token would be shown there.
func addClientFlags(cmd *cobra.Command) *clientFlags {
	f := &clientFlags{server: "http://127.0.0.1:8080", output: "table"}
	if v := getenv("PROMOTE_SERVER"); v != "" {
		f.server = v
	}
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.server, "server", f.server, "Promote server `URL` ($PROMOTE_SERVER)")
	fl.StringVar(&f.token, "token", "", "API token ($PROMOTE_TOKEN)")
	fl.StringVarP(&f.output, "output", "o", f.output, "output format: table or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return f
}

// client checks the flags and returns an API client.
func (f *clientFlags) client() (*httpapi.Client, error) {
	if f.output != "table" && f.output != "json" {
		return nil, usageErrorf("--output %q: want table or json", f.output)
	}
	if f.token == "" {
		f.token = getenv("PROMOTE_TOKEN")
	}
	if f.token == "" {
		return nil, usageErrorf("no token: pass --token or set PROMOTE_TOKEN (an admin makes one with 'promote token create')")
	}
	return httpapi.NewClient(f.server, f.token, nil), nil
}

// addLimitFlag adds --limit, the page size of a listing, to cmd.
func addLimitFlag(cmd *cobra.Command, n *int) {
	cmd.Flags().IntVar(n, "limit", 0, fmt.Sprintf("at most this many, from 1 to %d (default 100)", httpapi.MaxLimit))
}

// checkLimit refuses a --limit the server would not take. The client
// leaves out a limit below 1, so that --limit -5 listed the default 100
// as if it had been asked for.
func checkLimit(cmd *cobra.Command, n int) error {
	if cmd.Flags().Changed("limit") && (n < 1 || n > httpapi.MaxLimit) {
		return usageErrorf("--limit %d: want a number from 1 to %d", n, httpapi.MaxLimit)
	}
	return nil
}

// addPageFlags adds --before, --after and --limit, the cursors and page
// size of a listing paged by sequence number, to cmd: items names what it
// lists ("versions"), key the column that shows each one's cursor ("SEQ").
func addPageFlags(cmd *cobra.Command, items, key string, before, after *int64, limit *int) {
	fl := cmd.Flags()
	fl.Int64Var(before, "before", 0, fmt.Sprintf("only %s before this `%s` (paging back)", items, key))
	fl.Int64Var(after, "after", 0, fmt.Sprintf("only %s after this `%s`; with --limit, the ones just after it (paging forward)", items, key))
	addLimitFlag(cmd, limit)
}

// cursorWords names, for errors, what a listing's cursor is, by the key
// addPageFlags was given: most listings page by sequence number, the
// holds by a hold's ID.
var cursorWords = map[string]string{"SEQ": "a sequence number", "ID": "a hold's ID"}

// checkPage refuses the --limit, --before and --after of a paged listing
// (addPageFlags') that the server would not take. As for --limit, the
// client leaves out a cursor below 1: --before -1 listed the newest. The
// error names the cursor as the listing shows it (the key in the flags'
// help: SEQ or ID). In the order of the help, so that the same one is
// named each time when several are wrong.
func checkPage(cmd *cobra.Command, limit int, before, after int64) error {
	if err := checkLimit(cmd, limit); err != nil {
		return err
	}
	for _, b := range []struct {
		flag   string
		cursor int64
	}{{"before", before}, {"after", after}} {
		if b.cursor < 0 {
			key, _ := pflag.UnquoteUsage(cmd.Flags().Lookup(b.flag))
			words, ok := cursorWords[key]
			if !ok {
				words = "a " + key
			}
			return usageErrorf("--%s %d: want %s, a whole number from 1 (see %s)", b.flag, b.cursor, words, cmd.CommandPath())
		}
	}
	return nil
}

// clientError maps a client error to an exit code: an unreachable server
// is a failure (1), domain errors as serviceError says.
func clientError(err error) error {
	var ue *httpapi.UnreachableError
	if errors.As(err, &ue) {
		return &exitError{code: ExitBlocked, err: err}
	}
	return serviceError(err)
}

// render writes v as JSON, or calls write to write it for people.
func (f *clientFlags) render(w io.Writer, v any, write func(tw *table)) error {
	if f.output == "json" {
		return writeJSON(w, v)
	}
	tw := newTable(w)
	write(tw)
	return tw.Flush()
}

// writeJSON writes v as indented JSON, for scripts, with <, > and &
// as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// row writes tab-separated cells, "-" for empty ones, each with its
// control characters shown as escapes (cellText).
func row(tw io.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		} else {
			cells[i] = cellText(c)
		}
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	// In UTC and saying so, as the audit events' times, promote audit show
	// and the web UI are: a table without a zone read on two machines gave
	// two times for one event.
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}

package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/promote"
)

func newAuditCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read, verify and export the hash-chained audit log"}
	f := addClientFlags(cmd)
	var filter promote.AuditFilter
	var since, until, tokenID string
	var all bool
	list := &cobra.Command{
		Use: "list", Short: "List audit events, newest first", Args: cobra.NoArgs,
		Long: `List the audit events that match the filters, newest first: at most --limit of them
(100 by default), or with --all every one, read from the server a page at a time and
written as each page arrives. With --all, -o json writes JSON Lines (one event's JSON
object per line) rather than one array, so that a long listing never has to be held whole.`,
		Example: `  promote audit list --model credit-risk --env prod --since 2026-11-01 --until 2026-12-01
  promote audit list --action promotion.approval --since 24h
  promote audit list --all --token-id tok_3f9c2a71d04b8e65
  promote audit list --all --env prod --since 2026-11-01 --until 2026-12-01 -o json > november.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && cmd.Flags().Changed("limit") {
				return usageErrorf("--all lists every matching event; it cannot be combined with --limit")
			}
			if err := checkPage(cmd, filter.Limit, filter.BeforeSeq, filter.AfterSeq); err != nil {
				return err
			}
			now := time.Now()
			var err error
			if filter.TokenID, err = audit.ParseTokenID(tokenID); err != nil {
				return usageError(fmt.Errorf("--token-id: %w", err))
			}
			if filter.Since, err = parseAuditTime("--since", since, now); err != nil {
				return usageError(err)
			}
			if filter.Until, err = parseAuditTime("--until", until, now); err != nil {
				return usageError(err)
			}
			if !filter.Since.IsZero() && !filter.Until.IsZero() && filter.Since.After(filter.Until) {
				return usageErrorf("--since %s (%s) is after --until %s (%s): no event can match", since,
					filter.Since.UTC().Format(time.RFC3339Nano), until, filter.Until.UTC().Format(time.RFC3339Nano))
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			if all {
				return listAllAudit(cmd.Context(), c, filter, f.output == "json", s)
			}
			evs, err := c.AuditEvents(cmd.Context(), filter)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, evs, func(tw *table) {
				auditHeader(tw)
				for _, e := range evs {
					auditRow(tw, e)
				}
			})
		},
	}
	fl := list.Flags()
	fl.StringVar(&filter.Model, "model", "", "only this model")
	fl.StringVar(&filter.Version, "version", "", "only events of this version of --model (a version is named within its model)")
	fl.StringVar(&filter.Environment, "env", "", "only this environment")
	fl.StringVar(&filter.PromotionID, "promotion", "", "only this promotion")
	fl.StringVar(&filter.Action, "action", "", "only this action (e.g. promotion.state)")
	fl.StringVar(&filter.Actor, "actor", "", "only events by this actor (a token's name, or gitops, rollout, auto-promote)")
	// Not --token, which is the API token the command authenticates with.
	fl.StringVar(&tokenID, "token-id", "", "only events made with the API token of this `ID` (tok_…, as promote token list shows it; never the secret)")
	fl.StringVar(&since, "since", "", "only events at or after this `TIME`: RFC 3339 (2026-11-01T09:00:00Z), a date (2026-11-01, midnight UTC), a time in UTC (2026-11-01T09:30) or a duration back from now (24h, 7d)")
	fl.StringVar(&until, "until", "", "only events before this `TIME` (exclusive), written as for --since")
	addPageFlags(list, "events", "SEQ", &filter.BeforeSeq, &filter.AfterSeq, &filter.Limit)
	_ = list.RegisterFlagCompletionFunc("model", f.completeFlag(modelNames))
	_ = list.RegisterFlagCompletionFunc("version", f.completeFlag(versionsOf(modelFlag)))
	_ = list.RegisterFlagCompletionFunc("env", f.completeFlag(environmentNames))
	_ = list.RegisterFlagCompletionFunc("promotion", f.completeFlag(promotionIDs(true)))
	_ = list.RegisterFlagCompletionFunc("action", fixedValues(promote.AuditActions))
	_ = list.RegisterFlagCompletionFunc("token-id", f.completeFlag(tokenIDs(true)))
	fl.BoolVar(&all, "all", false, "every matching event, newest first, read a page at a time (not with --limit); with -o json, as JSON Lines: one object per line")

	cfg := defaultServerConfig()
	cfg.env(getenv)
	var exportFile string
	var local bool
	var headArgs []string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the hash chain and name the first broken link (exit 1 if broken)",
		Long: `Recompute every event's hash in sequence order and name the first link that does not
hold: an event modified, deleted, reordered or inserted, or a log that no longer reaches
the head its store records (truncated, rewritten). By default the server verifies
its store; --export FILE verifies an export offline; --local verifies the store named by
--data or --database directly, reading it only: it needs no more than read access to the
SQLite files (not to their directory) or a PostgreSQL role that may SELECT, and creates,
locks and migrates nothing, so a copy on a read-only mount verifies as it is. A store at
other migrations than this promote's is refused (exit 2), naming both. Keep the head it
prints (seq N, hash H) where the database's administrators cannot edit it, and give it
to a later verification as --head N:H: a log truncated or rewritten up to N then fails,
even when its own head was moved to match.`,
		Example: `  promote audit verify
  promote audit export > audit.jsonl && promote audit verify --export audit.jsonl
  promote audit verify --local --data ./promote-data
  promote audit verify --head 68:31c65e366596a85dd17f25fc0635e05b9ddce4a9d725e270f4fec521e0a26410`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var kept []audit.Head
			for _, a := range headArgs {
				h, err := audit.ParseHead(a)
				if err != nil {
					return usageError(fmt.Errorf("--head: %w", err))
				}
				kept = append(kept, h)
			}
			var res audit.Result
			var err error
			switch {
			case exportFile != "":
				file, ferr := os.Open(exportFile)
				if ferr != nil {
					return usageError(fmt.Errorf("export: %w", pathError(ferr)))
				}
				res, err = audit.VerifyExport(file, kept...)
				file.Close()
				if err != nil {
					return usageError(fmt.Errorf("export %s: %w", exportFile, err))
				}
			case local:
				if err := cfg.validate(); err != nil {
					return usageError(err)
				}
				store, err := openAuditStore(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				defer store.Close()
				if res, err = audit.Verify(cmd.Context(), store, kept...); err != nil {
					return err
				}
			default:
				c, err := f.client()
				if err != nil {
					return err
				}
				if res, err = c.VerifyAudit(cmd.Context()); err != nil {
					return clientError(err)
				}
				// The server verified its chain; each kept head is
				// checked against the event it lists for that number.
				for _, h := range kept {
					evs, err := c.AuditEvents(cmd.Context(), promote.AuditFilter{BeforeSeq: h.Seq + 1, Limit: 1})
					if err != nil {
						return clientError(err)
					}
					found := len(evs) == 1 && evs[0].Seq == h.Seq
					hash := ""
					if found {
						hash = evs[0].Hash
					}
					res = audit.CheckHead(res, h, hash, found, audit.KeptHead)
				}
			}
			if err := f.render(s.out, res, func(tw *table) { verifyText(tw, res) }); err != nil {
				return err
			}
			if !res.OK {
				return &exitError{code: ExitBlocked, silent: true}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&exportFile, "export", "", "verify this export `FILE` (JSON Lines) offline")
	verify.Flags().BoolVar(&local, "local", false, "verify the store directly (--data or --database), reading it only: no write access needed")
	verify.Flags().StringArrayVar(&headArgs, "head", nil, "a head kept from an earlier verification, `SEQ:HASH`: the log must still hold event SEQ with hash HASH (repeatable)")
	verify.Flags().StringVar(&cfg.Data, "data", cfg.Data, "data `DIR` of the SQLite store, with --local ($PROMOTE_DATA)")
	verify.Flags().StringVar(&cfg.Database, "database", cfg.Database, "PostgreSQL `DSN`, with --local ($PROMOTE_DATABASE)")
	verify.MarkFlagsMutuallyExclusive("export", "local")

	var (
		out   string
		after int64
	)
	export := &cobra.Command{
		Use: "export", Short: "Export the audit log as JSON Lines that verify offline", Args: cobra.NoArgs,
		Long: `Export the audit log as JSON Lines, one event a line in sequence order, with each
event's exact hashed body, previous hash and hash: a file that verifies offline with
'promote audit verify --export FILE' or docs/tools/verify_audit.py, SHA-256 alone.

With --after SEQ, the export holds the events after SEQ, to the newest: a quarter's
export, say, from the head kept at the end of the last one. It verifies from that
head: 'promote audit verify --export FILE --head SEQ:HASH'.`,
		Example: `  promote audit export -f audit.jsonl
  promote audit export --after 1200 -f 2026-q4.jsonl
  promote audit verify --export 2026-q4.jsonl --head 1200:31c65e366596a85dd17f25fc0635e05b9ddce4a9d725e270f4fec521e0a26410`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if after < 0 {
				return usageError(fmt.Errorf("--after %d: want a sequence number, 0 or more", after))
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				if _, err := c.ExportAudit(cmd.Context(), s.out, after); err != nil {
					return clientError(err)
				}
				return nil
			}
			// The export goes to a temporary file renamed into place once
			// complete: the events of an export cut short form a valid
			// chain, so a partial file would verify as the whole log.
			file, err := createBeside(out)
			if err != nil {
				// Named by the file asked for, not the temporary one.
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return usageError(fmt.Errorf("export file: %s: %w", out, err))
			}
			defer os.Remove(file.Name())
			defer file.Close()
			n, err := c.ExportAudit(cmd.Context(), file, after)
			if err != nil {
				return clientError(err)
			}
			if err := file.Close(); err != nil {
				return fmt.Errorf("export file: %w", err)
			}
			if err := os.Rename(file.Name(), out); err != nil {
				return usageError(fmt.Errorf("export file: %w", pathError(err)))
			}
			fmt.Fprintf(s.err, "Exported %d events to %s\n", n, out)
			return nil
		},
	}
	export.Flags().StringVarP(&out, "file", "f", "", "write to `FILE` instead of standard output")
	export.Flags().Int64Var(&after, "after", 0, "only the events after sequence number `SEQ`, to the newest; verify it with --head SEQ:HASH, a head kept for that event")
	show := &cobra.Command{
		Use: "show SEQ", Short: "Show one audit event in full: its reasons, the evidence of a rollout, its hashes",
		Long: `Show the audit event with sequence number SEQ (promote audit list names them) with
everything it records: its reasons in full — a gate's results, a person's words, a
rollout's step, weight, reason and the analysis's verdict with each test's counts,
e-value, threshold and p-value — the approvers, the live version in every environment
after it, and the hashes that chain it.`,
		Example: `  promote audit list --promotion pr_266c9a49633cd11b
  promote audit show 25`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: f.completeArgs(auditSeqs),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || seq < 1 {
				return usageErrorf("SEQ %q: want an event's sequence number, a whole number from 1 (see promote audit list)", args[0])
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			// The newest event before SEQ+1 is SEQ's, if it exists. (After
			// SEQ-1 would not do for the first event: an after of 0 is no
			// bound, and the page is then the newest event.)
			evs, err := c.AuditEvents(cmd.Context(), promote.AuditFilter{BeforeSeq: seq + 1, Limit: 1})
			if err != nil {
				return clientError(err)
			}
			if len(evs) != 1 || evs[0].Seq != seq {
				return &exitError{code: ExitUsage, err: fmt.Errorf("audit event %d not found", seq)}
			}
			e := evs[0]
			return f.render(s.out, e, func(tw *table) { describeAuditEvent(tw, e) })
		},
	}
	cmd.AddCommand(list, show, verify, export, newAuditMetricsDigestCmd(s, f))
	return cmd
}

// auditAllPage is how many events promote audit list --all asks the
// server for at a time: the most a page may hold.
const auditAllPage = httpapi.MaxLimit

// listAllAudit writes every event that f matches, newest first, a page
// at a time as audit.ListAll reads them, each page before the next is
// read, so that no more than a page is held at once. As JSON, each event
// is one line (JSON Lines); as a table, the columns are aligned a page at
// a time.
func listAllAudit(ctx context.Context, c *httpapi.Client, f promote.AuditFilter, asJSON bool, s *streams) error {
	enc := json.NewEncoder(s.out)
	enc.SetEscapeHTML(false)
	tw := newTable(s.out)
	if !asJSON {
		auditHeader(tw)
	}
	progress := newAuditProgress(s.err)
	defer progress.done()
	var n int64
	var listErr error
	list := func(ctx context.Context, f promote.AuditFilter) ([]promote.AuditEvent, error) {
		evs, err := c.AuditEvents(ctx, f)
		listErr = err
		return evs, err
	}
	err := audit.ListAll(ctx, list, f, auditAllPage, func(evs []promote.AuditEvent) error {
		for _, e := range evs {
			if asJSON {
				if err := enc.Encode(e); err != nil {
					return err
				}
			} else {
				auditRow(tw, e)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		n += int64(len(evs))
		if len(evs) == auditAllPage {
			progress.show(n, evs[len(evs)-1].Seq)
		}
		return nil
	})
	switch {
	case err == nil && !asJSON:
		err = tw.Flush() // the header of an empty listing
	case err == nil:
	case err == listErr:
		return clientError(err)
	default:
		return fmt.Errorf("write the audit events: %w", err)
	}
	return err
}

// auditProgress says how far a long promote audit list --all has come,
// on standard error when it is a terminal: a line redrawn in place, or
// a plain line a page where the terminal cannot redraw. Elsewhere (a
// file, a pipe) it says nothing, as the listing itself is the output.
type auditProgress struct {
	w      io.Writer
	live   bool
	silent bool
	shown  bool
}

func newAuditProgress(w io.Writer) *auditProgress {
	return &auditProgress{w: w, live: redraws(w), silent: !isTerminal(w)}
}

func (p *auditProgress) show(events, seq int64) {
	if p.silent {
		return
	}
	if p.live {
		fmt.Fprintf(p.w, "\r\033[K%d events listed, down to #%d…", events, seq)
	} else {
		fmt.Fprintf(p.w, "%d events listed, down to #%d…\n", events, seq)
	}
	p.shown = true
}

// done clears the live line.
func (p *auditProgress) done() {
	if p.live && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func auditHeader(tw io.Writer) {
	row(tw, "SEQ", "TIME", "ACTOR", "ACTION", "MODEL", "VERSION", "ENV", "DECISION", "PROMOTION", "TOKEN")
}

func auditRow(tw io.Writer, e promote.AuditEvent) {
	row(tw, fmt.Sprint(e.Seq), when(e.Time), e.Actor, e.Action, e.Model, e.Version, e.Environment, e.Decision, e.PromotionID, e.TokenID)
}

// parseAuditTime reads the time of the audit list's flag name, as
// audit.ParseTimeBound does. Empty is no bound, the zero time.
func parseAuditTime(name, v string, now time.Time) (time.Time, error) {
	t, err := audit.ParseTimeBound(v, now)
	if err != nil {
		return t, fmt.Errorf("%s %q: %w", name, strings.TrimSpace(v), err)
	}
	return t, nil
}

// describeAuditEvent writes one audit event for people, its reasons as
// indented JSON.
func describeAuditEvent(tw *table, e promote.AuditEvent) {
	row(tw, "Seq", fmt.Sprint(e.Seq))
	row(tw, "Time", e.Time.UTC().Format(time.RFC3339Nano))
	row(tw, "Actor", e.Actor)
	row(tw, "Action", e.Action)
	for _, f := range [][2]string{{"Model", e.Model}, {"Version", e.Version}, {"Environment", e.Environment},
		{"Promotion", e.PromotionID}, {"Token ID", e.TokenID}, {"Digest", e.Digest}, {"Decision", e.Decision}} {
		if f[1] != "" {
			row(tw, f[0], f[1])
		}
	}
	if len(e.Approvers) > 0 {
		row(tw, "Approvers", strings.Join(e.Approvers, ", "))
	}
	if len(e.Live) > 0 {
		envs := slices.Sorted(maps.Keys(e.Live))
		live := make([]string, len(envs))
		for i, env := range envs {
			live[i] = env + "=" + e.Live[env]
		}
		row(tw, "Live after", strings.Join(live, " "))
	}
	if p := e.Policy; p != nil {
		row(tw, "Policy", p.File+" "+p.Digest)
	}
	if m := e.Metrics; m != nil {
		row(tw, "Candidate metrics", m.Candidate)
		if m.Baseline != "" {
			row(tw, "Baseline metrics", m.Baseline)
		}
	}
	if e.Note != "" {
		row(tw, "Note", e.Note)
	}
	row(tw, "Prev hash", e.PrevHash)
	row(tw, "Hash", e.Hash)
	tw.Flush()
	if len(e.Reasons) > 0 {
		var b bytes.Buffer
		if json.Indent(&b, e.Reasons, "  ", "  ") != nil {
			b.Reset()
			b.Write(e.Reasons)
		}
		fmt.Fprintf(tw, "Reasons:\n  %s\n", b.String())
	}
}

func verifyText(tw *table, res audit.Result) {
	if res.OK && res.After > 0 {
		fmt.Fprintf(tw, "OK: %d events, %d to %d, continuing the head you kept for event %d; the chain is intact\nhead: seq %d, hash %s\n",
			res.Events, res.After+1, res.HeadSeq, res.After, res.HeadSeq, res.HeadHash)
		return
	}
	if res.OK {
		fmt.Fprintf(tw, "OK: %d events, the chain is intact\nhead: seq %d, hash %s\n", res.Events, res.HeadSeq, res.HeadHash)
		return
	}
	fmt.Fprintf(tw, "BROKEN at event %d (%s): %s\n", res.Broken.Seq, res.Broken.Kind, res.Broken.Message)
	fmt.Fprintf(tw, "the chain holds up to event %d\n", res.HeadSeq)
}

// createBeside creates an empty temporary file in the directory of path,
// to be renamed to path once written: with the permissions the umask
// leaves of 0666, as a shell's redirection creates a file, or those of
// the file at path that it is to replace.
func createBeside(path string) (*os.File, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	var mode os.FileMode
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		mode = st.Mode().Perm()
	}
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		name := filepath.Join(dir, "."+base+"."+hex.EncodeToString(b[:])+".tmp")
		// O_EXCL: a name taken is tried again, never truncated.
		file, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if mode != 0 {
			if err := file.Chmod(mode); err != nil {
				file.Close()
				os.Remove(name)
				return nil, err
			}
		}
		return file, nil
	}
}

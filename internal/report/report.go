// Package report renders a gate's decision for people and machines: a text
// table, JSON, JUnit XML for CI test tabs, and GitHub Actions workflow
// annotations.
package report

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/textfit"
)

// Formats lists the output formats Write accepts.
var Formats = []string{"text", "json", "junit", "github"}

// Gate is a decision with the files it was made from.
type Gate struct {
	*policy.Decision
	PolicyFile    string `json:"policy_file"`
	CandidateFile string `json:"candidate_file"`
	BaselineFile  string `json:"baseline_file,omitempty"`
}

// Options says how Write renders a decision for a person.
type Options struct {
	// Width is the width in columns of the terminal the text is shown
	// in, which its table and lines fit (textfit); 0 for a file or a
	// pipe, where they are never wrapped, one row a line.
	Width int
}

// Write renders g in format (one of Formats).
func Write(w io.Writer, format string, g Gate, opt Options) error {
	switch format {
	case "text":
		return Text(w, g, opt)
	case "json":
		return JSON(w, g)
	case "junit":
		return JUnit(w, g)
	case "github":
		return GitHub(w, g)
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

// JSON writes g as one indented JSON object.
func JSON(w io.Writer, g Gate) error { return writeJSON(w, g) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Text writes a table (rule, candidate, baseline, actual, threshold,
// verdict), the reasons for every result that did not pass, and a one-line
// summary, fitted to opt.Width.
func Text(w io.Writer, g Gate, opt Options) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Policy %s", g.PolicyFile)
	if g.Policy != "" {
		fmt.Fprintf(&b, " (%s)", g.Policy)
	}
	if g.Environment != "" {
		fmt.Fprintf(&b, ", environment %s", g.Environment)
	}
	fmt.Fprintf(&b, "; candidate %s", g.CandidateFile)
	if g.BaselineFile != "" {
		fmt.Fprintf(&b, ", baseline %s", g.BaselineFile)
	} else {
		b.WriteString(", no baseline")
	}
	var out strings.Builder
	out.WriteString(opt.Fit("", b.String()))
	out.WriteString("\n")
	Results(&out, g.Decision, opt)
	out.WriteString("\n")
	out.WriteString(opt.Fit("", Summary(g.Decision)))
	_, err := io.WriteString(w, out.String())
	return err
}

// Fit returns the line prefix+s, ending in a newline: in a terminal,
// wrapped within its width, its later lines indented as far as prefix
// (textfit.Hanging); elsewhere, as it is.
func (opt Options) Fit(prefix, s string) string {
	if opt.Width == 0 {
		return prefix + s + "\n"
	}
	return textfit.Hanging(prefix, s, opt.Width)
}

// Results writes a decision's rules as a table (rule, candidate, baseline,
// actual, threshold, verdict), then the reason of every result that did
// not pass, each wrapped with a hanging indent, fitted to opt.Width.
func Results(w io.Writer, d *policy.Decision, opt Options) {
	tw := &textfit.Table{W: w, Width: opt.Width}
	fmt.Fprintln(tw, "RULE\tCANDIDATE\tBASELINE\tACTUAL\tTHRESHOLD\tVERDICT")
	var walk func(rs []policy.Result, indent string)
	walk = func(rs []policy.Result, indent string) {
		for _, r := range rs {
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\n", indent, r.Rule, num(r.Candidate), num(r.Baseline),
				actual(r), threshold(r), verdict(r.Status))
			walk(r.Children, indent+"  ")
		}
	}
	walk(d.Results, "")
	tw.Flush()
	var reasons []string
	var explain func(rs []policy.Result, indent string)
	explain = func(rs []policy.Result, indent string) {
		for _, r := range rs {
			if r.Status != policy.StatusPass {
				reasons = append(reasons, opt.Fit(indent+mark(r.Status)+" ", r.Rule+": "+r.Message))
				explain(r.Children, indent+"    ")
			}
		}
	}
	explain(d.Results, "  ")
	if len(reasons) > 0 {
		fmt.Fprintf(w, "\n%s", strings.Join(reasons, ""))
	}
}

// Summary is the one-line verdict: ALLOWED or BLOCKED with the counts.
func Summary(d *policy.Decision) string {
	word := "ALLOWED"
	if !d.Allowed {
		word = "BLOCKED"
	}
	s := d.Summary
	return fmt.Sprintf("%s: %d passed, %d failed, %d warnings, %d errors", word, s.Pass, s.Fail, s.Warn, s.Error)
}

func num(x *float64) string {
	if x == nil {
		return "-"
	}
	return policy.FormatValue(*x, false)
}

func actual(r policy.Result) string {
	switch v := r.Actual.(type) {
	case nil:
		return "-"
	case bool:
		return fmt.Sprint(v)
	case float64:
		return policy.FormatValue(v, r.Kind == policy.KindMetric && strings.HasSuffix(r.Threshold, "%"))
	}
	return fmt.Sprint(r.Actual)
}

func threshold(r policy.Result) string {
	switch r.Kind {
	case policy.KindRequire:
		return "required"
	case policy.KindExpr:
		return "expr"
	case policy.KindAny, policy.KindAll:
		return string(r.Kind) + " of"
	}
	return r.Threshold
}

func verdict(s policy.Status) string { return string(s) }

func mark(s policy.Status) string {
	switch s {
	case policy.StatusFail:
		return "FAIL"
	case policy.StatusError:
		return "ERROR"
	case policy.StatusWarn:
		return "WARN"
	}
	return "PASS"
}

// JUnit XML, in the shape CI systems read (Jenkins, GitLab, GitHub test
// reporters): one testsuite for the gate, one testcase per rule.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// JUnit writes g as JUnit XML. A failed rule is a failure, a rule that
// could not be judged an error, and a warning a passing case whose output
// says so.
func JUnit(w io.Writer, g Gate) error {
	name := "promote gate"
	class := "promote.gate"
	if g.Environment != "" {
		name += " " + g.Environment
		class += "." + g.Environment
	}
	suite := junitSuite{Name: name}
	for _, r := range g.Results {
		c := junitCase{Name: r.Rule, Classname: class, File: g.PolicyFile, Line: r.Line}
		body := detail(r)
		switch r.Status {
		case policy.StatusFail:
			c.Failure = &junitProblem{Message: r.Message, Type: string(r.Kind), Body: body}
			suite.Failures++
		case policy.StatusError:
			c.Error = &junitProblem{Message: r.Message, Type: string(r.Kind), Body: body}
			suite.Errors++
		case policy.StatusWarn:
			c.SystemOut = "warning: " + body
		default:
			c.SystemOut = body
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	return writeJUnit(w, name, suite)
}

// writeJUnit writes suites as one JUnit XML document named name, with
// their counts summed.
func writeJUnit(w io.Writer, name string, suites ...junitSuite) error {
	doc := junitSuites{Name: name, Suites: suites}
	for _, s := range suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// detail is a rule's message with the numbers behind it, one per line.
func detail(r policy.Result) string {
	var b strings.Builder
	b.WriteString(r.Message)
	if r.Candidate != nil {
		fmt.Fprintf(&b, "\ncandidate: %s", num(r.Candidate))
	}
	if r.Baseline != nil {
		fmt.Fprintf(&b, "\nbaseline: %s", num(r.Baseline))
	}
	if r.Threshold != "" {
		fmt.Fprintf(&b, "\nthreshold: %s", r.Threshold)
	}
	for _, c := range r.Children {
		fmt.Fprintf(&b, "\n- %s: %s: %s", c.Rule, c.Status, c.Message)
	}
	return b.String()
}

// GitHub writes workflow commands that GitHub Actions shows as annotations
// on the policy file: an error for each blocking rule, a warning for each
// warning, and a notice with the verdict. See "Workflow commands for GitHub
// Actions" in GitHub's documentation for the syntax and escaping.
func GitHub(w io.Writer, g Gate) error {
	var b strings.Builder
	for _, r := range g.Results {
		var level string
		switch r.Status {
		case policy.StatusFail, policy.StatusError:
			level = "error"
		case policy.StatusWarn:
			level = "warning"
		default:
			continue
		}
		fmt.Fprintf(&b, "::%s file=%s", level, ghProperty(g.PolicyFile))
		if r.Line > 0 {
			fmt.Fprintf(&b, ",line=%d", r.Line)
		}
		fmt.Fprintf(&b, ",title=%s::%s\n", ghProperty("promote gate: "+r.Rule), ghData(r.Message))
	}
	level := "notice"
	if !g.Allowed {
		level = "error"
	}
	fmt.Fprintf(&b, "::%s title=%s::%s\n", level, ghProperty("promote gate"), ghData(Summary(g.Decision)))
	_, err := io.WriteString(w, b.String())
	return err
}

func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// Markdown writes g as a Markdown table with the verdict, for a GitHub
// Actions job summary or a pull request comment.
func Markdown(w io.Writer, g Gate) error {
	var b strings.Builder
	icon := "✅"
	if !g.Allowed {
		icon = "❌"
	}
	fmt.Fprintf(&b, "### %s promote gate: %s\n\n", icon, Summary(g.Decision))
	fmt.Fprintf(&b, "Policy `%s`", g.PolicyFile)
	if g.Environment != "" {
		fmt.Fprintf(&b, ", environment `%s`", g.Environment)
	}
	b.WriteString("\n\n| Rule | Candidate | Baseline | Actual | Threshold | Verdict | Message |\n|---|---|---|---|---|---|---|\n")
	for _, r := range g.Results {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", mdCell(r.Rule), num(r.Candidate), num(r.Baseline),
			mdCell(actual(r)), mdCell(threshold(r)), r.Status, mdCell(r.Message))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// WriteError renders a failure to evaluate at all (a malformed policy or
// metrics file, a missing file) in format, so that machine readers get it
// in the format they parse: a JSON object with "allowed": false and the
// problems, GitHub error annotations on the offending lines, or a JUnit
// report with one errored case. Text writes nothing: the error goes to
// standard error.
func WriteError(w io.Writer, format string, err error) error {
	return WriteErrorFor(w, format, "promote gate", err)
}

// WriteErrorFor is WriteError for another command than the gate: command
// ("promote policy test") names the annotations' title and the JUnit
// report.
func WriteErrorFor(w io.Writer, format, command string, err error) error {
	var le *policy.LoadError
	var problems []policy.Problem
	if errors.As(err, &le) {
		problems = le.Problems
	} else {
		problems = []policy.Problem{{Msg: err.Error()}}
	}
	switch format {
	case "json":
		return writeJSON(w, struct {
			Allowed  bool             `json:"allowed"`
			Error    string           `json:"error"`
			Problems []policy.Problem `json:"problems"`
		}{false, err.Error(), problems})
	case "github":
		var b strings.Builder
		for _, p := range problems {
			b.WriteString("::error ")
			if p.File != "" {
				fmt.Fprintf(&b, "file=%s,", ghProperty(p.File))
				if p.Line > 0 {
					fmt.Fprintf(&b, "line=%d,col=%d,", p.Line, p.Column)
				}
			}
			fmt.Fprintf(&b, "title=%s::%s\n", ghProperty(command+": bad input"), ghData(p.Msg))
		}
		_, werr := io.WriteString(w, b.String())
		return werr
	case "junit":
		suite := junitSuite{Name: command, Tests: 1, Errors: 1, Cases: []junitCase{{
			Name: "load", Classname: strings.ReplaceAll(command, " ", "."),
			Error: &junitProblem{Message: "bad input", Type: "input", Body: err.Error()},
		}}}
		return writeJUnit(w, command, suite)
	}
	return nil
}

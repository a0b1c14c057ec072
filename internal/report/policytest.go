package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/promote-ml/promote/internal/policy"
)

// TestFormats lists the output formats WriteTests accepts.
var TestFormats = []string{"text", "json", "junit"}

// TestRun is the outcome of promote policy test: every case it ran.
type TestRun struct {
	Passed  bool         `json:"passed"`
	Summary TestSummary  `json:"summary"`
	Cases   []TestResult `json:"cases"`
}

// TestSummary counts a run's cases and the test files they came from.
type TestSummary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Files int `json:"files"`
}

// TestResult is the outcome of one policy test case: the gate's decision
// on the case's evidence, and how it differs from what the case expects.
type TestResult struct {
	File        string           `json:"file"` // the test file
	Line        int              `json:"line"` // where the case starts in it
	Name        string           `json:"name"`
	PolicyFile  string           `json:"policy_file"`
	Environment string           `json:"environment,omitempty"`
	Passed      bool             `json:"passed"`
	Expected    string           `json:"expected_verdict"` // allowed or blocked
	Verdict     string           `json:"verdict"`          // what the gate decided
	Differences []string         `json:"differences,omitempty"`
	Decision    *policy.Decision `json:"decision"`
}

// Verdict names a decision's verdict as a test case expects it.
func Verdict(d *policy.Decision) string {
	if d.Allowed {
		return "allowed"
	}
	return "blocked"
}

// Outcome describes a rule's result for a failing test case: its status,
// the value judged against the threshold, and the gate's message
// ("fail (actual -0.02, threshold >= -0.01): f1_delta -0.02 is not >= -0.01").
func Outcome(r policy.Result) string {
	return fmt.Sprintf("%s (actual %s, threshold %s): %s", r.Status, actual(r), threshold(r), r.Message)
}

// WriteTests renders a test run in format (one of TestFormats).
func WriteTests(w io.Writer, format string, run TestRun, opt Options) error {
	switch format {
	case "text":
		return TestText(w, run, opt)
	case "json":
		return writeJSON(w, run)
	case "junit":
		return TestJUnit(w, run)
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(TestFormats, ", "))
}

// TestText writes a line per case, PASS or FAIL with its name and where it
// is written, what differed under a failing one, and a summary line, as
// go test does.
func TestText(w io.Writer, run TestRun, opt Options) error {
	var b strings.Builder
	for _, c := range run.Cases {
		word := "PASS"
		if !c.Passed {
			word = "FAIL"
		}
		b.WriteString(opt.Fit(word+"  ", c.title()))
		for _, d := range c.Differences {
			b.WriteString(opt.Fit("      ", d))
		}
	}
	b.WriteString(TestSummaryLine(run))
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// title is a case's name with its place: file:line, and the environment.
func (c TestResult) title() string {
	s := fmt.Sprintf("%s:%d: %s", c.File, c.Line, c.Name)
	if c.Environment != "" {
		s += " [" + c.Environment + "]"
	}
	return s
}

// TestSummaryLine is a run's last line: ok or FAIL with the counts.
func TestSummaryLine(run TestRun) string {
	word := "ok"
	if !run.Passed {
		word = "FAIL"
	}
	files := "files"
	if run.Summary.Files == 1 {
		files = "file"
	}
	return fmt.Sprintf("%s: %d passed, %d failed (%d test %s)", word, run.Summary.Pass, run.Summary.Fail, run.Summary.Files, files)
}

// TestJUnit writes a run as JUnit XML: one test suite per test file, one
// test case per case, a failing case a failure whose body lists what
// differed.
func TestJUnit(w io.Writer, run TestRun) error {
	var suites []junitSuite
	at := map[string]int{}
	for _, c := range run.Cases {
		i, ok := at[c.File]
		if !ok {
			i = len(suites)
			at[c.File] = i
			suites = append(suites, junitSuite{Name: c.File})
		}
		s := &suites[i]
		jc := junitCase{Name: c.Name, Classname: "promote.policy." + strings.TrimSuffix(c.File, ".yaml"), File: c.File, Line: c.Line}
		if c.Environment != "" {
			jc.Name += " [" + c.Environment + "]"
		}
		if c.Passed {
			jc.SystemOut = fmt.Sprintf("%s, as expected", c.Verdict)
		} else {
			jc.Failure = &junitProblem{Message: c.Differences[0], Type: "expectation", Body: strings.Join(c.Differences, "\n")}
			s.Failures++
		}
		s.Cases = append(s.Cases, jc)
		s.Tests++
	}
	return writeJUnit(w, "promote policy test", suites...)
}

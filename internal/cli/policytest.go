package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/report"
	"github.com/promote-ml/promote/internal/strictyaml"
)

// testFileSuffix ends the name of every policy test file that promote
// policy test finds in a directory.
const testFileSuffix = "_test.yaml"

type policyTestFlags struct {
	output string
	run    string
}

func newPolicyTestCmd(s *streams) *cobra.Command {
	var f policyTestFlags
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run a policy's test cases through the gate (exit 0 all pass, 1 one fails, 2 bad input)",
		Long: `Run the test cases of policy test files: each case gives a candidate's evidence
(and a baseline's, drift reports, approvers, an artifact with its signature) and
the verdict the policy must reach on it, and the rules that must pass, fail, warn
or error. Each case is judged by the gate itself, as 'promote gate' would judge that
evidence, so a passing case means the gate gives that verdict.

A PATH is a test file, or a directory searched recursively for files named
*_test.yaml (directories whose name starts with "." are skipped); the default is
the current directory. The format is in docs/policy.md#testing-a-policy.

Exit codes: 0 every case passed, 1 a case failed, 2 bad input (a test file or a
policy that does not load, a missing file, no test files) or usage.`,
		Example: `  # Every *_test.yaml under the current directory
  promote policy test

  # The prod policy's tests, only the cases whose name mentions fairness
  promote policy test policies/prod_test.yaml --run fairness

  # JUnit XML for a CI test report
  promote policy test policies -o junit > policy-tests.xml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyTest(s, &f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "text", "output format: "+strings.Join(report.TestFormats, ", "))
	fl.StringVar(&f.run, "run", "", "run only the cases whose name matches this regular expression `REGEX`")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(report.TestFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

const policyTestCommand = "promote policy test"

func runPolicyTest(s *streams, f *policyTestFlags, paths []string) error {
	if !contains(report.TestFormats, f.output) {
		return usageErrorf("--output %q: want one of %s", f.output, strings.Join(report.TestFormats, ", "))
	}
	tests, err := selectPolicyTests(paths, f.run)
	if err != nil {
		_ = report.WriteErrorFor(s.out, f.output, policyTestCommand, err)
		return usageError(err)
	}
	run := report.TestRun{Passed: true}
	files := map[string]bool{}
	for _, t := range tests {
		d := t.gate.Evaluate(t.input)
		res := report.TestResult{File: t.file, Line: t.line, Name: t.name, PolicyFile: t.policyFile, Environment: t.env,
			Expected: t.expect.verdict(), Verdict: report.Verdict(d), Differences: t.expect.compare(d), Decision: d}
		res.Passed = len(res.Differences) == 0
		if res.Passed {
			run.Summary.Pass++
		} else {
			run.Summary.Fail++
			run.Passed = false
		}
		files[t.file] = true
		run.Cases = append(run.Cases, res)
	}
	run.Summary.Files = len(files)
	if err := report.WriteTests(s.out, f.output, run, report.Options{Width: outputWidth(s.out)}); err != nil {
		return usageError(fmt.Errorf("write the results: %w", err))
	}
	if !run.Passed {
		return &exitError{code: ExitBlocked, silent: true}
	}
	return nil
}

// selectPolicyTests loads every test file under paths and returns the
// cases whose name matches the regular expression run ("" for all). Any
// error it returns is bad input: every problem of every file, at once.
func selectPolicyTests(paths []string, run string) ([]*policyTest, error) {
	var re *regexp.Regexp
	if run != "" {
		var err error
		if re, err = regexp.Compile(run); err != nil {
			return nil, fmt.Errorf("--run %q: %w", run, err)
		}
	}
	files, err := findTestFiles(paths)
	if err != nil {
		return nil, err
	}
	l := &testLoader{policies: map[string]*loadedPolicy{}}
	var tests []*policyTest
	for _, file := range files {
		tests = append(tests, l.file(file)...)
	}
	if len(l.problems) > 0 {
		return nil, &policy.LoadError{Problems: l.problems}
	}
	if re == nil {
		return tests, nil
	}
	var selected []*policyTest
	for _, t := range tests {
		if re.MatchString(t.name) {
			selected = append(selected, t)
		}
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("--run %q matches none of the %d cases", run, len(tests))
	}
	return selected, nil
}

// findTestFiles returns the test files that paths name: files as they are,
// and the *_test.yaml files under directories, in lexical order.
func findTestFiles(paths []string) ([]string, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, pathError(err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && path != p && strings.HasPrefix(d.Name(), "."):
				return filepath.SkipDir
			case d.Type().IsRegular() && strings.HasSuffix(d.Name(), testFileSuffix):
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, pathError(err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s has no policy test files (*%s)", p, testFileSuffix)
		}
		files = append(files, found...)
	}
	return files, nil
}

// policyTest is one test case, loaded: the gate it runs through, the
// input the gate judges, and what the case expects of the decision.
type policyTest struct {
	file, name string
	line       int
	policyFile string
	env        string
	gate       *policy.Gate
	input      policy.Input
	expect     expectation
}

// expectation is a case's expect section.
type expectation struct {
	allowed bool
	rules   []expectedRule // in the order written
}

// expectedRule is a rule the case names under expect, with the status its
// result must have. A group's member is named by its path, the group's
// name and the member's joined by memberSep (accuracy-for-latency/all-2).
type expectedRule struct {
	name   string
	status policy.Status
}

// memberSep joins a group's name and its member's in an expected rule's
// name; it is in no rule's name.
const memberSep = "/"

// ruleResult returns the result of the rule that path names (a top-level
// rule, or a member of a group by memberSep), or false when the decision
// has none.
func ruleResult(results []policy.Result, path string) (policy.Result, bool) {
	names := strings.Split(path, memberSep)
	for i, name := range names {
		j := slices.IndexFunc(results, func(r policy.Result) bool { return r.Rule == name })
		if j < 0 {
			return policy.Result{}, false
		}
		if i == len(names)-1 {
			return results[j], true
		}
		results = results[j].Children
	}
	return policy.Result{}, false
}

func (e expectation) verdict() string {
	if e.allowed {
		return "allowed"
	}
	return "blocked"
}

// compare returns what differs between the decision and the expectation,
// one line each; none when the case passes.
func (e expectation) compare(d *policy.Decision) []string {
	var diffs []string
	if d.Allowed != e.allowed {
		s := d.Summary
		diffs = append(diffs, fmt.Sprintf("verdict: want %s, got %s (%d passed, %d failed, %d warnings, %d errors)",
			e.verdict(), report.Verdict(d), s.Pass, s.Fail, s.Warn, s.Error))
		// Say what blocked, unless an expected rule below says it.
		for _, r := range d.Blocking() {
			if !slices.ContainsFunc(e.rules, func(x expectedRule) bool { return x.name == r.Rule }) {
				diffs = append(diffs, fmt.Sprintf("%s blocks: %s", r.Rule, report.Outcome(r)))
			}
		}
	}
	for _, want := range e.rules {
		r, ok := ruleResult(d.Results, want.name)
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: want %s, got no result (the gate judges %s only when the policy requires it or a signature does not verify)",
				want.name, want.status, want.name))
			continue
		}
		if r.Status != want.status {
			diffs = append(diffs, fmt.Sprintf("%s: want %s, got %s", want.name, want.status, report.Outcome(r)))
		}
	}
	return diffs
}

// loadedPolicy is a policy file loaded once for every test file naming it.
type loadedPolicy struct {
	pol *policy.Policy
	err error
}

// testLoader loads test files, collecting every problem of every file.
type testLoader struct {
	policies map[string]*loadedPolicy
	problems []policy.Problem
}

// testCaseKeys are the keys of a test case.
var testCaseKeys = []string{"name", "env", "candidate", "baseline", "drift", "approvedBy", "requestedBy",
	"artifact", "signature", "bundle", "key", "expect"}

// file loads one test file: its policy and its cases.
func (l *testLoader) file(file string) []*policyTest {
	d := &strictyaml.Decoder{File: file}
	defer func() { l.problems = append(l.problems, d.Problems...) }()
	data, err := readInput(file, "policy test")
	if err != nil {
		d.Problems = append(d.Problems, policy.Problem{Msg: err.Error()})
		return nil
	}
	root := d.Parse(data)
	if root == nil {
		return nil
	}
	dir := filepath.Dir(file)
	var policyNode, casesNode *yaml.Node
	var policyFile string
	d.Mapping(root, "policy test", []string{"policy", "cases"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "policy":
			if s, ok := d.Str(v, "policy"); ok {
				policyNode, policyFile = v, filepath.Join(dir, s)
			}
		case "cases":
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				d.Errorf(v, "cases: want a non-empty list of test cases, got %s", strictyaml.KindName(v))
				return
			}
			casesNode = v
		}
	})
	if root.Kind == yaml.MappingNode {
		if policyNode == nil && len(d.Problems) == 0 {
			d.Errorf(root, "policy test: policy is missing (the policy file the cases test, relative to this file)")
		}
		if casesNode == nil && len(d.Problems) == 0 {
			d.Errorf(root, "policy test: cases is missing (a list of test cases)")
		}
	}
	if len(d.Problems) > 0 {
		return nil
	}
	pol := l.policy(d, policyNode, policyFile)
	var tests []*policyTest
	names := map[string]int{}
	for i, n := range casesNode.Content {
		t := l.testCase(d, n, i, dir, pol)
		if t == nil {
			continue
		}
		if line, dup := names[t.name]; dup {
			d.Errorf(n, "case %q: name used twice (first at line %d)", t.name, line)
			continue
		}
		names[t.name] = t.line
		t.policyFile = policyFile
		tests = append(tests, t)
	}
	if pol == nil || len(d.Problems) > 0 {
		return nil
	}
	return tests
}

// policy loads the policy a test file names, once for every file naming
// it; its load errors are reported once, as the gate reports them.
func (l *testLoader) policy(d *strictyaml.Decoder, n *yaml.Node, file string) *policy.Policy {
	key := filepath.Clean(file)
	lp, ok := l.policies[key]
	if !ok {
		lp = &loadedPolicy{}
		lp.pol, lp.err = loadPolicy(file)
		l.policies[key] = lp
		var le *policy.LoadError
		switch {
		case errors.As(lp.err, &le):
			d.Problems = append(d.Problems, le.Problems...)
		case lp.err != nil:
			d.Errorf(n, "%v", lp.err) // "policy: FILE: why"
		}
	} else if lp.err != nil {
		d.Errorf(n, "policy: %s does not load (its problems are listed above)", file)
	}
	return lp.pol
}

// testCase reads one case. It returns nil when the case has a problem,
// which d then holds. pol is nil when the policy did not load: the case is
// still read, so that its own problems are reported too.
func (l *testLoader) testCase(d *strictyaml.Decoder, n *yaml.Node, i int, dir string, pol *policy.Policy) *policyTest {
	before := len(d.Problems)
	// Every problem of a case names it, by its name when it has one.
	what := fmt.Sprintf("cases[%d]", i)
	if name := caseName(n); name != "" {
		what = fmt.Sprintf("case %q", name)
	}
	t := &policyTest{file: d.File, line: n.Line}
	var in gateInputs
	var nameNode, envNode, expectNode *yaml.Node
	sigNodes := map[string]*yaml.Node{}
	path := func(v *yaml.Node, key string) string {
		s, ok := d.Str(v, what+"."+key)
		if !ok {
			return ""
		}
		if s == "" {
			d.Errorf(v, "%s.%s: want a file path, got an empty string", what, key)
		}
		return filepath.Join(dir, s)
	}
	d.Mapping(n, what, testCaseKeys, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			nameNode = v
			if s, ok := d.Str(v, what+".name"); ok && strings.TrimSpace(s) == "" {
				d.Errorf(v, "%s.name: empty", what)
			} else {
				t.name = s
			}
		case "env":
			envNode = v
			t.env, _ = d.Name(v, what+".env")
		case "candidate":
			in.candidate = l.evidence(d, v, what, "candidate", "candidate", dir)
		case "baseline":
			in.baseline = l.evidence(d, v, what, "baseline", "baseline", dir)
		case "drift":
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			for j, item := range items {
				if ev := l.evidence(d, item, what, fmt.Sprintf("drift[%d]", j), "drift report", dir); ev != nil {
					in.drift = append(in.drift, ev)
				}
			}
		case "approvedBy":
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			for _, item := range items {
				s, ok := d.Str(item, what+".approvedBy")
				if !ok {
					continue
				}
				if _, err := parseApprover(s); err != nil {
					d.Errorf(item, "%s.approvedBy: %q: %v", what, s, err)
					continue
				}
				if strings.Contains(s, ",") {
					d.Errorf(item, "%s.approvedBy: %q: one approver per item (NAME or NAME:ROLE+ROLE), not a comma-separated list", what, s)
					continue
				}
				in.approvedBy = append(in.approvedBy, s)
			}
		case "requestedBy":
			in.requestedBy, _ = d.Str(v, what+".requestedBy")
		case "artifact":
			sigNodes[key], in.signature.artifact = v, path(v, key)
		case "signature":
			sigNodes[key], in.signature.sig = v, path(v, key)
		case "bundle":
			sigNodes[key], in.signature.bundle = v, path(v, key)
		case "key":
			sigNodes[key], in.signature.key = v, path(v, key)
		case "expect":
			expectNode = v
		}
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if nameNode == nil {
		d.Errorf(n, "%s: name is missing", what)
	}
	if in.candidate == nil && len(d.Problems) == before {
		d.Errorf(n, "%s: candidate is missing (its metrics inline, or a metrics file)", what)
	}
	if len(sigNodes) > 0 {
		sf := in.signature
		switch {
		case sf.artifact == "":
			d.Errorf(n, "%s: artifact is missing: a signature is verified over an artifact, with signature (or bundle) and key", what)
		case sf.key == "":
			d.Errorf(n, "%s: key is missing: a signature is verified with a trusted public key", what)
		case sf.sig == "" && sf.bundle == "":
			d.Errorf(n, "%s: signature or bundle is missing: the artifact's signature to verify", what)
		case sf.sig != "" && sf.bundle != "":
			d.Errorf(sigNodes["bundle"], "%s: give signature or bundle, not both", what)
		}
	}
	// The expect section is read even when the case has no gate (the
	// policy does not load, or env names no environment of it), so that
	// every problem of the file is reported at once; only its rule names
	// wait for a gate to be checked against.
	var gate *policy.Gate
	if pol != nil {
		gate = caseGate(d, pol, t.env, n, envNode, what)
	}
	if expectNode == nil {
		d.Errorf(n, "%s: expect is missing (verdict: allowed or blocked, and the rules that must pass, fail, warn or error)", what)
	} else {
		t.expect = readExpect(d, expectNode, what, gate, len(sigNodes) > 0)
	}
	if gate == nil || len(d.Problems) > before {
		return nil
	}
	input, err := in.input()
	if err != nil {
		d.Errorf(n, "%s: %v", what, err)
		return nil
	}
	t.gate, t.input = gate, input
	return t
}

// caseName returns the name a case gives, before the case is read: ""
// when it gives none that is usable, which reading it then reports.
func caseName(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "name" && v.Kind == yaml.ScalarNode && v.Tag == "!!str" && strings.TrimSpace(v.Value) != "" {
			return v.Value
		}
	}
	return ""
}

// evidence reads a case's candidate, baseline or drift report (the
// case's key, such as drift[1]): a mapping in the metrics file's shape,
// inline, or the path of a metrics file relative to the test file. Its
// problems name the case (what); those of a metrics file are the file's
// own. It returns nil when d has a problem with it.
func (l *testLoader) evidence(d *strictyaml.Decoder, v *yaml.Node, what, key, role, dir string) *policy.Evidence {
	if v.Kind == yaml.MappingNode {
		return policy.DecodeEvidence(d, v, what+"."+key, fmt.Sprintf("%s:%d", d.File, v.Line))
	}
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || v.Value == "" {
		d.Errorf(v, "%s.%s: want the %s's metrics (a mapping, as in a metrics file) or the path of a metrics file, got %s", what, key, role, strictyaml.KindName(v))
		return nil
	}
	ev, err := loadEvidence(filepath.Join(dir, v.Value), role)
	var le *policy.LoadError
	switch {
	case errors.As(err, &le):
		d.Add(le.Problems...)
	case err != nil:
		d.Errorf(v, "%s: %v", what, err) // "case "a": candidate: FILE: why"
	}
	return ev
}

// caseGate returns the gate a case runs through: the policy's, compiled
// for the case's env as promote gate --env compiles it.
func caseGate(d *strictyaml.Decoder, pol *policy.Policy, env string, n, envNode *yaml.Node, what string) *policy.Gate {
	envs := pol.Environments()
	switch {
	case len(envs) > 0 && envNode == nil:
		d.Errorf(n, "%s: policy %s has environment sections (%s): name one with env", what, pol.File, strings.Join(envs, ", "))
		return nil
	case len(envs) > 0 && env != "" && !slices.Contains(envs, env):
		msg := fmt.Sprintf("%s: env %q: policy %s has no such environment (it has %s)", what, env, pol.File, strings.Join(envs, ", "))
		if s := strictyaml.Suggest(env, envs); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		d.Errorf(envNode, "%s", msg)
		return nil
	case envNode != nil && env == "":
		return nil // d has the problem
	}
	g, err := pol.Gate(env)
	if err != nil {
		d.Errorf(n, "%s: %v", what, err)
		return nil
	}
	return g
}

// expectStatuses are the lists of an expect section, and the status each
// list's rules must have.
var expectStatuses = map[string]policy.Status{
	"pass": policy.StatusPass, "fail": policy.StatusFail, "warn": policy.StatusWarn, "error": policy.StatusError,
}

// readExpect reads a case's expect section. The rules it names must be
// rules of gate (artifact_signed also when the case gives a signature,
// which the gate judges then even if the policy does not require it); gate
// is nil when the case has none, and then only the section's own shape is
// checked.
func readExpect(d *strictyaml.Decoder, n *yaml.Node, what string, gate *policy.Gate, signed bool) expectation {
	var e expectation
	var names []string
	where := "the policy's gate"
	if gate != nil {
		for _, r := range gate.Rules {
			names = append(names, r.Name)
		}
		if signed && !slices.Contains(names, policy.CheckArtifactSigned) {
			names = append(names, policy.CheckArtifactSigned)
		}
		if gate.Environment != "" {
			where = gate.Environment + "'s gate"
		}
	}
	// verdict is the verdict key's value; a key with a bad value is
	// reported as that, and not as missing too.
	var verdict *yaml.Node
	verdictOK := false
	listedIn := map[string]string{}
	d.Mapping(n, what+".expect", []string{"verdict", "pass", "fail", "warn", "error"}, func(key string, _, v *yaml.Node) {
		if key == "verdict" {
			verdict = v
			if s, ok := d.OneOf(v, what+".expect.verdict", "allowed", "blocked"); ok {
				e.allowed, verdictOK = s == "allowed", true
			}
			return
		}
		items := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			items = v.Content
		}
		for _, item := range items {
			name, ok := d.Str(item, what+".expect."+key)
			if !ok {
				continue
			}
			if slices.ContainsFunc(strings.Split(name, memberSep), func(s string) bool { return !strictyaml.ValidName(s) }) {
				d.Errorf(item, "%s.expect.%s: %q is not a rule's name (letters, digits, _ . - only, starting with a letter; a group's member as GROUP%sMEMBER)",
					what, key, name, memberSep)
				continue
			}
			if gate != nil {
				if msg := unknownRule(gate.Rules, names, name, where); msg != "" {
					d.Errorf(item, "%s.expect.%s: %s", what, key, msg)
					continue
				}
			}
			if other, dup := listedIn[name]; dup {
				d.Errorf(item, "%s.expect.%s: %q is listed under %s already", what, key, name, other)
				continue
			}
			listedIn[name] = key
			e.rules = append(e.rules, expectedRule{name: name, status: expectStatuses[key]})
		}
	})
	if n.Kind != yaml.MappingNode {
		return e
	}
	if verdict == nil {
		d.Errorf(n, "%s.expect: verdict is missing (allowed or blocked)", what)
	} else if verdictOK && e.allowed {
		for _, r := range e.rules {
			// A group's member may fail in a group that passes.
			if strings.Contains(r.name, memberSep) {
				continue
			}
			if r.status == policy.StatusFail || r.status == policy.StatusError {
				d.Errorf(n, "%s.expect: %s is to %s, which blocks, so the verdict cannot be allowed", what, r.name, r.status)
			}
		}
	}
	return e
}

// unknownRule says why name, a top-level rule or a group's member by its
// path (GROUP/MEMBER), names no rule of a gate whose rules are rules and
// whose top-level rule names are names (those of rules and, when the case
// gives a signature, artifact_signed), the gate being where; "" when it
// names one.
func unknownRule(rules []*policy.Rule, names []string, name, where string) string {
	parts := strings.Split(name, memberSep)
	if !slices.Contains(names, parts[0]) {
		msg := fmt.Sprintf("%q is no rule of %s", name, where)
		if len(parts) > 1 {
			msg = fmt.Sprintf("%q: %s is no rule of %s", name, parts[0], where)
		}
		switch hint, near := ruleHint(rules, name), strictyaml.Suggest(parts[0], names); {
		case len(parts) == 1 && hint != "":
			return msg + " (" + hint + ")"
		case near != "":
			return msg + fmt.Sprintf(" (did you mean %q?)", near)
		}
		return msg + fmt.Sprintf(" (its rules: %s)", strings.Join(names, ", "))
	}
	i := slices.IndexFunc(rules, func(r *policy.Rule) bool { return r.Name == parts[0] })
	var r *policy.Rule
	if i >= 0 {
		r = rules[i]
	}
	for j, part := range parts[1:] {
		group := strings.Join(parts[:j+1], memberSep)
		if r == nil || len(r.Children) == 0 {
			return fmt.Sprintf("%q: %s is not a group (any or all), so it has no members", name, group)
		}
		var members []string
		var match []*policy.Rule
		for _, c := range r.Children {
			if !slices.Contains(members, c.Name) {
				members = append(members, c.Name)
			}
			if c.Name == part {
				match = append(match, c)
			}
		}
		switch len(match) {
		case 0:
			msg := fmt.Sprintf("%q: group %s has no member %s", name, group, part)
			if s := strictyaml.Suggest(part, members); s != "" {
				return msg + fmt.Sprintf(" (did you mean %q?)", s)
			}
			return msg + fmt.Sprintf(" (its members: %s)", strings.Join(members, ", "))
		case 1:
			r = match[0]
		default:
			return fmt.Sprintf("%q: group %s has %d members named %s; give them distinct names (name: in the policy) to expect one",
				name, group, len(match), part)
		}
	}
	return ""
}

// ruleHint says which rule an author who names name under expect likely
// means, when name is not a top-level rule: a group's member of that name
// (named by its path), or a rule whose metric it is; "" when neither.
func ruleHint(rules []*policy.Rule, name string) string {
	var members, metrics []string
	var walk func(rules []*policy.Rule, path string)
	walk = func(rules []*policy.Rule, path string) {
		for _, r := range rules {
			p := r.Name
			if path != "" {
				p = path + memberSep + r.Name
			}
			if path != "" && r.Name == name {
				members = append(members, strconv.Quote(p))
			}
			if r.Metric == name {
				metrics = append(metrics, strconv.Quote(p))
			}
			walk(r.Children, p)
		}
	}
	walk(rules, "")
	switch {
	case len(members) > 0:
		return "a group's member is named by its path: " + strings.Join(members, " or ")
	case len(metrics) > 0:
		return "it is the metric of " + strings.Join(metrics, " and ") + "; expect names rules"
	}
	return ""
}

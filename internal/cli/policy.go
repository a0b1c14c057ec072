package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/policy"
)

func newPolicyCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check policy files and run their tests, without evidence or a server",
		Long: `Work on policy files locally: 'promote policy check' loads and validates them as
the gate does, and 'promote policy test' runs the test cases kept beside them
(files named *_test.yaml), each through the gate. See docs/policy.md#testing-a-policy.`,
	}
	cmd.AddCommand(newPolicyCheckCmd(s), newPolicyTestCmd(s))
	return cmd
}

func newPolicyCheckCmd(s *streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "check POLICY...",
		Short: "Load and validate policy files as the gate does (exit 0 valid, 2 not)",
		Long: `Load each policy file as 'promote gate' loads it: both formats, every environment
section merged with the common gate, every CEL expression compiled. No evidence is
read. A valid file is printed as ok with one line per environment (its rules, required
checks, approvals and rollout strategy); a file that does not load is printed as the
gate prints it, every problem as file:line:column.

Exit codes: 0 every file is valid, 2 one is not (or bad usage).`,
		Example: `  # Every policy of a repository that promote init wrote
  promote policy check policies/*.yaml

  # JSON for scripts
  promote policy check -o json examples/policy-v1.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyCheck(s, output, args)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// checkedPolicy is what promote policy check says of one file.
type checkedPolicy struct {
	File         string           `json:"file"`
	OK           bool             `json:"ok"`
	Name         string           `json:"name,omitempty"`
	Environments []checkedGate    `json:"environments,omitempty"`
	Problems     []policy.Problem `json:"problems,omitempty"`
	// Skipped says why the file was not checked: a policy test file.
	Skipped string `json:"skipped,omitempty"`
	err     error  // the load error, as the gate prints it
}

// checkedGate summarizes the gate and rollout of one environment.
type checkedGate struct {
	Environment string   `json:"environment"` // "" when the policy has no environment sections
	Require     []string `json:"require"`
	Rules       []string `json:"rules"`
	Approvals   int      `json:"approvals"`
	Roles       []string `json:"approval_roles,omitempty"`
	Rollout     string   `json:"rollout,omitempty"` // the strategy; "" without a rollout section
	Steps       []int    `json:"steps,omitempty"`
}

func runPolicyCheck(s *streams, output string, files []string) error {
	if output != "text" && output != "json" {
		return usageErrorf("--output %q: want text or json", output)
	}
	var checked []checkedPolicy
	var errs []error
	var skipped []string
	for _, file := range files {
		// A glob such as policies/*.yaml also names the policies' test
		// files, which promote init writes beside them: they are not
		// policies, and promote policy test runs them.
		if strings.HasSuffix(filepath.Base(file), testFileSuffix) {
			skipped = append(skipped, file)
			checked = append(checked, checkedPolicy{File: file, Skipped: "a policy test file: promote policy test runs it"})
			continue
		}
		c := checkPolicy(file)
		if c.err != nil {
			errs = append(errs, c.err)
		}
		checked = append(checked, c)
	}
	if len(skipped) == len(files) {
		return usageErrorf("no policy to check: %s, named *%s, are policy tests; run promote policy test %s",
			strings.Join(files, ", "), testFileSuffix, strings.Join(files, " "))
	}
	if output == "json" {
		if err := writeJSON(s.out, struct {
			OK       bool            `json:"ok"`
			Policies []checkedPolicy `json:"policies"`
		}{len(errs) == 0, checked}); err != nil {
			return usageError(fmt.Errorf("write the result: %w", err))
		}
	} else {
		var b strings.Builder
		for _, c := range checked {
			switch {
			case c.Skipped != "":
				fmt.Fprintf(&b, "skip  %s (%s)\n", c.File, c.Skipped)
			case c.OK:
				writeCheckedPolicy(&b, c)
			}
		}
		if _, err := fmt.Fprint(s.out, b.String()); err != nil {
			return usageError(fmt.Errorf("write the result: %w", err))
		}
	}
	return usageError(errors.Join(errs...))
}

// checkPolicy loads one policy file and summarizes every environment's
// gate as promote gate --env would compile it.
func checkPolicy(file string) checkedPolicy {
	c := checkedPolicy{File: file}
	pol, err := loadPolicy(file)
	if err != nil {
		c.err = err
		var le *policy.LoadError
		if errors.As(err, &le) {
			c.Problems = le.Problems
		} else {
			c.Problems = []policy.Problem{{File: file, Msg: err.Error()}}
		}
		return c
	}
	c.OK, c.Name = true, pol.Name
	envs := pol.Environments()
	if len(envs) == 0 {
		envs = []string{""}
	}
	for _, env := range envs {
		g, err := pol.Gate(env)
		if err != nil {
			// Every environment the policy names has a gate.
			c.OK, c.err = false, err
			c.Problems = append(c.Problems, policy.Problem{File: file, Msg: err.Error()})
			continue
		}
		cg := checkedGate{Environment: env, Require: []string{}, Rules: []string{}}
		for _, r := range g.Rules {
			switch r.Kind {
			case policy.KindRequire:
				cg.Require = append(cg.Require, r.Check)
			case policy.KindApprovals:
			default:
				cg.Rules = append(cg.Rules, r.Name)
			}
		}
		if g.Approvals != nil {
			cg.Approvals, cg.Roles = g.Approvals.Min, g.Approvals.Roles
		}
		if r := pol.Rollout(env); r != nil {
			cg.Rollout = r.Strategy
			for _, st := range r.Steps {
				cg.Steps = append(cg.Steps, st.Weight)
			}
		}
		c.Environments = append(c.Environments, cg)
	}
	return c
}

// loadPolicy reads and loads a policy file as the gate does.
func loadPolicy(file string) (*policy.Policy, error) {
	data, err := readInput(file, "policy")
	if err != nil {
		return nil, err
	}
	return policy.Load(file, data)
}

// writeCheckedPolicy writes "ok  FILE (NAME)" and a line per environment.
func writeCheckedPolicy(b *strings.Builder, c checkedPolicy) {
	fmt.Fprintf(b, "ok  %s", c.File)
	if c.Name != "" {
		fmt.Fprintf(b, " (%s)", c.Name)
	}
	b.WriteString("\n")
	width := 0
	for _, g := range c.Environments {
		width = max(width, len(envLabel(g.Environment)))
	}
	for _, g := range c.Environments {
		fmt.Fprintf(b, "    %-*s  %s\n", width+1, envLabel(g.Environment)+":", g.summary())
	}
}

func envLabel(env string) string {
	if env == "" {
		return "every environment"
	}
	return env
}

// summary is one line: the rules, the required checks, the approvals and
// the rollout of an environment.
func (g checkedGate) summary() string {
	var parts []string
	parts = append(parts, fmt.Sprintf("%d %s", len(g.Rules), plural(len(g.Rules), "rule", "rules"))+listed(g.Rules))
	if len(g.Require) == 0 {
		parts = append(parts, "no required checks")
	} else {
		parts = append(parts, "requires "+strings.Join(g.Require, ", "))
	}
	switch {
	case g.Approvals == 0:
		parts = append(parts, "no approvals")
	case len(g.Roles) > 0:
		parts = append(parts, fmt.Sprintf("%d %s (roles %s)", g.Approvals, plural(g.Approvals, "approval", "approvals"), strings.Join(g.Roles, ", ")))
	default:
		parts = append(parts, fmt.Sprintf("%d %s", g.Approvals, plural(g.Approvals, "approval", "approvals")))
	}
	switch {
	case g.Rollout == "":
		parts = append(parts, "no rollout section")
	case len(g.Steps) > 0:
		steps := make([]string, len(g.Steps))
		for i, w := range g.Steps {
			steps[i] = fmt.Sprintf("%d%%", w)
		}
		parts = append(parts, "rollout "+g.Rollout+" "+strings.Join(steps, " -> "))
	default:
		parts = append(parts, "rollout "+g.Rollout)
	}
	return strings.Join(parts, "; ")
}

func listed(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

package overlay

import (
	"fmt"
	"slices"
	"strings"
)

// Diff renders the overlays of env1 and env2 in dir (see Render) and
// returns how they differ: for each resource that differs, a unified diff
// of its rendered YAML, headed "--- env1/Kind/name" and "+++ env2/Kind/name"
// (a resource in one environment only is shown whole as removed or added).
// Generated ConfigMap and Secret names are shown without their hash suffix,
// which changes with their content and would repeat every difference. The
// result is "" when both render the same.
func Diff(dir, env1, env2 string) (string, error) {
	a, err := renderTree(dir, env1)
	if err != nil {
		return "", err
	}
	b, err := renderTree(dir, env2)
	if err != nil {
		return "", err
	}
	var ids []string
	seen := map[string]bool{}
	for _, t := range []*rendered{a, b} {
		for _, r := range t.docs {
			if !seen[r.Key()] {
				seen[r.Key()] = true
				ids = append(ids, r.Key())
			}
		}
	}
	var out strings.Builder
	for _, id := range ids {
		var at, bt string
		if r := a.byID[id]; r != nil {
			at = r.Text
		}
		if r := b.byID[id]; r != nil {
			bt = r.Text
		}
		out.WriteString(unifiedDiff(env1+"/"+id, env2+"/"+id, at, bt, 3))
	}
	return out.String(), nil
}

// diffOp is one line of an edit script.
type diffOp struct {
	kind byte // ' ', '-' or '+'
	text string
}

// editScript returns the shortest edit script from a to b, by Myers'
// algorithm ("An O(ND) Difference Algorithm and Its Variations", E. W.
// Myers, Algorithmica 1986), keeping each step's frontier to walk back.
func editScript(a, b []string) []diffOp {
	n, m := len(a), len(b)
	maxD := n + m
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int // trace[d]: v[off-d .. off+d] before step d
	var endD int
search:
	for d := 0; d <= maxD; d++ {
		trace = append(trace, slices.Clone(v[off-d:off+d+1]))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[off+k-1] < v[off+k+1] {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				endD = d
				break search
			}
		}
	}
	var ops []diffOp
	x, y := n, m
	for d := endD; d >= 0; d-- {
		prev := trace[d] // indexes k+d
		at := func(k int) int {
			if k < -d || k > d {
				return 0
			}
			return prev[k+d]
		}
		k := x - y
		var prevK int
		if k == -d || k != d && at(k-1) < at(k+1) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := at(prevK)
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			ops = append(ops, diffOp{' ', a[x-1]})
			x--
			y--
		}
		if d == 0 {
			break
		}
		if x == prevX {
			ops = append(ops, diffOp{'+', b[y-1]})
			y--
		} else {
			ops = append(ops, diffOp{'-', a[x-1]})
			x--
		}
	}
	slices.Reverse(ops)
	return ops
}

// unifiedDiff returns the unified diff of two texts with context lines
// around each change, "" when they are equal.
func unifiedDiff(aName, bName, a, b string, context int) string {
	if a == b {
		return ""
	}
	ops := editScript(splitLines(a), splitLines(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)
	// Positions (1-based line numbers) before each op.
	type pos struct{ a, b int }
	at := make([]pos, len(ops)+1)
	at[0] = pos{1, 1}
	for i, op := range ops {
		at[i+1] = at[i]
		if op.kind != '+' {
			at[i+1].a++
		}
		if op.kind != '-' {
			at[i+1].b++
		}
	}
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(0, i-context)
		end := i
		// Extend the hunk while the next change is within 2*context lines.
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j + 1
				continue
			}
			if j-end >= 2*context {
				break
			}
		}
		end = min(len(ops), end+context)
		aLen, bLen := 0, 0
		for _, op := range ops[start:end] {
			if op.kind != '+' {
				aLen++
			}
			if op.kind != '-' {
				bLen++
			}
		}
		aStart, bStart := at[start].a, at[start].b
		if aLen == 0 {
			aStart--
		}
		if bLen == 0 {
			bStart--
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", aStart, aLen, bStart, bLen)
		for _, op := range ops[start:end] {
			out.WriteString(string(op.kind) + op.text + "\n")
		}
		i = end
	}
	return out.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

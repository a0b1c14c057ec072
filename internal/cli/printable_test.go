package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// Text a submitter wrote (a model's description, a hold's reason) reaches
// an approver's terminal in tables with its control characters shown as
// escapes: an escape sequence that retitles the window, or moves the
// cursor up to write over the line above, and a right-to-left override
// that reorders what is shown, are not sent to the terminal. JSON carries
// the text as it is.
func TestTablesShowControlCharactersAsEscapes(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	root := createToken(t, data, pipelineFile, "root", "admin")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	run, must := clientOf(t, server)
	const desc = "Loan default\x1b]0;pwned\x07 classifier\x1b[1A\x1b[2K"
	must(0, ci, "models", "create", "credit-risk", "--description", desc)
	for _, v := range []string{"1", "2"} {
		must(0, ci, "versions", "register", "credit-risk", v, "--artifact", examples+"/model.bin",
			"--signature", examples+"/model.bin.sig", "--metrics", examples+"/candidate.json")
	}
	const reason = "flaky\ttests\u202eon CI\u009b2J"
	must(0, root, "holds", "set", "credit-risk", "2", "--env", "dev", "--reason", reason)

	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"models", "list"}, []string{`Loan default\x1b]0;pwned\x07 classifier\x1b[1A\x1b[2K`}},
		{[]string{"models", "show", "credit-risk"}, []string{`Loan default\x1b]0;pwned\x07 classifier\x1b[1A\x1b[2K`}},
		{[]string{"holds", "list"}, []string{`flaky tests\u202eon CI\u009b2J`}},
	} {
		out := must(0, root, tt.args...)
		if i := strings.IndexFunc(out, func(r rune) bool { return controlRune(r, false) }); i >= 0 {
			t.Errorf("promote %s sends control character %q to the terminal:\n%q", strings.Join(tt.args, " "), []rune(out[i:])[0], out)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("promote %s =\n%s\nwant it to show %s", strings.Join(tt.args, " "), out, w)
			}
		}
	}

	// A request for the held version is blocked by a gate result that
	// quotes the hold's reason: promotions show writes the gate's results
	// and its summary as tables do.
	var p struct{ ID string }
	_, out, _ := run(ci, "request", "credit-risk", "2", "--env", "dev", "-o", "json")
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.ID == "" {
		t.Fatalf("request of the held version = %s (%v)", out, err)
	}
	out = must(0, ci, "promotions", "show", p.ID)
	if !strings.Contains(out, "flaky tests") {
		t.Errorf("promotions show of a promotion blocked by the hold does not quote its reason:\n%s", out)
	}
	if i := strings.IndexFunc(out, func(r rune) bool { return controlRune(r, false) }); i >= 0 {
		t.Errorf("promote promotions show sends control character %q to the terminal:\n%q", []rune(out[i:])[0], out)
	}

	var models []struct{ Description string }
	if err := json.Unmarshal([]byte(must(0, root, "models", "list", "-o", "json")), &models); err != nil || len(models) != 1 || models[0].Description != desc {
		t.Errorf("models list -o json = %+v (%v), want the description as written, %q", models, err, desc)
	}
}

// cellText and printable escape what acts on a terminal and nothing else:
// text in any script, an emoji, U+FFFD written as such, pass unchanged.
func TestEscapeControls(t *testing.T) {
	for _, tt := range []struct{ in, cell, stream string }{
		{"plain ASCII", "plain ASCII", "plain ASCII"},
		{"Zürich 東京 🚀 \ufffd", "Zürich 東京 🚀 \ufffd", "Zürich 東京 🚀 \ufffd"},
		{"a\tb\nc\r", "a b c ", "a\tb\nc\\x0d"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`, `\x1b[31mred\x1b[0m`},
		{"del\x7f bell\x07", `del\x7f bell\x07`, `del\x7f bell\x07`},
		{"c1\u009b bidi\u202e\u2066", `c1\u009b bidi\u202e\u2066`, `c1\u009b bidi\u202e\u2066`},
		{"bad \xff\xfe utf-8", `bad \xff\xfe utf-8`, `bad \xff\xfe utf-8`},
		{"pr\u200bod\ufeff tag\U000e0041 ls\u2028", `pr\u200bod\ufeff tag\U000e0041 ls\u2028`, `pr\u200bod\ufeff tag\U000e0041 ls\u2028`},
		{"❤️ 👩\u200d💻", `❤️ 👩\u200d💻`, `❤️ 👩\u200d💻`},
	} {
		if got := cellText(tt.in); got != tt.cell {
			t.Errorf("cellText(%q) = %q, want %q", tt.in, got, tt.cell)
		}
		var b strings.Builder
		if n, err := (printable{&b}).Write([]byte(tt.in)); err != nil || n != len(tt.in) || b.String() != tt.stream {
			t.Errorf("printable.Write(%q) = %d, %v, wrote %q; want %d, nil, %q", tt.in, n, err, b.String(), len(tt.in), tt.stream)
		}
	}
}

package deploy_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// root is the repository root, relative to this package's directory.
const root = ".."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
	line int
}

// stage is a FROM instruction and what follows it up to the next FROM.
type stage struct {
	from  string // the base image, ARGs not expanded
	name  string // the AS name, if any
	instr []instruction
}

// dockerfile is a parsed Dockerfile: global ARGs and the stages.
type dockerfile struct {
	globalArgs map[string]string
	stages     []stage
}

// parseDockerfile reads the subset of the Dockerfile syntax that Promote's
// Dockerfile uses: comments, parser directives, backslash continuations.
func parseDockerfile(t *testing.T, file string) *dockerfile {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	df := &dockerfile{globalArgs: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var cur strings.Builder
	start, n := 0, 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			df.stages = append(df.stages, st)
		case len(df.stages) == 0 && in.cmd == "ARG":
			name, def, _ := strings.Cut(in.args, "=")
			df.globalArgs[name] = def
		case len(df.stages) == 0:
			t.Fatalf("%s:%d: %s before the first FROM", file, in.line, in.cmd)
		default:
			last := &df.stages[len(df.stages)-1]
			last.instr = append(last.instr, in)
		}
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	if len(df.stages) < 2 {
		t.Fatalf("%s: %d stages, want a multi-stage build (a builder and a runtime stage)", file, len(df.stages))
	}
	return df
}

// find returns a stage's instructions of one kind.
func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// args returns the ARG defaults a stage sees: the global ones it redeclares
// and its own, with overrides as `docker build --build-arg` would give.
func (df *dockerfile) args(s stage, overrides map[string]string) map[string]string {
	vars := map[string]string{}
	for _, in := range s.find("ARG") {
		name, def, hasDef := strings.Cut(in.args, "=")
		if !hasDef {
			def = df.globalArgs[name]
		}
		vars[name] = def
	}
	for k, v := range overrides {
		if _, ok := vars[k]; ok {
			vars[k] = v
		}
	}
	return vars
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expand substitutes ${NAME} and $NAME as the shell of a RUN would, from
// the stage's ARGs; an unknown name is an error, not an empty string.
func expand(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		v, ok := vars[name]
		if !ok {
			t.Fatalf("%s: no ARG %s in the stage", s, name)
		}
		return v
	})
}

// shellWords splits a command line into words, honouring single and
// double quotes (enough for a go build line; no escapes inside quotes).
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.ContainsRune(";&|<>`", r):
			t.Fatalf("build line %q: shell operator %q; keep the go build on a RUN of its own", s, r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("build line %q: unterminated quote", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// goBuild is the build stage's go build line, taken apart.
type goBuild struct {
	env   []string // NAME=value assignments before the command
	flags []string // the arguments after "go build"
	out   string   // the -o path
}

func parseGoBuild(t *testing.T, df *dockerfile, overrides map[string]string) (goBuild, stage) {
	t.Helper()
	for _, st := range df.stages[:len(df.stages)-1] {
		for _, in := range st.find("RUN") {
			if !strings.Contains(in.args, "go build") {
				continue
			}
			words := shellWords(t, expand(t, in.args, df.args(st, overrides)))
			var b goBuild
			for len(words) > 0 && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(words[0]) {
				b.env = append(b.env, words[0])
				words = words[1:]
			}
			if len(words) < 2 || words[0] != "go" || words[1] != "build" {
				t.Fatalf("Dockerfile:%d: %q does not start with go build", in.line, in.args)
			}
			b.flags = words[2:]
			if i := slices.Index(b.flags, "-o"); i >= 0 && i+1 < len(b.flags) {
				b.out = b.flags[i+1]
			}
			return b, st
		}
	}
	t.Fatal("Dockerfile: no RUN with go build in a stage before the last")
	return goBuild{}, stage{}
}

// dockerignore is the .dockerignore file as compiled patterns, matched the
// way Docker matches them: against the path relative to the context and
// each of its parent directories, the last matching pattern deciding, a
// leading "!" re-including.
type dockerignore []struct {
	re      *regexp.Regexp
	exclude bool
}

func readDockerignore(t *testing.T, file string) dockerignore {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var di dockerignore
	for line := range strings.SplitSeq(string(data), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		exclude := true
		if rest, ok := strings.CutPrefix(p, "!"); ok {
			p, exclude = rest, false
		}
		p = strings.TrimPrefix(path.Clean("/"+p), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			case c == '[' || c == '\\':
				t.Fatalf(".dockerignore: %q: character classes and escapes are not supported by this test", line)
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		di = append(di, struct {
			re      *regexp.Regexp
			exclude bool
		}{regexp.MustCompile(re.String()), exclude})
	}
	return di
}

// excluded reports whether rel (slash-separated) is left out of the context.
func (di dockerignore) excluded(rel string) bool {
	out := false
	for _, p := range di {
		for prefix := rel; prefix != "."; prefix = path.Dir(prefix) {
			if p.re.MatchString(prefix) {
				out = p.exclude
				break
			}
		}
	}
	return out
}

// buildContext copies the repository into dir as Docker would send it:
// without what .dockerignore leaves out.
func buildContext(t *testing.T, dir string) {
	t.Helper()
	di := readDockerignore(t, filepath.Join(root, ".dockerignore"))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		if di.excluded(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, src); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDockerignore(t *testing.T) {
	di := readDockerignore(t, filepath.Join(root, ".dockerignore"))
	tests := []struct {
		path string
		want bool
	}{
		{"go.mod", false},
		{"go.sum", false},
		{"cmd/promote/main.go", false},
		{"internal/sqlite/migrations/0001_init.sql", false},
		{"internal/overlay/scaffold/deploy/base/kustomization.yaml.tmpl", false}, // embedded: must stay
		{".git/HEAD", true},
		{"bin/promote", true},
		{"gitops.test", true},
		{"internal/cli/testdata/x.json", true},
		{"internal/cli/gate_test.go", true},
		{"docs/index.md", true},
	}
	for _, tt := range tests {
		if got := di.excluded(tt.path); got != tt.want {
			t.Errorf("excluded(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestDockerfileBuild builds the binary exactly as the Dockerfile's build
// stage does, from a context filtered by .dockerignore, and checks that it
// is a static, stripped executable that reports the version given as a
// build argument.
func TestDockerfileBuild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image's binary is a Linux ELF executable; build it on Linux")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	const version = "v0.0.0-dockerfile-test"
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	b, _ := parseGoBuild(t, df, map[string]string{"VERSION": version})

	// What the image needs of the build line.
	if !slices.Contains(b.env, "CGO_ENABLED=0") {
		t.Errorf("build env = %q, want CGO_ENABLED=0 (a static binary)", b.env)
	}
	if !slices.Contains(b.flags, "-trimpath") {
		t.Errorf("build flags = %q, want -trimpath", b.flags)
	}
	i := slices.Index(b.flags, "-ldflags")
	if i < 0 || i+1 >= len(b.flags) || !slices.Contains(strings.Fields(b.flags[i+1]), "-s") || !slices.Contains(strings.Fields(b.flags[i+1]), "-w") {
		t.Errorf("build flags = %q, want -ldflags with -s -w", b.flags)
	}
	if b.out == "" {
		t.Fatalf("build flags = %q, want -o PATH", b.flags)
	}

	ctxDir := t.TempDir()
	buildContext(t, ctxDir)
	bin := filepath.Join(t.TempDir(), "promote")
	flags := slices.Clone(b.flags)
	flags[slices.Index(flags, "-o")+1] = bin
	cmd := exec.Command(goBin, append([]string{"build"}, flags...)...)
	cmd.Dir = ctxDir
	// The golang image sets no GOFLAGS; the context has no .git, as in Docker.
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	cmd.Env = append(cmd.Env, b.env...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s (in a context filtered by .dockerignore): %v\n%s", cmd, err, out)
	}
	t.Logf("built in %s: %s", time.Since(start).Round(time.Millisecond), cmd)

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is dynamically linked, want static", p.Type)
		}
	}
	if s := f.Section(".dynamic"); s != nil {
		t.Errorf("section .dynamic present: the binary is dynamically linked, want static")
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("imported libraries %q, want none", libs)
	}
	if s := f.Section(".symtab"); s != nil {
		t.Errorf("section .symtab present: want a stripped binary (-ldflags -s)")
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("promote version: %v\n%s", err, out)
	}
	if want := "promote " + version + " linux/"; !strings.HasPrefix(string(out), want) {
		t.Errorf("promote version = %q, want it to start with %q", out, want)
	}
}

// TestDockerfileRuntimeStage checks the final stage: a minimal base with CA
// certificates and a passwd entry, the binary from the build stage on the
// PATH, a numeric non-root user, and the entrypoint, port, volume and labels.
func TestDockerfileRuntimeStage(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	b, build := parseGoBuild(t, df, nil)
	final := df.stages[len(df.stages)-1]

	one := func(cmd string) string {
		t.Helper()
		in := final.find(cmd)
		if len(in) == 0 {
			t.Errorf("final stage: no %s", cmd)
			return ""
		}
		return in[len(in)-1].args // the last one is the one that counts
	}

	switch {
	case strings.HasPrefix(final.from, "gcr.io/distroless/static"):
		// CA certificates, tzdata and /etc/passwd with nonroot (65532) come with the image.
	case final.from == "scratch":
		copies := strings.Join(argsOf(final.find("COPY")), "\n")
		for _, want := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/passwd"} {
			if !strings.Contains(copies, want) {
				t.Errorf("final stage FROM scratch copies no %s", want)
			}
		}
	default:
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static… or scratch", final.from)
	}

	user := one("USER")
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q, want a numeric non-root user (65532), so that runAsNonRoot can verify it", user)
	}

	binary := ""
	for _, c := range argsOf(final.find("COPY")) {
		f := strings.Fields(c)
		if len(f) == 3 && f[0] == "--from="+build.name && f[1] == b.out {
			binary = f[2]
		}
	}
	if binary != "/usr/local/bin/promote" {
		t.Errorf("final stage copies %s from stage %q to %q, want /usr/local/bin/promote (on the default PATH)", b.out, build.name, binary)
	}
	if got := one("ENTRYPOINT"); got != `["promote"]` {
		t.Errorf(`ENTRYPOINT %s, want ["promote"]`, got)
	}
	if got := one("CMD"); got != `["serve"]` {
		t.Errorf(`CMD %s, want ["serve"]`, got)
	}

	env := map[string]string{}
	for _, e := range final.find("ENV") {
		for _, w := range shellWords(t, e.args) {
			k, v, _ := strings.Cut(w, "=")
			env[k] = v
		}
	}
	_, port, _ := strings.Cut(env["PROMOTE_ADDR"], ":")
	if env["PROMOTE_ADDR"] != ":"+port || port == "" {
		t.Errorf("ENV PROMOTE_ADDR=%q, want :PORT (every interface: the default is loopback only)", env["PROMOTE_ADDR"])
	}
	if got := one("EXPOSE"); got != port {
		t.Errorf("EXPOSE %s, want %s (PROMOTE_ADDR's port)", got, port)
	}
	if got, want := one("VOLUME"), fmt.Sprintf("[%q]", env["PROMOTE_DATA"]); got != want || env["PROMOTE_DATA"] == "" {
		t.Errorf("VOLUME %s, want %s (PROMOTE_DATA)", got, want)
	}
	labels := strings.Join(argsOf(final.find("LABEL")), " ")
	for _, want := range []string{"org.opencontainers.image.source=", "org.opencontainers.image.version=", "org.opencontainers.image.title="} {
		if !strings.Contains(labels, want) {
			t.Errorf("final stage LABELs lack %s", want)
		}
	}
}

func argsOf(in []instruction) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.args
	}
	return out
}

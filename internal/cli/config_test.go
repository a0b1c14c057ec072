package cli

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/promote-ml/promote/internal/agent"
)

func TestRedactDSN(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://promote:s3cret@db/promote", "postgres://promote:xxxxx@db/promote"},
		{"postgres://promote:s3@cret@db:5432/promote?sslmode=require", "postgres://promote:xxxxx@db:5432/promote?sslmode=require"},
		{"postgres://promote@db/promote", "postgres://promote@db/promote"},
		{"postgres://promote@db/promote?password=s3cret&sslmode=require", "postgres://promote@db/promote?password=xxxxx&sslmode=require"},
		{"postgresql://db/promote?user=promote&Password=s3cret", "postgresql://db/promote?user=promote&Password=xxxxx"},
		{"postgres://promote:s3cret@db/promote?sslpassword=k3y", "postgres://promote:xxxxx@db/promote?sslpassword=xxxxx"},
		{"postgres://db/promote?pass%77ord=s3cret", "postgres://db/promote?pass%77ord=xxxxx"},
		{"host=db user=promote password=s3cret dbname=promote", "(not shown: not a URL)"},
	}
	for _, tc := range tests {
		if got := redactDSN(tc.dsn); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

// TestValidateHidesDSNPassword checks that the error for a DSN that is not
// a URL, printed at start, does not carry its password.
func TestValidateHidesDSNPassword(t *testing.T) {
	for _, dsn := range []string{"host=db user=promote password=s3cret", "mysql://promote:s3cret@db/promote?password=s3cret"} {
		c := defaultServerConfig()
		c.Database, c.Pipeline = dsn, "promote.yaml"
		err := c.validate()
		if err == nil || !strings.Contains(err.Error(), "--database") {
			t.Fatalf("validate() with --database %q = %v, want an error about --database", dsn, err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("validate() with --database %q = %q: it shows the password", dsn, err)
		}
	}
}

// TestEnvDurationsNamed: a PROMOTE_* duration that does not parse is
// reported as the variable and the value it holds, not as the flag it
// stands for with a value nobody wrote.
func TestEnvDurationsNamed(t *testing.T) {
	for _, name := range []string{"PROMOTE_GITOPS_INTERVAL", "PROMOTE_AGENT_INTERVAL", "PROMOTE_AGENT_TIMEOUT", "PROMOTE_LEASE_TTL", "PROMOTE_LEASE_RENEW", "PROMOTE_AUDIT_VERIFY_EVERY", "PROMOTE_AUTO_PROMOTE_EVERY"} {
		t.Run(name, func(t *testing.T) {
			c := defaultServerConfig()
			c.env(func(k string) string {
				switch k {
				case name:
					return "5 minutes"
				case "PROMOTE_GITOPS_REMOTE":
					return "/r.git"
				case "PROMOTE_AGENT_ADDR":
					return "127.0.0.1:0"
				case "PROMOTE_AGENT_ENDPOINTS":
					return "endpoints.yaml"
				}
				return ""
			})
			err := c.validate()
			want := "$" + name + ` "5 minutes": want a duration such as`
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("validate() with %s=\"5 minutes\" = %v, want an error containing %q", name, err, want)
			}
			if strings.Contains(err.Error(), "-1ns") {
				t.Errorf("validate() = %q, names a value nobody wrote (-1ns)", err)
			}
		})
	}
}

// TestServeRefusesBeforeCreatingAnything: settings that cannot work — a
// bad endpoints or queries file, an interval or lease too short to do
// anything but poll — are refused with exit 2 before serve creates its
// store.
func TestServeRefusesBeforeCreatingAnything(t *testing.T) {
	_, pipelineFile, data := exampleServeSetup(t)
	dir := t.TempDir()
	badQueries := filepath.Join(dir, "queries.yaml")
	os.WriteFile(badQueries, []byte("requests: [\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing endpoints file", []string{"--gitops-remote", filepath.Join(dir, "r.git"), "--agent-addr", "127.0.0.1:0",
			"--agent-endpoints", filepath.Join(dir, "endpoints.yaml")}, "endpoints.yaml"},
		{"bad queries file", []string{"--prometheus-url", "http://127.0.0.1:9", "--prometheus-queries", badQueries}, "--prometheus-queries"},
		{"rollout interval", []string{"--rollout-interval", "1ns"}, "--rollout-interval 1ns: want at least 10ms"},
		{"look interval", []string{"--rollout-look-every", "1us"}, "--rollout-look-every 1µs: want at least 10ms"},
		{"agent interval", []string{"--gitops-remote", filepath.Join(dir, "r.git"), "--agent-addr", "127.0.0.1:0",
			"--agent-endpoints", filepath.Join(dir, "endpoints.yaml"), "--agent-interval", "1ns"}, "--agent-interval 1ns: want at least 10ms"},
		{"agent timeout", []string{"--gitops-remote", filepath.Join(dir, "r.git"), "--agent-addr", "127.0.0.1:0",
			"--agent-endpoints", filepath.Join(dir, "endpoints.yaml"), "--agent-timeout", "1us"}, "--agent-timeout 1µs: want at least 10ms"},
		{"negative agent timeout", []string{"--gitops-remote", filepath.Join(dir, "r.git"), "--agent-addr", "127.0.0.1:0",
			"--agent-endpoints", filepath.Join(dir, "endpoints.yaml"), "--agent-timeout", "-1s"}, "--agent-timeout: want a positive duration"},
		{"agent environments", []string{"--gitops-remote", filepath.Join(dir, "r.git"), "--agent-addr", "127.0.0.1:0",
			"--agent-endpoints", filepath.Join(dir, "endpoints.yaml"), "--agent-environments", "prod,Prod!,prod"}, "--agent-environments: prod is listed twice"},
		{"gitops interval", []string{"--gitops-remote", filepath.Join(dir, "r.git"), "--gitops-interval", "5ms"}, "--gitops-interval 5ms: want at least 10ms"},
		{"lease", []string{"--lease-ttl", "100ms"}, "--lease-ttl 100ms: want at least 1s"},
		{"lease renewal", []string{"--lease-renew", "1ms"}, "--lease-renew 1ms: want at least 10ms"},
		{"negative audit verification", []string{"--audit-verify-every", "-5m"}, "--audit-verify-every -5m0s: want a duration such as 1h, or 0 to verify the whole audit chain only at start"},
		{"audit verification interval", []string{"--audit-verify-every", "1ms"}, "--audit-verify-every 1ms: want at least 10ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, "", append([]string{"serve", "--data", data, "--pipeline", pipelineFile, "--addr", "127.0.0.1:0"}, tt.args...)...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("serve %v: exit %d, %q; want %d naming %q", tt.args, code, errOut, ExitUsage, tt.want)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("serve %v created %s (stat: %v) before refusing", tt.args, data, err)
			}
		})
	}
}

// A $PROMOTE_DATABASE that is set but empty (a Secret without its value)
// is refused: falling back to SQLite would give every replica a registry
// of its own.
func TestEmptyDatabaseVariableRefused(t *testing.T) {
	_, pipelineFile, data := exampleServeSetup(t)
	t.Setenv("PROMOTE_DATABASE", "")
	code, _, errOut := run(t, "", "serve", "--data", data, "--pipeline", pipelineFile, "--addr", "127.0.0.1:0")
	if code != ExitUsage || !strings.Contains(errOut, "$PROMOTE_DATABASE is set but empty") {
		t.Errorf("serve with PROMOTE_DATABASE empty: exit %d, %q; want %d naming the variable", code, errOut, ExitUsage)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("serve created %s (stat: %v) before refusing", data, err)
	}
	// --database given on the command line wins over the empty variable.
	c := defaultServerConfig()
	c.env(os.Getenv)
	c.Database, c.Pipeline = "postgres://db/promote", "promote.yaml"
	if err := c.validate(); err != nil && strings.Contains(err.Error(), "PROMOTE_DATABASE") {
		t.Errorf("validate() with --database and an empty variable = %v", err)
	}
}

// A database that cannot be reached when serve starts is an operation
// that failed, exit 1, not a mistake of the command line: no usage line.
func TestServeUnreachableDatabaseIsNoUsageError(t *testing.T) {
	_, pipelineFile, _ := exampleServeSetup(t)
	code, _, errOut := run(t, "", "serve", "--database", "postgres://promote@127.0.0.1:1/promote?connect_timeout=2", "--pipeline", pipelineFile, "--addr", "127.0.0.1:0")
	if code != ExitBlocked || !strings.Contains(errOut, "open PostgreSQL") || strings.Contains(errOut, "Usage:") {
		t.Errorf("serve with an unreachable database: exit %d, %q; want %d, naming the database, without usage", code, errOut, ExitBlocked)
	}
}

// The agent's timeout comes from --agent-timeout, else
// $PROMOTE_AGENT_TIMEOUT, else the splitters' default, and reaches the
// agent's configuration.
func TestConfigAgentTimeout(t *testing.T) {
	tests := []struct {
		name string
		env  string
		args []string
		want time.Duration
	}{
		{"default", "", nil, agent.DefaultTimeout},
		{"variable", "2m", nil, 2 * time.Minute},
		{"flag over variable", "2m", []string{"--agent-timeout", "45s"}, 45 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultGitOpsConfig()
			c.env(func(k string) string {
				if k == "PROMOTE_AGENT_TIMEOUT" {
					return tt.env
				}
				return ""
			})
			fl := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			c.flags(fl)
			if err := fl.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := c.agentConfig(t.TempDir(), []string{"prod"}, func(string) string { return "" }, nil).Timeout; got != tt.want {
				t.Errorf("agentConfig().Timeout with $PROMOTE_AGENT_TIMEOUT %q and %v = %s, want %s", tt.env, tt.args, got, tt.want)
			}
		})
	}
}

// A policy's environment section that no environment of the pipeline is
// gated by is never applied: a typo (prdo), an environment taken out of
// the pipeline, or one whose gate is another file. serve says so at start,
// naming the section's line, rather than leave it to look as if it held.
func TestPipelinePolicySectionUnused(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shared.yaml", "gate:\n  metrics:\n    accuracy: '>= 0.9'\nenvironments:\n  dev: {}\n  staging: {}\n  prod:\n    gate:\n      approvals: {min: 1}\n  prdo:\n    gate:\n      approvals: {min: 2}\n")
	write("staging.yaml", "gate:\n  metrics:\n    accuracy: '>= 0.8'\n")
	write("promote.yaml", "apiVersion: promote.dev/v1\nkind: Pipeline\nenvironments:\n  - name: dev\n    policy: shared.yaml\n  - name: staging\n    from: dev\n    policy: staging.yaml\n  - name: prod\n    from: staging\n    policy: shared.yaml\n")
	lp, err := loadPipeline(filepath.Join(dir, "promote.yaml"))
	if err != nil {
		t.Fatalf("loadPipeline = %v, want the pipeline loaded and the unused sections said", err)
	}
	said := strings.Join(lp.unused, "\n")
	shared := filepath.Join(dir, "shared.yaml")
	for _, want := range []string{
		shared + `:6:3: environments.staging: environment staging of the pipeline is gated by staging.yaml, so this section is not used`,
		shared + `:10:3: environments.prdo: the pipeline has no environment prdo (it has dev, staging, prod), so this section is not used; remove it or correct its name`,
	} {
		if !strings.Contains(said, want) {
			t.Errorf("loadPipeline's unused =\n%s\nwant it to contain\n%s", said, want)
		}
	}

	write("shared.yaml", "gate:\n  metrics:\n    accuracy: '>= 0.9'\nenvironments:\n  dev: {}\n  prod:\n    gate:\n      approvals: {min: 1}\n")
	lp, err = loadPipeline(filepath.Join(dir, "promote.yaml"))
	if err != nil || len(lp.unused) != 0 {
		t.Errorf("loadPipeline with every section used = %v, unused %q; want nil and none", err, lp.unused)
	}
}

// Help shows a flag's default, which is its PROMOTE_* variable's value when
// that is set: passwords in a DSN or a Git remote's URL are hidden there,
// and the command still uses them.
func TestHelpHidesPasswordsFromEnvironment(t *testing.T) {
	secrets := map[string]string{
		"PROMOTE_DATABASE":       "postgres://promote:s3cr3t-db@db/promote?sslmode=require",
		"PROMOTE_GITOPS_REMOTE":  "https://bot:ghp_s3cr3t-git@github.example/org/gitops.git",
		"PROMOTE_PROMETHEUS_URL": "http://scraper:s3cr3t-prom@prometheus:9090",
		// A token written as the user name alone, as GitHub takes it.
		"PROMOTE_AGENT_REMOTE": "https://ghp_s3cr3t-token@github.example/org/gitops.git",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	for _, args := range [][]string{{"serve", "--help"}, {"token", "create", "--help"}, {"audit", "verify", "--help"}, {"help", "serve"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := run(t, "", args...)
			if code != ExitOK {
				t.Fatalf("promote %s = exit %d: %s", strings.Join(args, " "), code, errOut)
			}
			if strings.Contains(out+errOut, "s3cr3t") {
				t.Errorf("promote %s shows a password from the environment:\n%s", strings.Join(args, " "), out)
			}
			if !strings.Contains(out, "postgres://promote:xxxxx@db/promote?sslmode=require") {
				t.Errorf("promote %s does not show the DSN with its password hidden:\n%s", strings.Join(args, " "), out)
			}
		})
	}
	t.Run("key=value DSN", func(t *testing.T) {
		t.Setenv("PROMOTE_DATABASE", "host=db user=promote password=s3cr3t-kv dbname=promote")
		_, out, _ := run(t, "", "serve", "--help")
		if strings.Contains(out, "s3cr3t") || !strings.Contains(out, "(not shown: not a URL)") {
			t.Errorf("promote serve --help with a key=value DSN:\n%s", out)
		}
	})
	// The values the command runs with keep their passwords.
	s := &streams{in: strings.NewReader(""), out: &strings.Builder{}, err: &strings.Builder{}}
	serve, _, err := newRootCmd(s, []string{"serve"}).Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	for flag, env := range map[string]string{"database": "PROMOTE_DATABASE", "gitops-remote": "PROMOTE_GITOPS_REMOTE", "prometheus-url": "PROMOTE_PROMETHEUS_URL",
		"agent-remote": "PROMOTE_AGENT_REMOTE"} {
		if got := serve.Flags().Lookup(flag).Value.String(); got != secrets[env] {
			t.Errorf("serve --%s = %q, want $%s as it is, %q", flag, got, env, secrets[env])
		}
	}
}

// Each environment's gate is named for the audit log by its policy file as
// the pipeline names it, relative to the pipeline, never by this machine's
// path, and by the sha256 of the file's bytes.
func TestLoadPipelineNamesPolicies(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	if code, _, errOut := run(t, "", "init", repo); code != ExitOK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	lp, err := loadPipeline(filepath.Join(repo, "promote.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"dev", "staging", "prod"} {
		file := "policies/" + env + ".yaml"
		data, err := os.ReadFile(filepath.Join(repo, file))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		g := lp.gates[env]
		if g == nil {
			t.Fatalf("no gate for %s", env)
		}
		if want := "sha256:" + hex.EncodeToString(sum[:]); g.Source != file || g.Digest != want {
			t.Errorf("gate %s: source %q, digest %q; want %q, %q", env, g.Source, g.Digest, file, want)
		}
	}
}

// serve started from a file system's root (a container's WORKDIR /) does
// not take it as the default artifact root, which would let a submitter
// have any file of the machine hashed; it says so. Another working
// directory is the default root, as before.
func TestDefaultArtifactRoots(t *testing.T) {
	var logged strings.Builder
	log := newLogger(&logged, "info")
	if got := defaultArtifactRoots("/", log); got != nil {
		t.Errorf("defaultArtifactRoots(/) = %q, want none", got)
	}
	if !strings.Contains(logged.String(), "--artifact-root") {
		t.Errorf("log = %q, want a warning naming --artifact-root", logged.String())
	}
	logged.Reset()
	dir := t.TempDir()
	if got := defaultArtifactRoots(dir, log); len(got) != 1 || got[0] != dir {
		t.Errorf("defaultArtifactRoots(%s) = %q, want it alone", dir, got)
	}
	if logged.Len() != 0 {
		t.Errorf("log = %q, want nothing said for a working directory that is not a root", logged.String())
	}
}

// --audit-verify-every is an hour unless $PROMOTE_AUDIT_VERIFY_EVERY or
// the flag says otherwise; 0 is taken (only at start), a negative
// variable refused. --auto-promote-every is 30s unless
// $PROMOTE_AUTO_PROMOTE_EVERY or the flag says otherwise; it must be
// positive.
func TestServeIntervals(t *testing.T) {
	setting := map[string]func(serverConfig) time.Duration{
		"PROMOTE_AUDIT_VERIFY_EVERY": func(c serverConfig) time.Duration { return c.AuditVerifyEvery },
		"PROMOTE_AUTO_PROMOTE_EVERY": func(c serverConfig) time.Duration { return c.AutoPromoteEvery },
	}
	tests := []struct {
		name, variable, env string
		want                time.Duration
		err                 string
	}{
		{"audit: default", "PROMOTE_AUDIT_VERIFY_EVERY", "", time.Hour, ""},
		{"audit: from the environment", "PROMOTE_AUDIT_VERIFY_EVERY", "15m", 15 * time.Minute, ""},
		{"audit: off", "PROMOTE_AUDIT_VERIFY_EVERY", "0", 0, ""},
		{"audit: negative", "PROMOTE_AUDIT_VERIFY_EVERY", "-1h", -time.Hour, "--audit-verify-every -1h0m0s: want a duration such as 1h, or 0"},
		{"auto-promote: default", "PROMOTE_AUTO_PROMOTE_EVERY", "", 30 * time.Second, ""},
		{"auto-promote: from the environment", "PROMOTE_AUTO_PROMOTE_EVERY", "5m", 5 * time.Minute, ""},
		{"auto-promote: zero", "PROMOTE_AUTO_PROMOTE_EVERY", "0", 0, "--auto-promote-every 0s: want a positive duration such as 30s"},
		{"auto-promote: negative", "PROMOTE_AUTO_PROMOTE_EVERY", "-1m", -time.Minute, "--auto-promote-every -1m0s: want a positive duration such as 30s"},
		{"auto-promote: too short", "PROMOTE_AUTO_PROMOTE_EVERY", "1ms", time.Millisecond, "--auto-promote-every 1ms: want at least 10ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultServerConfig()
			c.env(func(k string) string {
				if k == tt.variable {
					return tt.env
				}
				return ""
			})
			if got := setting[tt.variable](c); got != tt.want {
				t.Errorf("%s=%q: the setting = %s, want %s", tt.variable, tt.env, got, tt.want)
			}
			err := c.validate()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("validate() = %v, want nil", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("validate() = %v, want an error containing %q", err, tt.err)
			}
		})
	}
}

// A trusted key that cannot be used is a load error at the line of the
// pipeline file that lists it, whatever is wrong with it: another
// algorithm, a weak RSA key, another curve, not a key, no file. So is a key
// listed twice (under two paths): taking one entry out to revoke it would
// leave the other trusting it.
func TestLoadPipelineTrustedKeysAtTheirLines(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pub := func(key any) []byte {
		t.Helper()
		der, err := x509.MarshalPKIXPublicKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	good, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	write("good.pub", pub(&good.PublicKey))
	write("copy.pub", pub(&good.PublicKey))
	write("p384.pub", pub(&p384.PublicKey))
	write("rsa.pub", pub(&rsa1024.PublicKey))
	write("ed.pub", pub(edPub))
	write("junk.pub", []byte("not a key\n"))
	write("dev.yaml", []byte("gate:\n  require: [artifact_signed]\n"))
	write("promote.yaml", []byte(`kind: Pipeline
trustedKeys:
  - good.pub
  - rsa.pub
  - ed.pub
  - p384.pub
  - junk.pub
  - missing.pub
  - copy.pub
environments:
  - name: dev
    policy: dev.yaml
`))
	file := filepath.Join(dir, "promote.yaml")
	_, err = loadPipeline(file)
	if err == nil {
		t.Fatal("loadPipeline = nil, want an error for each key that cannot be used")
	}
	for _, want := range []string{
		file + ":4:5: trustedKeys[1]: rsa.pub: found an RSA public key: promote needs an ECDSA P-256 key",
		file + ":5:5: trustedKeys[2]: ed.pub: found an Ed25519 public key: promote needs an ECDSA P-256 key",
		file + ":6:5: trustedKeys[3]: p384.pub: found an ECDSA P-384 key: promote needs P-256",
		file + ":7:5: trustedKeys[4]: junk.pub: key is not PEM",
		file + ":8:5: trustedKeys[5]: " + filepath.Join(dir, "missing.pub") + ": no such file or directory",
		file + ":9:5: trustedKeys[6]: copy.pub holds the same public key (sha256:",
		"as trustedKeys[0] good.pub at line 3",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("loadPipeline =\n%v\nwant it to contain\n%s", err, want)
		}
	}
	if strings.Contains(err.Error(), "good.pub:") {
		t.Errorf("loadPipeline =\n%v\nwant no error about good.pub itself", err)
	}

	// The same file listed twice is the same key twice.
	write("promote.yaml", []byte("kind: Pipeline\ntrustedKeys: [good.pub, good.pub]\nenvironments:\n  - name: dev\n    policy: dev.yaml\n"))
	if _, err := loadPipeline(file); err == nil || !strings.Contains(err.Error(), ":2:25: trustedKeys[1]: good.pub holds the same public key") {
		t.Errorf("loadPipeline with good.pub twice = %v, want trustedKeys[1] at 2:25 named as the same key", err)
	}

	write("promote.yaml", []byte("kind: Pipeline\ntrustedKeys: [good.pub]\nenvironments:\n  - name: dev\n    policy: dev.yaml\n"))
	lp, err := loadPipeline(file)
	if err != nil {
		t.Fatalf("loadPipeline with good.pub = %v, want it loaded", err)
	}
	if len(lp.keys) != 1 || lp.keys[0].ID != "good.pub" || !lp.keys[0].Key.Equal(&good.PublicKey) {
		t.Errorf("loadPipeline's keys = %+v, want good.pub's key alone", lp.keys)
	}
}

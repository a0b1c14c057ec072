package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/promote-ml/promote/internal/cli.Version=v1.2.3".
// Left at "dev", the version comes from the build information instead.
var Version = "dev"

func newVersionCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of promote",
		Long: `Print promote's version, operating system, architecture and Go version.

The version is the release it was built as: the module version when installed with
'go install github.com/promote-ml/promote/cmd/promote@VERSION', the version stamped
at build time by a release or image build, or the Git commit of a build from a
checkout ("dev" when none of these is known).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, _ := debug.ReadBuildInfo()
			_, err := fmt.Fprintf(s.out, "promote %s %s/%s %s\n", buildVersion(Version, info), runtime.GOOS, runtime.GOARCH, runtime.Version())
			return err
		},
	}
}

// buildVersion chooses the version to report: one stamped with -ldflags
// wins; then the main module's version, which 'go install …@version'
// records; then the VCS revision that 'go build' records in a checkout;
// else "dev". info may be nil.
func buildVersion(stamped string, info *debug.BuildInfo) string {
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	if info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return "dev"
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	v := "dev-" + revision
	if modified {
		v += "-dirty"
	}
	return v
}

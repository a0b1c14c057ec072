package cli

import (
	"runtime/debug"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	const rev = "8d7462ee80e3f9bf8e772873264fee708b81cb42"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"no build info", "dev", nil, "dev"},
		{"stamped wins", "v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}}, "v1.2.3"},
		{"go install at a version", "dev", &debug.BuildInfo{Main: debug.Module{Path: "github.com/promote-ml/promote", Version: "v0.4.1"}}, "v0.4.1"},
		{"go install at a pseudo-version", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101120000-8d7462ee80e3"}}, "v0.0.0-20260101120000-8d7462ee80e3"},
		{"checkout, clean", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")}, "dev-8d7462ee80e3"},
		{"checkout, modified", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")}, "dev-8d7462ee80e3-dirty"},
		{"checkout without VCS stamping", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"empty stamp", "", &debug.BuildInfo{Main: debug.Module{Version: "v2.0.0"}}, "v2.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildVersion(tt.stamped, tt.info); got != tt.want {
				t.Errorf("buildVersion(%q, …) = %q, want %q", tt.stamped, got, tt.want)
			}
		})
	}
}

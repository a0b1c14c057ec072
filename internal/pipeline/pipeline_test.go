package pipeline

import (
	"os"
	"strings"
	"testing"
	"time"
)

const good = `apiVersion: promote.dev/v1
kind: Pipeline
metadata:
  name: credit-risk
trustedKeys: [keys/cosign.pub]
environments:
  - name: dev
    policy: policies/dev.yaml
  - name: staging
    from: dev
    policy: policies/staging.yaml
    soak: 1h
    autoPromote: true
  - name: prod
    from: staging
    policy: policies/prod.yaml
    soak: 24h
    rollout: canary
    freeze:
      - name: year-end
        start: 2026-12-20T00:00:00Z
        end: 2027-01-05T00:00:00Z
      - name: office-hours
        allow: true
        days: [mon, tue, wed, thu, fri]
        from: "09:00"
        to: "17:00"
        timezone: Europe/Berlin
`

func TestParse(t *testing.T) {
	p, err := Parse("promote.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Names(), ","); got != "dev,staging,prod" {
		t.Errorf("Names = %s", got)
	}
	prod, err := p.Environment("prod")
	if err != nil {
		t.Fatal(err)
	}
	if prod.From != "staging" || prod.Soak != 24*time.Hour || prod.Strategy != "canary" || len(prod.Freeze) != 2 {
		t.Errorf("prod = %+v", prod)
	}
	if got := []bool{p.Environments[0].AutoPromote, p.Environments[1].AutoPromote, prod.AutoPromote}; got[0] || !got[1] || got[2] {
		t.Errorf("AutoPromote of dev, staging, prod = %v, want [false true false]", got)
	}
	if auto := p.AutoPromoted(); len(auto) != 1 || auto[0] != &p.Environments[1] {
		t.Errorf("AutoPromoted = %v, want staging's, as in the pipeline", auto)
	}
	if p.Environments[0].Strategy != "direct" {
		t.Errorf("dev strategy = %q, want the default direct", p.Environments[0].Strategy)
	}
	// 2026-11-25 is a Wednesday; 10:00 UTC is 11:00 in Berlin: allowed.
	if frozen, why := prod.Frozen(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)); frozen {
		t.Errorf("Wednesday 11:00 Berlin frozen: %s", why)
	}
	if frozen, _ := prod.Frozen(time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)); !frozen {
		t.Error("Wednesday 18:00 Berlin not frozen")
	}
	if frozen, _ := prod.Frozen(time.Date(2026, 12, 22, 10, 0, 0, 0, time.UTC)); !frozen {
		t.Error("year end not frozen")
	}
	if _, err := p.Environment("qa"); err == nil || !strings.Contains(err.Error(), "it has dev, staging, prod") {
		t.Errorf("Environment(qa) = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	head := "apiVersion: promote.dev/v1\nkind: Pipeline\n"
	tests := []struct{ name, src, want string }{
		{"empty", "", "file is empty"},
		{"no kind", "environments: []\n", "kind is missing"},
		{"wrong kind", "apiVersion: promote.dev/v1\nkind: Policy\nenvironments: []\n", `kind: "Policy" is not a pipeline`},
		{"no environments", head, "environments is missing"},
		{"typo", head + "enviroments: []\n", `unknown key "enviroments" (did you mean "environments"?)`},
		{"abbreviation", head + "env: []\n", `pipeline: unknown key "env" (did you mean "environments"?)`},
		{"abbreviated trustedKeys", head + "trusted: [keys/cosign.pub]\n", `unknown key "trusted" (did you mean "trustedKeys"?)`},
		{"too short to complete", head + "en: []\n", `unknown key "en" (known keys: apiVersion, kind, metadata, trustedKeys, environments)`},
		{"env typo", head + "environments:\n  - name: dev\n    polcy: p.yaml\n", `unknown key "polcy" (did you mean "policy"?)`},
		{"overlay elsewhere", head + "environments:\n  - name: dev\n    policy: p.yaml\n    overlay: k8s/dev\n",
			`environments[0].overlay: "k8s/dev": Promote keeps each environment's overlay at deploy/overlays/dev`},
		{"missing policy", head + "environments:\n  - name: dev\n", "policy is missing"},
		{"path-like name", head + "environments:\n  - name: ../x\n    policy: p\n", `environments[0].name: environment name "../x" contains ".."`},
		{"duplicate", head + "environments:\n  - {name: dev, policy: p}\n  - {name: dev, from: dev, policy: p}\n", `environment "dev" defined twice`},
		{"first with from", head + "environments:\n  - {name: dev, from: x, policy: p}\n", "the first environment \"dev\" cannot come from"},
		{"later without from", head + "environments:\n  - {name: dev, policy: p}\n  - {name: prod, policy: p}\n", "prod needs from"},
		{"from later env", head + "environments:\n  - {name: dev, policy: p}\n  - {name: staging, from: prod, policy: p}\n  - {name: prod, from: staging, policy: p}\n", `from "prod" is not an environment listed before staging`},
		{"soak on the first", head + "environments:\n  - name: dev\n    policy: p\n    soak: 1h\n", `promote.yaml:6:11: environments[0].soak: the first environment "dev" has no upstream to soak in`},
		{"autoPromote on the first", head + "environments:\n  - name: dev\n    policy: p\n    autoPromote: true\n", `promote.yaml:6:18: environments[0].autoPromote: the first environment "dev" has no upstream to promote from`},
		{"autoPromote not a boolean", head + "environments:\n  - {name: dev, policy: p}\n  - {name: staging, from: dev, policy: p, autoPromote: yes}\n", `environments[1].autoPromote: want true or false, got "yes"`},
		{"autoPromote typo", head + "environments:\n  - {name: dev, policy: p}\n  - {name: staging, from: dev, policy: p, autopromote: true}\n", `unknown key "autopromote" (did you mean "autoPromote"?)`},
		{"abbreviated autoPromote", head + "environments:\n  - {name: dev, policy: p}\n  - {name: staging, from: dev, policy: p, auto: true}\n", `unknown key "auto" (did you mean "autoPromote"?)`},
		{"bad soak", head + "environments:\n  - {name: dev, policy: p, soak: 1 day}\n", `"1 day" is not a duration`},
		{"bad rollout", head + "environments:\n  - {name: dev, policy: p, rollout: blue-green}\n", `"blue-green" is not one of direct, canary, shadow`},
		{"bad time", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {start: 2026-12-20, end: 2027-01-05T00:00:00Z}\n", `"2026-12-20" is not an RFC 3339 time`},
		{"end before start", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {start: 2027-12-20T00:00:00Z, end: 2027-01-05T00:00:00Z}\n", "end must be after start"},
		{"day-like word", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [monkey], from: '09:00', to: '17:00'}\n", `"monkey" is not a day`},
		{"bad day", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [funday], from: '09:00', to: '17:00'}\n", `"funday" is not a day`},
		{"bad clock", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [mon], from: '9am', to: '17:00'}\n", `"9am" is not a time of day HH:MM`},
		{"bad zone", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [mon], from: '09:00', to: '17:00', timezone: Mars/Olympus}\n", `"Mars/Olympus" is not a time zone`},
		{"zone beside an absolute window", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {start: 2026-12-24T00:00:00Z, end: 2026-12-27T00:00:00Z, timezone: Europe/Berlin}\n",
			`promote.yaml:7:76: environments[0].freeze[0].timezone: plays no part in an absolute window, whose start and end carry their UTC offsets`},
		{"host's zone", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [sat], timezone: Local}\n", `"Local" is the zone of whichever host runs the server`},
		{"UTC offset", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [sat], timezone: '+02:00'}\n", `"+02:00" is a UTC offset, not a time zone; name the zone (e.g. Europe/Berlin) to follow its daylight saving, or write Etc/GMT-2 for the fixed offset`},
		{"UTC offset west", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [sat], timezone: UTC-5}\n", `write Etc/GMT+5 for the fixed offset`},
		{"UTC offset half hour", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [sat], timezone: '+05:30'}\n", `"+05:30" is a UTC offset, not a time zone; name the zone (e.g. Asia/Kolkata)`},
		{"both kinds", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [mon], start: 2026-12-20T00:00:00Z, end: 2027-01-05T00:00:00Z}\n", "either absolute"},
		{"empty window", head + "environments:\n  - name: dev\n    policy: p\n    freeze:\n      - {name: x}\n", "give start and end, or days"},
		{"empty policy", head + "environments:\n  - {name: dev, policy: \"\"}\n", `promote.yaml:4:25: environments[0].policy: empty; want the policy file's path`},
		{"empty trusted key", head + "trustedKeys: [keys/a.pub, \"\"]\nenvironments:\n  - {name: dev, policy: p}\n", `promote.yaml:3:27: trustedKeys[1]: empty; want a public key file's path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("promote.yaml", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.src, err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("apiVersion: promote.dev/v1\nkind: Pipeline\nenvironments:\n  - {name: dev, policy: p, freeze: [{days: [mon], from: '22:00', to: '06:00'}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for i, e := range p.Environments {
			if (i == 0) != (e.From == "") {
				t.Fatalf("environment %d (%s) from %q", i, e.Name, e.From)
			}
			e.Frozen(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
		}
	})
}

// TestExampleNotFrozenSoon keeps the README's walk-through working: it
// promotes to prod with examples/pipeline/promote.yaml, whose absolute
// freeze window must not cover the coming months. It fails ahead of time,
// when the window is due to be moved.
func TestExampleNotFrozenSoon(t *testing.T) {
	data, err := os.ReadFile("../../examples/pipeline/promote.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("examples/pipeline/promote.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, e := range p.Environments {
		for _, w := range e.Freeze {
			if w.Start.IsZero() || w.Allow {
				continue // the walk-through runs at any time of week
			}
			if w.Start.Before(now.AddDate(0, 3, 0)) && w.End.After(now) {
				t.Errorf("examples/pipeline/promote.yaml: %s's freeze window %s (%s to %s) covers the coming three months, so the README's walk-through would be blocked: move it",
					e.Name, w.Name, w.Start.Format(time.DateOnly), w.End.Format(time.DateOnly))
			}
		}
	}
}

// The fixed-offset zone that the UTC offset error suggests is one a
// window accepts, read with its reversed sign: Etc/GMT-2 is UTC+02:00.
func TestFixedOffsetZone(t *testing.T) {
	src := "kind: Pipeline\nenvironments:\n  - name: dev\n    policy: p\n    freeze:\n      - {days: [sat], timezone: Etc/GMT-2}\n"
	p, err := Parse("promote.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	dev := &p.Environments[0]
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 11, 27, 21, 59, 0, 0, time.UTC), false}, // Friday 23:59 at UTC+2
		{time.Date(2026, 11, 27, 22, 0, 0, 0, time.UTC), true},   // Saturday 00:00 at UTC+2
		{time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC), false},  // Sunday 00:00 at UTC+2
	} {
		if got, _ := dev.Frozen(tt.at); got != tt.want {
			t.Errorf("Frozen(%s) = %v, want %v", tt.at.Format(time.RFC3339), got, tt.want)
		}
	}
}

// A window without a name is described by when it is: a weekly one by its
// days, times of day and time zone, so that the person refused knows when
// promotions reopen; an allow-window freeze lists the windows it allows.
func TestFrozenReasonDescribesUnnamedWindows(t *testing.T) {
	for _, tt := range []struct {
		name   string
		freeze string
		at     time.Time
		want   string
	}{
		{"weekend nights", `{days: [fri, sat, sun], from: "18:00", to: "06:00", timezone: Europe/Berlin}`,
			time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC), // Friday 21:00 in Berlin
			"environment prod is frozen: deny window weekly, Fri-Sun, 18:00 to 06:00 the next day, Europe/Berlin"},
		{"whole days", `{days: [sun, sat], timezone: America/New_York}`,
			time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC), // Saturday noon in New York
			"environment prod is frozen: deny window weekly, Sat, Sun, all day, America/New_York"},
		{"every day, no zone", `{from: "12:00", to: "13:00"}`,
			time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC),
			"environment prod is frozen: deny window weekly, every day, 12:00 to 13:00, UTC"},
		{"named", `{name: lunch, days: [mon, wed], from: "12:00", to: "13:00"}`,
			time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC), // a Wednesday
			"environment prod is frozen: deny window lunch"},
		{"outside allow windows", `{allow: true, days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", timezone: Europe/Berlin}, {name: hotfix, allow: true, days: sat, from: "10:00", to: "11:00"}`,
			time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC), // Wednesday 18:00 in Berlin
			"environment prod is frozen: outside its allow windows (weekly, Mon-Fri, 09:00 to 17:00, Europe/Berlin; hotfix)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "kind: Pipeline\nenvironments:\n  - name: prod\n    policy: p\n    freeze: [" + tt.freeze + "]\n"
			p, err := Parse("promote.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			frozen, why := p.Environments[0].Frozen(tt.at)
			if !frozen || why != tt.want {
				t.Errorf("Frozen(%s) = %v, %q; want true, %q", tt.at.Format(time.RFC3339), frozen, why, tt.want)
			}
		})
	}
}

package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
)

// PlanLine is one line of what approving a promotion sets going: a short
// label and its text.
type PlanLine struct {
	Label, Text string
}

// PlanLines words p, what approving a promotion sets going (a
// PromotionView's OnApproval), for a person: the overlay committed, then
// how the version takes traffic, a canary step a line. The web UI's
// promotion page and promote promotions show both show it.
func PlanLines(p *registry.Plan) []PlanLine {
	if p == nil {
		return nil
	}
	var out []PlanLine
	if p.Overlay != "" {
		out = append(out, PlanLine{"Commit", p.Overlay + ", pinning the version's digest"})
	} else {
		out = append(out, PlanLine{"Live", "the version becomes the environment's live version (no GitOps commit)"})
	}
	switch {
	case p.Strategy == policy.StrategyCanary && len(p.Steps) > 0:
		out = append(out, PlanLine{"Rollout", fmt.Sprintf("canary in %d steps, judged against stable at each; a failure rolls back", len(p.Steps))})
		for i, st := range p.Steps {
			var needs []string
			if st.MinDuration > 0 {
				needs = append(needs, ShortDuration(seconds(st.MinDuration)))
			}
			if st.MinRequests > 0 {
				needs = append(needs, fmt.Sprintf("%d requests", st.MinRequests))
			}
			text := fmt.Sprintf("%d%% of traffic", st.Weight)
			if len(needs) > 0 {
				text += " for at least " + strings.Join(needs, " and ")
			}
			if st.Confirm {
				text += ", then waits for a person"
			}
			out = append(out, PlanLine{fmt.Sprintf("Step %d", i+1), text})
		}
	case p.Strategy == policy.StrategyShadow && p.Shadow != nil:
		out = append(out, PlanLine{"Rollout", fmt.Sprintf("shadow: %d%% of requests mirrored to the version for %s, its answers compared with stable's and discarded; then all traffic",
			p.Shadow.Percent, ShortDuration(seconds(p.Shadow.Duration)))})
	case p.Reason != "":
		out = append(out, PlanLine{"Rollout", "direct: " + p.Reason + "; all traffic once the change is deployed"})
	default:
		out = append(out, PlanLine{"Rollout", "direct: all traffic once the change is deployed"})
	}
	return out
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

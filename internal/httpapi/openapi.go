package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/promote"
)

// The OpenAPI 3.0 document of the API, written by hand as a Go value: the
// route table in routes.go and this document are kept equal by a test, and
// the schemas are checked against the Go types' JSON fields by another.

// Document is an OpenAPI 3.0 document (the parts this API uses).
type Document struct {
	OpenAPI    string                           `json:"openapi"`
	Info       Info                             `json:"info"`
	Servers    []ServerURL                      `json:"servers"`
	Security   []SecurityRequirement            `json:"security"`
	Tags       []Tag                            `json:"tags,omitempty"`
	Paths      map[string]map[string]*Operation `json:"paths"`
	Components Components                       `json:"components"`
}

// Info is the document's info object.
type Info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// ServerURL is where the API is served; "/" is the server that serves the
// document.
type ServerURL struct {
	URL string `json:"url"`
}

// Tag groups operations.
type Tag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// SecurityRequirement names the security schemes an operation needs.
type SecurityRequirement map[string][]string

// Operation is one method on one path.
type Operation struct {
	OperationID string               `json:"operationId"`
	Summary     string               `json:"summary"`
	Description string               `json:"description,omitempty"`
	Tags        []string             `json:"tags,omitempty"`
	Parameters  []*Parameter         `json:"parameters,omitempty"`
	RequestBody *RequestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*Response `json:"responses"`
	// Security overrides the document's: an empty list makes the
	// operation public.
	Security *[]SecurityRequirement `json:"security,omitempty"`
}

// Parameter is a path or query parameter.
type Parameter struct {
	Name        string  `json:"name"`
	In          string  `json:"in"`
	Required    bool    `json:"required,omitempty"`
	Description string  `json:"description,omitempty"`
	Schema      *Schema `json:"schema"`
}

// RequestBody is an operation's body.
type RequestBody struct {
	Required bool                 `json:"required"`
	Content  map[string]MediaType `json:"content"`
}

// MediaType is the schema of a body in one content type.
type MediaType struct {
	Schema *Schema `json:"schema"`
}

// Response is one status's answer, or a reference to a shared one.
type Response struct {
	Ref         string               `json:"$ref,omitempty"`
	Description string               `json:"description,omitempty"`
	Headers     map[string]*Header   `json:"headers,omitempty"`
	Content     map[string]MediaType `json:"content,omitempty"`
}

// Header is a response header.
type Header struct {
	Description string  `json:"description,omitempty"`
	Schema      *Schema `json:"schema"`
}

// Schema is an OpenAPI 3.0 schema object (the parts this API uses).
type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Type                 string             `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	Description          string             `json:"description,omitempty"`
	Enum                 []string           `json:"enum,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	MinLength            *int               `json:"minLength,omitempty"`
	MaxLength            *int               `json:"maxLength,omitempty"`
	Minimum              *float64           `json:"minimum,omitempty"`
	Maximum              *float64           `json:"maximum,omitempty"`
	Nullable             bool               `json:"nullable,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"` // *Schema or false
	OneOf                []*Schema          `json:"oneOf,omitempty"`
	AllOf                []*Schema          `json:"allOf,omitempty"`
}

// Components holds the shared schemas, responses and security schemes.
type Components struct {
	Schemas         map[string]*Schema         `json:"schemas"`
	Responses       map[string]*Response       `json:"responses"`
	SecuritySchemes map[string]*SecurityScheme `json:"securitySchemes"`
}

// SecurityScheme is how a client authenticates.
type SecurityScheme struct {
	Type         string `json:"type"`
	Scheme       string `json:"scheme"`
	BearerFormat string `json:"bearerFormat,omitempty"`
	Description  string `json:"description,omitempty"`
}

// ---- schema helpers

func ref(name string) *Schema { return &Schema{Ref: "#/components/schemas/" + name} }
func str(desc string) *Schema { return &Schema{Type: "string", Description: desc} }
func dateTime(desc string) *Schema {
	return &Schema{Type: "string", Format: "date-time", Description: desc}
}
func integer(desc string) *Schema {
	return &Schema{Type: "integer", Format: "int64", Description: desc}
}
func number(desc string) *Schema  { return &Schema{Type: "number", Format: "double", Description: desc} }
func boolean(desc string) *Schema { return &Schema{Type: "boolean", Description: desc} }
func arrayOf(s *Schema) *Schema   { return &Schema{Type: "array", Items: s} }
func mapOf(s *Schema, desc string) *Schema {
	return &Schema{Type: "object", AdditionalProperties: s, Description: desc}
}
func enum(desc string, values ...string) *Schema {
	return &Schema{Type: "string", Enum: values, Description: desc}
}
func intPtr(n int) *int           { return &n }
func floatPtr(f float64) *float64 { return &f }
func nullable(s *Schema) *Schema  { s.Nullable = true; return s }

// name is a model, version, environment or ID: promote.ValidateName.
func name(desc string) *Schema {
	return &Schema{Type: "string", Description: desc, Pattern: `^[A-Za-z0-9][A-Za-z0-9._-]*$`,
		MinLength: intPtr(1), MaxLength: intPtr(promote.MaxNameLen)}
}

// object is a schema with properties; required lists the ones always
// present. Request bodies are closed: unknown fields are rejected.
// liveProperties are the properties of a live change (Live).
func liveProperties() map[string]*Schema {
	return map[string]*Schema{
		"model":        name(""),
		"environment":  name(""),
		"version":      name(""),
		"promotion_id": str(""),
		"set_by":       str(""),
		"set_at":       dateTime(""),
		"reason":       str("promoted, restored, or a rollback's reason"),
		"rollback_of":  str("The version a rollback replaced."),
		"commit":       str("The GitOps commit that carries the change, once it is on the deployed branch; empty until then and without GitOps."),
		"commit_error": ref("CommitError"),
	}
}

// described is s with the description desc.
func described(s *Schema, desc string) *Schema {
	s.Description = desc
	return s
}

// withProperties is props with more added.
func withProperties(props, more map[string]*Schema) map[string]*Schema {
	maps.Copy(props, more)
	return props
}

func object(desc string, required []string, props map[string]*Schema) *Schema {
	return &Schema{Type: "object", Description: desc, Properties: props, Required: required}
}

func request(desc string, required []string, props map[string]*Schema) *Schema {
	s := object(desc, required, props)
	s.AdditionalProperties = false
	return s
}

func roleNames() []string {
	out := make([]string, len(promote.Roles))
	for i, r := range promote.Roles {
		out[i] = string(r)
	}
	return out
}

func codeNames() []string {
	var out []string
	for c := range statusOf {
		out = append(out, string(c))
	}
	slices.Sort(out)
	return out
}

func schemas() map[string]*Schema {
	promotionProps := func() map[string]*Schema {
		return map[string]*Schema{
			"seq":          integer("The promotion's place in the order of requests: the cursor of GET /promotions's before and after. Absent from the answer that records the promotion; every later read has it."),
			"id":           name("The promotion's ID (pr_…)."),
			"model":        name("The model."),
			"version":      name("The version promoted."),
			"environment":  name("The target environment."),
			"digest":       str("The artifact digest (sha256:…) that approvals bind to."),
			"state":        enum("Where the promotion stands.", promote.StateNames()...),
			"requested_by": str("Who asked for it (the name on their token)."),
			"requested_at": dateTime(""),
			"updated_at":   dateTime(""),
			"baseline":     str("The version live in the environment when the gate ran."),
			"reason":       str("Why it ended, for terminal states; what it waits for otherwise."),
			"override":     boolean("An admin promoted through a freeze window."),
			"note":         str("The requester's note for the approvers, as given with the request (at most 2000 characters); absent when none was given."),
		}
	}
	viewProps := promotionProps()
	viewProps["approvals"] = arrayOf(ref("Approval"))
	viewProps["gate"] = ref("Decision")
	viewProps["dry_run"] = boolean("The answer to a dry run: nothing was recorded, and id is empty.")
	viewProps["on_approval"] = ref("Plan")
	// A dry run's answer is a PromotionView whose id is empty: a schema of
	// its own, or a client that checks answers against this document
	// would refuse it for the id a recorded promotion always has.
	dryRunProps := promotionProps()
	for k, v := range viewProps {
		dryRunProps[k] = v
	}
	dryRunProps["id"] = &Schema{Type: "string", Description: "Empty: a dry run records no promotion.", MaxLength: intPtr(0)}
	dryRunProps["dry_run"] = boolean("Always true.")
	promotionRequired := []string{"id", "model", "version", "environment", "digest", "state", "requested_by", "requested_at", "updated_at"}

	return map[string]*Schema{
		"Error": object("Every error response.", []string{"error"}, map[string]*Schema{
			"error": object("", []string{"code", "message"}, map[string]*Schema{
				"code":    enum("The error's code; each maps to one status.", codeNames()...),
				"message": str("What went wrong, safe to show a user."),
			}),
		}),
		"Health": object("", []string{"status"}, map[string]*Schema{"status": enum("", "ok", "ready")}),
		"Leader": object("Which replica runs the controllers, as the replica that answers last saw the lease (docs/leader-election.md).",
			[]string{"lease", "self", "leader"}, map[string]*Schema{
				"lease":      str("The lease's name."),
				"self":       str("The answering replica's holder name."),
				"leader":     boolean("Whether the answering replica runs the controllers."),
				"holder":     str("The leader's holder name; absent when no replica held the lease at the last look."),
				"epoch":      integer("The leader's term: it grows by one at each change of leader."),
				"expires_at": dateTime("When the term ends unless the leader renews it (the database's clock)."),
				"error":      str("The store's last failure to answer this replica's election, cleared by the next success."),
			}),
		"Environment": object("An environment of the pipeline.", []string{"name", "policy", "strategy", "frozen"}, map[string]*Schema{
			"name":          name(""),
			"from":          str("The upstream environment a version must succeed in first; absent for the first."),
			"policy":        str("The policy file that gates the environment."),
			"soak":          str("How long a version must have been live upstream, as a Go duration (24h0m0s)."),
			"auto_promote":  boolean("Whether Promote itself requests, as auto-promote, the promotion of the version that last succeeded upstream once it has soaked there; absent when not."),
			"strategy":      enum("The rollout strategy.", "direct", "canary", "shadow"),
			"overlay":       str("The GitOps overlay path."),
			"freeze":        arrayOf(ref("FreezeWindow")),
			"frozen":        boolean("Whether promotions to the environment are frozen now."),
			"frozen_reason": str("Why it is frozen."),
		}),
		"FreezeWindow": object("A deny window, or (allow) one of the only windows promotions are allowed in. Absolute (start, end) or weekly (days, from, to, timezone).", nil, map[string]*Schema{
			"name":     str(""),
			"allow":    boolean(""),
			"start":    dateTime(""),
			"end":      dateTime(""),
			"days":     arrayOf(enum("", "sun", "mon", "tue", "wed", "thu", "fri", "sat")),
			"from":     str("HH:MM"),
			"to":       str("HH:MM"),
			"timezone": str("An IANA time zone."),
		}),
		"Model": object("A registered model.", []string{"name", "created_by", "created_at"}, map[string]*Schema{
			"seq":         integer("The model's place in the order of registration: the cursor of GET /models's before and after."),
			"name":        name(""),
			"description": str(""),
			"created_by":  str(""),
			"created_at":  dateTime(""),
		}),
		"ModelDetail": object("A model and its status.", []string{"model", "status"}, map[string]*Schema{
			"model":  ref("Model"),
			"status": ref("Status"),
		}),
		"Status": object("Where a model stands.", []string{"model", "live", "promotions", "holds", "environments"}, map[string]*Schema{
			"model":        name(""),
			"live":         mapOf(ref("Live"), "The live version per environment."),
			"promotions":   arrayOf(ref("Promotion")),
			"holds":        arrayOf(ref("Hold")),
			"environments": arrayOf(str("")),
		}),
		"Lineage": object("Where a version came from.", nil, map[string]*Schema{
			"dataset_digest":    str(""),
			"code_commit":       str(""),
			"training_run":      str(""),
			"base_image_digest": str(""),
		}),
		"Signature": object("A signature over the artifact and whether it verified against a trusted key.", []string{"verified"}, map[string]*Schema{
			"signature": str("Base64 signature (cosign sign-blob)."),
			"bundle":    str("A sigstore bundle, as JSON text."),
			"verified":  boolean(""),
			"key_id":    str("The trusted key it verified with."),
			"note":      str("Why it did not verify."),
		}),
		"Version": object("A registered version with its evidence.", []string{"seq", "model", "version", "artifact_uri", "digest", "size", "metrics", "lineage", "created_by", "created_at"}, map[string]*Schema{
			"seq":           integer("The version's place in the order of registration (across models): the cursor of GET /models/{model}/versions's before and after."),
			"model":         name(""),
			"version":       name(""),
			"artifact_uri":  str(""),
			"digest":        str("sha256:<64 hex>"),
			"size":          integer("Bytes."),
			"signatures":    arrayOf(ref("Signature")),
			"metrics":       mapOf(number(""), ""),
			"checks":        mapOf(boolean(""), ""),
			"groups":        mapOf(mapOf(number(""), ""), "Per-group statistics for fairness."),
			"lineage":       ref("Lineage"),
			"created_by":    str(""),
			"created_at":    dateTime(""),
			"rejected":      boolean("Rejected versions are never promoted again."),
			"rejected_by":   str(""),
			"rejected_at":   dateTime(""),
			"reject_reason": str(""),
			"signature_now": ref("SignatureCheck"),
		}),
		"SignatureCheck": object("Whether a version's signature verifies now, with the keys the server trusts now, as the gate checks it: a key taken out of trustedKeys since the registration no longer vouches for the version, whose signatures still say they verified then. Set on every version the server answers with.", []string{"trusted", "note"}, map[string]*Schema{
			"trusted": boolean(""),
			"key_id":  str("The trusted key that verifies it now (its name in trustedKeys), when one does."),
			"note":    str("The key that verified it, or why none did."),
		}),
		"Live": object("A version becoming the live one in an environment.", []string{"model", "environment", "version", "set_by", "set_at"}, liveProperties()),
		"LiveChange": object("A change of a model's live version in an environment (a history entry), numbered, with next, the change after it, which ended it: absent while it is the newest. A history entry has no commit_error.", []string{"model", "environment", "version", "set_by", "set_at", "seq"},
			withProperties(liveProperties(), map[string]*Schema{
				"seq":  described(seqSchema(), "The change's number, in the order the changes were made: the history's page cursor."),
				"next": ref("Live"),
			})),
		"CommitError": object("Why the last attempt to commit a live change to the GitOps repository failed, while the change waits for its commit: absent when the last attempt did not fail, and once the commit lands. Only the alias (status, model) carries it, not the history.", []string{"message", "since"}, map[string]*Schema{
			"message": str("The error, e.g. the remote's refusal of the push."),
			"since":   dateTime("When the attempts began to fail."),
		}),
		"RollbackView": object("What a rollback did.", []string{"live", "rolled_back", "hold", "gitops"}, map[string]*Schema{
			"live":        ref("Live"),
			"rolled_back": name("The version that was live; it is now on hold in the environment."),
			"hold":        ref("Hold"),
			"promotion":   ref("Promotion"),
			"gitops":      boolean("Whether a GitOps commit follows; live.commit is set once it is on the branch."),
		}),
		"Promotion":     object("A request to put a version into an environment. Listings leave the gate's decision out: GET /promotions/{id} has it.", promotionRequired, promotionProps()),
		"PromotionView": object("A promotion with its approvals and the gate's decision.", append(slices.Clone(promotionRequired), "approvals"), viewProps),
		"PromotionDryRun": object("The answer to a dry run: the promotion the request would make, in the state it would be put in, with the gate's decision. Nothing was recorded, so it has no ID.",
			append(slices.DeleteFunc(slices.Clone(promotionRequired), func(f string) bool { return f == "id" }), "approvals", "dry_run"), dryRunProps),
		"Approval": object("One person's decision on a promotion.", []string{"promotion_id", "approver", "approve", "digest", "at"}, map[string]*Schema{
			"promotion_id": str(""),
			"approver":     str(""),
			"roles":        arrayOf(str("")),
			"approve":      boolean("false: a rejection."),
			"digest":       str("The artifact digest the approver saw."),
			"comment":      str(""),
			"at":           dateTime(""),
		}),
		"Decision": object("A gate's verdict with every rule's result.", []string{"allowed", "has_baseline", "results", "summary"}, map[string]*Schema{
			"allowed":      boolean(""),
			"policy":       str(""),
			"environment":  str(""),
			"has_baseline": boolean(""),
			"results":      arrayOf(ref("Result")),
			"summary":      ref("Summary"),
		}),
		"Result": object("One rule's outcome with the numbers it judged.", []string{"rule", "kind", "status", "message"}, map[string]*Schema{
			"rule":        str(""),
			"kind":        enum("", "metric", "require", "expr", "any", "all", "approvals"),
			"status":      enum("", "pass", "fail", "warn", "error"),
			"severity":    enum("", "block", "warn"),
			"description": str(""),
			"metric":      str(""),
			"candidate":   nullable(number("")),
			"baseline":    nullable(number("")),
			"actual":      {Description: "The value judged: a number or a boolean; null when there was none.", OneOf: []*Schema{{Type: "number", Nullable: true}, {Type: "boolean"}}},
			"threshold":   str(""),
			"message":     str(""),
			"line":        integer("Where the rule is written in the policy file."),
			"children":    arrayOf(ref("Result")),
			"approvals": object("On the approvals rule, how it counted: the policy's approval settings and the distinct approvers counted, in order.",
				[]string{"min", "roles", "allow_self_approval", "counted"}, map[string]*Schema{
					"min":                 integer("The distinct approvers needed."),
					"roles":               arrayOf(str("")),
					"allow_self_approval": boolean("Whether the requester may approve."),
					"counted":             arrayOf(str("")),
				}),
		}),
		"Summary": object("Results counted by status.", []string{"pass", "fail", "warn", "error"}, map[string]*Schema{
			"pass": integer(""), "fail": integer(""), "warn": integer(""), "error": integer(""),
		}),
		"Rollout": object("The progressive delivery of a committed promotion: the candidate's share of traffic, step by step, while the canary analysis judges it.",
			[]string{"promotion_id", "model", "version", "environment", "stable", "strategy", "state", "step", "weight", "started_at", "step_started_at", "updated_at", "revision"}, map[string]*Schema{
				"seq":             integer("The rollout's place in the order rollouts were started in: the cursor of GET /rollouts's before and after."),
				"promotion_id":    str(""),
				"model":           name(""),
				"version":         name("The candidate."),
				"environment":     name(""),
				"stable":          name("The version that serves the rest of the traffic."),
				"strategy":        enum("", "canary", "shadow"),
				"state":           enum("running and paused rollouts hold their environment's traffic.", "running", "paused", "succeeded", "rolled_back"),
				"step":            integer("The index of the current step of the policy's plan, from 0."),
				"weight":          number("The candidate's share of traffic, from 0 to 1."),
				"started_at":      dateTime(""),
				"step_started_at": dateTime(""),
				"updated_at":      dateTime(""),
				"reason":          str("Why it ended or paused."),
				"step_requests":   number("The canary's requests counted in the current step so far, across restarts of the server: the step moves on once they reach step_needs.min_requests and it has lasted step_needs.min_duration."),
				"step_needs":      ref("StepNeeds"),
				"revision":        integer("Counts the rollout's stored states: 1 when it started, one more at every step, pause, resumption, wait for a person and end. Each change is saved only from the revision it was made from (docs/rollouts.md); two reads with the same revision show the same state."),
				"verdict":         &Schema{Type: "object", Description: "The canary analysis's last verdict: decision, reason and every test's statistic, threshold, always-valid p-value and counts (docs/analysis-statistics.md)."},
				"next":            ref("RolloutNext"),
			}),
		"RolloutNext": object("What a person's resume (POST /api/v1/rollouts/{id}/resume) does to a canary rollout, as the server's rollout controller says by the plan it carries the rollout on with now: the environment's current policy, whose steps may differ from those step_needs.steps counted when the controller last judged the rollout (a policy edited and the server restarted). To a rollout that waits for a person (step_needs.waiting_for_person) it is their go: the next step, or the end of the rollout (last). To a paused rollout it is its resumption: step is its step again (the plan's last when the policy lost its step), at weight, its minimums (min_requests, min_duration) counted again from the resumption. Present while the rollout waits for a person or is paused, on a server that runs a rollout controller (a paused shadow, whose resumption mirrors again, has none unless refused); never stored.",
			nil, map[string]*Schema{
				"steps":        integer("The number of steps of the plan the controller carries the rollout on with. Absent when refused."),
				"last":         boolean("The go gives the candidate all traffic and ends the rollout as a success. Absent when false."),
				"step":         integer("The index, from 0, of the step the go moves the rollout to, or that the resumption of a paused rollout runs it at. Absent when 0, last or refused."),
				"weight":       integer("That step's share of traffic, in percent. Absent when last or refused."),
				"min_requests": integer("For a paused rollout's resumption, the canary requests the step it runs the rollout at needs, counted from the resumption, by the same plan (an edited policy's step may need other minimums than step_needs, stored before the edit, says). Absent when 0, for a go, and when refused."),
				"min_duration": number("For a paused rollout's resumption, the minimum time in seconds of the step it runs the rollout at, counted from the resumption, by the same plan. Absent when 0, for a go, and when refused."),
				"refused":      str("Why the controller refuses the go, or a paused rollout's resumption (answering 409), and what a person can do instead: the environment has left the pipeline, or its policy no longer rolls the rollout out as it began. Absent otherwise."),
			}),
		"Plan": object("What approving the promotion sets going, from the pipeline and the environment's rollout plan; present only while it is gated or awaits approval.",
			[]string{"strategy"}, map[string]*Schema{
				"strategy": enum("How the version takes traffic once its change is deployed: all at once, by canary steps, or mirrored as a shadow first.", "direct", "canary", "shadow"),
				"overlay":  str("The GitOps overlay whose change is committed, pinning the version's digest; absent when the server commits to no GitOps repository."),
				"reason":   str("Why the strategy is direct though the environment names canary or shadow: this server has no traffic splitter (it runs rollouts only with GitOps and the local agent), or the environment's policy has no such rollout plan. Absent otherwise."),
				"steps": arrayOf(object("A canary step.", []string{"weight", "min_duration", "min_requests"}, map[string]*Schema{
					"weight":       integer("The candidate's share of traffic, in percent."),
					"min_duration": number("The step's minimum time, in seconds."),
					"min_requests": integer("The canary requests the step needs."),
					"confirm":      boolean("The step waits for a person once its minimums are served. Absent when false."),
				})),
				"shadow": object("A shadow rollout's mirror.", []string{"duration", "percent"}, map[string]*Schema{
					"duration": number("How long traffic is mirrored, in seconds."),
					"percent":  integer("The percent of requests mirrored."),
				}),
			}),
		"StepNeeds": object("What the current step of a canary rollout needs before the rollout moves on, as the controller last judged it; absent for a shadow, and until the controller first judges the step.",
			[]string{"steps", "min_requests", "min_duration"}, map[string]*Schema{
				"steps":                integer("The number of steps of the policy's plan."),
				"min_requests":         integer("The canary's requests the step needs (step_requests counts them)."),
				"min_duration":         number("The step's minimum time in seconds, counted from step_started_at."),
				"waiting_for_requests": boolean("The step has lasted its minimum time and waits only for the canary's requests: at low traffic that can take long. Absent when false, and while the rollout is paused or over."),
				"confirm":              boolean("The step waits for a person once it has lasted its minimum time and served its minimum requests (the policy's confirm). Absent when false."),
				"waiting_for_person":   boolean("The step has served its minimum time and requests and waits for a person: the rollout stays at its weight, still judged by the analysis, until POST /api/v1/rollouts/{id}/resume moves it to the next step (or, at the last, ends it) or /promote gives the candidate all traffic. Absent when false, and while the rollout is paused or over."),
			}),
		"RolloutSample": object("One point of a rollout's history, for its chart: what each track served between the previous sample and this one, the step and weight at its time, and what the analysis decided. canary is the candidate's track: the canary, or the shadow of a shadow rollout. The controller stores one at most every few seconds while it judges, and one at every event.",
			[]string{"promotion_id", "at", "step", "weight", "stable", "canary"}, map[string]*Schema{
				"promotion_id": str(""),
				"at":           dateTime("The end of the interval."),
				"step":         integer("The index of the step of the policy's plan, from 0."),
				"weight":       number("The candidate's share of traffic, from 0 to 1."),
				"stable":       ref("TrackSample"),
				"canary":       ref("TrackSample"),
				"decision":     enum("The analysis's decision at that time; absent when it did not judge (an event decided by a person, or one at which the metrics could not be read).", "continue", "fail", "inconclusive"),
				"event":        enum("A change of the rollout at that time (step: a new step began); absent for a plain reading.", "step", "paused", "resumed", "waiting", "rolled_back", "succeeded"),
			}),
		"TrackSample": object("What one track served in a sample's interval.", []string{"requests", "errors", "latency_p95"}, map[string]*Schema{
			"requests":    number(""),
			"errors":      number("Server errors, timeouts and connection errors."),
			"latency_p95": number("The interval's 95th percentile latency in seconds, estimated from the latency histogram as Prometheus' histogram_quantile does; 0 when the track served nothing."),
		}),
		"Delivery": object("One attempt to deliver a webhook.", []string{"id", "event_id", "event_type", "endpoint", "attempt", "status", "at", "duration"}, map[string]*Schema{
			"id":         str("The delivery of one event to one endpoint; its attempts share it."),
			"event_id":   str("The event, as Promote-Webhook-Id."),
			"event_type": str(""),
			"endpoint":   str("The endpoint's name."),
			"attempt":    integer("1 for the first attempt, 2 for the first retry, and so on."),
			"status":     enum("", "delivered", "retrying", "failed"),
			"code":       integer("The HTTP status the endpoint answered, if it answered."),
			"error":      str(""),
			"at":         dateTime(""),
			"duration":   integer("The attempt's duration in nanoseconds."),
		}),
		"Hold": object("A version not to be promoted to an environment until a person clears it.", []string{"id", "model", "version", "environment", "reason", "set_by", "set_at"}, map[string]*Schema{
			"id":           integer("Assigned in the order holds are set: the cursor of GET /holds's before and after."),
			"model":        name(""),
			"version":      name(""),
			"environment":  name(""),
			"reason":       str(""),
			"set_by":       str(""),
			"set_at":       dateTime(""),
			"cleared_by":   str(""),
			"cleared_at":   dateTime(""),
			"clear_reason": str(""),
		}),
		"AuditEvent": object("One entry of the hash-chained audit log.", []string{"seq", "time", "actor", "action", "prev_hash", "hash"}, map[string]*Schema{
			"seq":          integer(""),
			"time":         dateTime(""),
			"actor":        str(""),
			"action":       str("model.created, promotion.approval, live.changed, …"),
			"model":        str(""),
			"version":      str(""),
			"environment":  str(""),
			"promotion_id": str(""),
			"token_id":     str("The ID of the API token the actor acted with (never its secret); absent for Promote's own actions and for events recorded before it was kept."),
			"digest":       str(""),
			"decision":     str("The outcome in a word."),
			"reasons":      {Description: "The gate's results or the person's stated reasons (JSON)."},
			"approvers":    arrayOf(str("")),
			"live":         mapOf(str(""), "The live version per environment after the event."),
			"policy":       ref("AuditPolicy"),
			"metrics":      ref("AuditMetrics"),
			"note":         str("On promotion.requested, the requester's note for the approvers, as written."),
			"prev_hash":    str(""),
			"hash":         str(""),
		}),
		"AuditPolicy": object("The policy that made the gate's decision an event records (on the promotion states gated, blocked, awaiting_approval and approved): its file, as the pipeline names it, and the sha256 of its bytes.", []string{"file", "digest"}, map[string]*Schema{
			"file":   str("The policy file, as the pipeline names it."),
			"name":   str("The policy's name (metadata.name), if it has one."),
			"digest": str("sha256: and the 64 hex digits of the SHA-256 of the file's bytes."),
		}),
		"AuditMetrics": object("The metrics the gate judged, by their digests (sha256: and the SHA-256 of their canonical JSON; docs/audit.md), on the same events as policy: promote audit metrics-digest FILE gives a metrics file's.", []string{"candidate"}, map[string]*Schema{
			"candidate": str("The digest of the candidate's metrics, checks and groups."),
			"baseline":  str("The digest of the baseline's, when there was a baseline."),
		}),
		"AuditLine": object("One line of the JSON Lines export: the record as stored; body is the exact text the hash covers.", []string{"seq", "prev_hash", "hash", "body"}, map[string]*Schema{
			"seq":       integer(""),
			"prev_hash": str(""),
			"hash":      str("Lower-case hex SHA-256 of prev_hash, a newline and body."),
			"body":      str(""),
		}),
		"VerifyResult": object("The outcome of verifying the audit chain. A broken chain is ok false with the first broken link.", []string{"ok", "events", "head_seq", "head_hash"}, map[string]*Schema{
			"ok":        boolean(""),
			"events":    integer("Events checked."),
			"broken":    ref("Break"),
			"head_seq":  integer("The last event verified."),
			"head_hash": str("Its hash: keep it to detect a later rewrite or truncation."),
			"after":     integer("For an export that starts after the first event (verified offline), the kept head it continues: the event before its first. Absent for a whole chain."),
		}),
		"Break": object("The first broken link of the audit chain.", []string{"seq", "kind", "message"}, map[string]*Schema{
			"seq":     integer(""),
			"kind":    enum("", "modified", "deleted", "inserted", "reordered", "truncated", "rewritten"),
			"message": str(""),
		}),
		"Token": object("An API token (never its secret).", []string{"id", "name", "role", "created_by", "created_at"}, map[string]*Schema{
			"id":         str(""),
			"name":       str("The person or system it identifies: the audit actor."),
			"role":       enum("", roleNames()...),
			"groups":     arrayOf(str("")),
			"created_by": str(""),
			"created_at": dateTime(""),
			"revoked_at": dateTime(""),
		}),
		"TokenCreated": object("A new token and its secret, shown this once.", []string{"secret", "token"}, map[string]*Schema{
			"secret": str("The bearer token (prm_…)."),
			"token":  ref("Token"),
		}),

		"CreateModelRequest": request("", []string{"name"}, map[string]*Schema{
			"name":        name(""),
			"description": &Schema{Type: "string", MaxLength: intPtr(4096)},
		}),
		"RegisterVersionRequest": request("A version and its evidence. The server computes the digest of an artifact it can read (under its artifact roots) and requires it otherwise.", []string{"version", "artifact_uri"}, map[string]*Schema{
			"model":        name("Optional; must equal the model in the path."),
			"version":      name(""),
			"artifact_uri": str(""),
			"digest":       str("sha256:<64 lower-case hex>"),
			"size":         integer(""),
			"signature":    str("Base64 signature over the artifact (cosign sign-blob)."),
			"bundle":       {Description: "A sigstore bundle, as a JSON object or as a string of its JSON.", OneOf: []*Schema{{Type: "object"}, {Type: "string"}}},
			"metrics":      {Type: "object", Description: "The metrics.json document: top-level numbers (or MLflow-style under metrics), checks and groups."},
			"lineage":      ref("Lineage"),
		}),
		"PromoteRequest": request("", []string{"model", "version", "environment"}, map[string]*Schema{
			"model":       name(""),
			"version":     name(""),
			"environment": name(""),
			"override":    boolean("An admin promotes through a freeze window; reason is then required."),
			"reason":      str("Why the freeze is overridden; given without override, it is refused rather than dropped."),
			"note":        str("A note for the approvers, at most 2000 characters: shown with the promotion, in its promotion.requested audit event and on its promotion.awaiting_approval webhooks."),
			"dry_run":     boolean("Record nothing; answer what the request would get now."),
		}),
		"ApproveRequest": request("", []string{"digest"}, map[string]*Schema{
			"digest":  str("The artifact digest the approver saw; it must be the promotion's."),
			"comment": str(""),
		}),
		"ReasonRequest": request("", nil, map[string]*Schema{"reason": str("Why, recorded in the audit log. Required where the operation says so (rejecting a version or a promotion, clearing a hold); optional otherwise.")}),
		"RolloutOpRequest": request("", nil, map[string]*Schema{
			"reason": str("Why, recorded in the audit log; optional."),
			"revision": {Type: "integer", Format: "int64", Minimum: floatPtr(0),
				Description: "The rollout's revision the operation was decided on (the revision of GET /rollouts/{id}). A rollout that has moved on since (a step, a wait for a person, another person's operation) refuses the operation with 409, naming its revision now, and nothing changes. Absent or 0: the operation applies to the rollout as it is."},
		}),
		"HoldRequest": request("", []string{"model", "version", "environment", "reason"}, map[string]*Schema{
			"model":       name(""),
			"version":     name(""),
			"environment": name(""),
			"reason":      str(""),
		}),
		"RollbackRequest": request("", []string{"model", "environment", "reason"}, map[string]*Schema{
			"model":       name(""),
			"environment": name(""),
			"to":          name("The version to return to; by default the newest earlier live version that is neither rejected nor on hold there."),
			"reason":      str("Why; the rollback commit's Reason trailer."),
		}),
		"TokenRequest": request("", []string{"name", "role"}, map[string]*Schema{
			"name":   name("The person or system the token identifies."),
			"role":   enum("", roleNames()...),
			"groups": arrayOf(name("")),
		}),
	}
}

// errorResponses are the shared error answers, by status.
var errorResponses = map[int]string{
	http.StatusBadRequest:            "BadRequest",
	http.StatusUnauthorized:          "Unauthorized",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "NotFound",
	http.StatusConflict:              "Conflict",
	http.StatusRequestEntityTooLarge: "TooLarge",
	http.StatusUnsupportedMediaType:  "UnsupportedMediaType",
	http.StatusUnprocessableEntity:   "Blocked",
	http.StatusInternalServerError:   "Internal",
	http.StatusServiceUnavailable:    "Unavailable",
}

func components() Components {
	resp := map[string]*Response{}
	desc := map[string]string{
		"BadRequest":           "Invalid input (code invalid), naming the field or value.",
		"Unauthorized":         "Missing, unknown or revoked token (code unauthorized).",
		"Forbidden":            "The token's role or groups do not allow this (code forbidden).",
		"NotFound":             "No such thing (code not_found).",
		"Conflict":             "The request collides with the current state (code conflict).",
		"TooLarge":             "The body is larger than the server's limit (code invalid).",
		"UnsupportedMediaType": "The body is not application/json (code invalid).",
		"Blocked":              "A decision blocks it (code blocked).",
		"Internal":             "An internal error; the message carries a request ID to find in the server log.",
		"Unavailable":          "Not ready, the database is unavailable (try again after Retry-After), or the request took longer than the server's timeout.",
	}
	for _, n := range errorResponses {
		resp[n] = &Response{Description: desc[n], Content: jsonContent(ref("Error"))}
	}
	resp["Unauthorized"].Headers = map[string]*Header{"WWW-Authenticate": {Description: "The scheme to authenticate with: " + authChallenge + ".", Schema: &Schema{Type: "string"}}}
	return Components{
		Schemas:   schemas(),
		Responses: resp,
		SecuritySchemes: map[string]*SecurityScheme{
			"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "prm_…",
				Description: "An API token from POST /api/v1/tokens or promote token create. Its role: viewer reads; submitter registers and requests; approver approves, rejects and holds; admin manages tokens and overrides freezes."},
		},
	}
}

func jsonContent(s *Schema) map[string]MediaType {
	return map[string]MediaType{"application/json": {Schema: s}}
}

// ---- operation helpers

func pathParam(n, desc string) *Parameter {
	return &Parameter{Name: n, In: "path", Required: true, Description: desc, Schema: name("")}
}

func queryParam(n, desc string, s *Schema) *Parameter {
	return &Parameter{Name: n, In: "query", Description: desc, Schema: s}
}

var (
	pModel     = pathParam("model", "The model's name.")
	pVersion   = pathParam("version", "The version.")
	pPromotion = pathParam("id", "The promotion's ID.")
	pToken     = pathParam("id", "The token's ID.")
	pRollout   = pathParam("id", "The ID of the promotion the rollout carries out.")
	pHold      = &Parameter{Name: "id", In: "path", Required: true, Description: "The hold's ID.", Schema: &Schema{Type: "integer", Format: "int64", Minimum: floatPtr(1)}}
	qLimit     = queryParam("limit", "The page size (default 100).", &Schema{Type: "integer", Minimum: floatPtr(1), Maximum: floatPtr(MaxLimit)})
)

// seqSchema is a sequence cursor's: a whole number, 0 (no cursor) or more.
func seqSchema() *Schema { return &Schema{Type: "integer", Format: "int64", Minimum: floatPtr(0)} }

// pageParams are the before, after and limit of a listing of items that
// pages by the cursor key (the seq of a version, for instance), newest
// first.
func pageParams(items, key string) []*Parameter {
	return []*Parameter{
		queryParam("before", fmt.Sprintf("Only %s with a smaller %s: the page before.", items, key), seqSchema()),
		queryParam("after", fmt.Sprintf("Only %s with a larger %s; with limit, the %s just after it (still newest first): the page after.", items, key, items), seqSchema()),
		qLimit,
	}
}

// pageDesc describes a listing of items (item, one of them) that pages
// by the cursor key, newest being the last stored (done: "registered").
func pageDesc(items, item, key, done string) string {
	return fmt.Sprintf("Newest is the last %s. A page at a time: at most limit %s (100 by default); the next page is before the %s of the page's last %s, until a page comes back empty.", done, items, key, item)
}

func qName(n, desc string) *Parameter { return queryParam(n, desc, name("")) }

// versionParam describes a listing's version filter, which needs model:
// a version is named within its model (promote.CheckVersionScope).
const versionParam = "Only this version of model; refused (400) without model, as a version is named within its model."

// spec describes one operation compactly; op turns it into an Operation.
type spec struct {
	id, summary, desc, tag string
	params                 []*Parameter
	body                   string // a schema name; "" for none
	status                 int    // the success status
	// also is another success status, what it means (a dry run's 200
	// beside the 201 of a created resource) and its result (nil: result).
	also       int
	alsoDesc   string
	alsoResult *Schema
	result     *Schema
	resultType string // content type of the result; application/json when ""
	errors     []int  // statuses besides the ones every operation of its kind has
	public     bool
}

func op(s spec) *Operation {
	o := &Operation{OperationID: s.id, Summary: s.summary, Description: s.desc, Parameters: s.params, Responses: map[string]*Response{}}
	if s.tag != "" {
		o.Tags = []string{s.tag}
	}
	ok := &Response{Description: http.StatusText(s.status)}
	if s.result != nil {
		ct := s.resultType
		if ct == "" {
			ct = "application/json"
		}
		ok.Content = map[string]MediaType{ct: {Schema: s.result}}
	}
	o.Responses[strconv.Itoa(s.status)] = ok
	if s.also != 0 {
		also := *ok
		also.Description = s.alsoDesc
		if s.alsoResult != nil {
			ct := s.resultType
			if ct == "" {
				ct = "application/json"
			}
			also.Content = map[string]MediaType{ct: {Schema: s.alsoResult}}
		}
		o.Responses[strconv.Itoa(s.also)] = &also
	}
	errs := slices.Clone(s.errors)
	if s.public {
		o.Security = &[]SecurityRequirement{}
	} else {
		// Every API route refuses query parameters it does not know, and
		// answers 503 when it outlives the server's request timeout.
		errs = append(errs, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusServiceUnavailable)
	}
	if s.body != "" {
		o.RequestBody = &RequestBody{Required: true, Content: jsonContent(ref(s.body))}
		errs = append(errs, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	if len(s.params) > 0 {
		errs = append(errs, http.StatusBadRequest)
	}
	errs = append(errs, http.StatusInternalServerError)
	for _, code := range errs {
		o.Responses[strconv.Itoa(code)] = &Response{Ref: "#/components/responses/" + errorResponses[code]}
	}
	return o
}

// document builds the OpenAPI document.
func document() *Document {
	paths := map[string]map[string]*Operation{}
	add := func(method, path string, s spec) {
		if paths[path] == nil {
			paths[path] = map[string]*Operation{}
		}
		paths[path][method] = op(s)
	}
	p := Prefix
	promotionResult := ref("PromotionView")

	add("get", p+"/openapi.json", spec{id: "getOpenAPI", summary: "This document", tag: "meta", status: 200, result: &Schema{Type: "object"}, errors: []int{400}, public: true})
	add("get", "/healthz", spec{id: "healthz", summary: "Whether the process is up", tag: "meta", status: 200, result: ref("Health"), public: true})
	add("get", "/readyz", spec{id: "readyz", summary: "Whether the server can serve: its store answers", desc: "One read of one row, however much the store holds, within 1s (under the readiness probe's 2s): a store that does not answer in time is a 503. The body never says why; the server's log does.", tag: "meta", status: 200, result: ref("Health"), errors: []int{503}, public: true})
	add("get", "/metrics", spec{id: "metrics", summary: "Prometheus metrics", desc: "Requests counted and timed by route pattern and status code, in the Prometheus text format.", tag: "meta", status: 200, result: &Schema{Type: "string"}, resultType: "text/plain", public: true})

	add("get", p+"/environments", spec{id: "listEnvironments", summary: "The pipeline's environments in order", tag: "environments", status: 200, result: arrayOf(ref("Environment"))})

	add("get", p+"/models", spec{id: "listModels", summary: "List models, newest first", desc: pageDesc("models", "model", "seq", "registered"), tag: "models",
		params: pageParams("models", "seq"), status: 200, result: arrayOf(ref("Model"))})
	add("post", p+"/models", spec{id: "createModel", summary: "Register a model", desc: "Needs the submitter role.", tag: "models", body: "CreateModelRequest", status: 201, result: ref("Model"), errors: []int{409}})
	add("get", p+"/models/{model}", spec{id: "getModel", summary: "A model and its status", tag: "models", params: []*Parameter{pModel}, status: 200, result: ref("ModelDetail"), errors: []int{404}})
	add("get", p+"/models/{model}/status", spec{id: "getModelStatus", summary: "A model's live versions, active promotions and holds", tag: "models", params: []*Parameter{pModel}, status: 200, result: ref("Status"), errors: []int{404}})
	add("get", p+"/models/{model}/history", spec{id: "getHistory", summary: "The changes of a model's live version in an environment, newest first",
		desc: "Newest is the last made (the latest set_at; of two at the same time, the larger seq). A page at a time: at most limit changes (100 by default); the next page is before the seq of the page's last change, until a page comes back empty. A cursor that is not a change of the model in the environment is refused (400).", tag: "models",
		params: []*Parameter{pModel, {Name: "environment", In: "query", Required: true, Description: "The environment.", Schema: name("")},
			queryParam("before", "Only the changes made before the change numbered before: the page before.", seqSchema()),
			queryParam("after", "Only the changes made after the change numbered after; with limit, the ones just after it (still newest first): the page after.", seqSchema()),
			qLimit,
		}, status: 200, result: arrayOf(ref("LiveChange")), errors: []int{404}})

	add("get", p+"/models/{model}/versions", spec{id: "listVersions", summary: "A model's versions, newest first", desc: pageDesc("versions", "version", "seq", "registered"), tag: "versions",
		params: append([]*Parameter{pModel}, pageParams("versions", "seq")...), status: 200, result: arrayOf(ref("Version")), errors: []int{404}})
	add("post", p+"/models/{model}/versions", spec{id: "registerVersion", summary: "Register a version with its evidence", desc: "Needs the submitter role. The signature is verified against the trusted keys and the metrics parsed as the gate reads them; anything wrong is a 400 naming it, and nothing is stored.",
		tag: "versions", params: []*Parameter{pModel}, body: "RegisterVersionRequest", status: 201, result: ref("Version"), errors: []int{404, 409}})
	add("get", p+"/models/{model}/versions/{version}", spec{id: "getVersion", summary: "One version", tag: "versions", params: []*Parameter{pModel, pVersion}, status: 200, result: ref("Version"), errors: []int{404}})
	add("post", p+"/models/{model}/versions/{version}/reject", spec{id: "rejectVersion", summary: "Reject a version for good", desc: "Needs the approver role and a reason. The version is put on hold in every environment and its queued promotions are cancelled.",
		tag: "versions", params: []*Parameter{pModel, pVersion}, body: "ReasonRequest", status: 200, result: ref("Version"), errors: []int{404, 409}})

	add("get", p+"/promotions", spec{id: "listPromotions", summary: "List promotions, newest first", desc: pageDesc("promotions", "promotion", "seq", "requested"), tag: "promotions", params: append([]*Parameter{
		qName("model", "Only this model."), qName("version", versionParam), qName("environment", "Only this environment."),
		queryParam("state", "Only these states, comma-separated.", &Schema{Type: "string"}),
		queryParam("active", "Only active promotions.", &Schema{Type: "boolean"}),
	}, pageParams("promotions", "seq")...), status: 200, result: arrayOf(ref("Promotion"))})
	add("post", p+"/promotions", spec{id: "requestPromotion", summary: "Request a promotion", desc: "Needs the submitter role. The target environment's gate decides at once: a blocked decision is a promotion created in state blocked (201), with every reason in gate; one that needs approvals awaits them; one that needs none succeeds and the version goes live. With dry_run, nothing is recorded (no promotion, audit event or webhook; the viewer role suffices): the answer (200) is the promotion the request would make, without an id, in the state it would be put in (blocked, awaiting_approval or approved), with the gate's decision; a request that would be refused is refused the same way.",
		tag: "promotions", body: "PromoteRequest", status: 201, also: 200, alsoDesc: "OK: a dry run; nothing was recorded", alsoResult: ref("PromotionDryRun"), result: promotionResult, errors: []int{404, 409, 422}})
	add("get", p+"/promotions/{id}", spec{id: "getPromotion", summary: "A promotion with its approvals and decision", tag: "promotions", params: []*Parameter{pPromotion}, status: 200, result: promotionResult, errors: []int{404}})
	add("post", p+"/promotions/{id}/approve", spec{id: "approvePromotion", summary: "Approve a promotion awaiting approval", desc: "Needs the approver role and any role the policy names; the requester may not approve unless the policy allows it; digest must be the promotion's. Each person counts once: a second decision is a 409.",
		tag: "promotions", params: []*Parameter{pPromotion}, body: "ApproveRequest", status: 200, result: promotionResult, errors: []int{404, 409, 422}})
	add("post", p+"/promotions/{id}/reject", spec{id: "rejectPromotion", summary: "Reject a promotion awaiting approval", desc: "Needs the approver role and a reason; the version is put on hold in the environment.",
		tag: "promotions", params: []*Parameter{pPromotion}, body: "ReasonRequest", status: 200, result: promotionResult, errors: []int{404, 409}})
	add("post", p+"/promotions/{id}/cancel", spec{id: "cancelPromotion", summary: "Withdraw a promotion that has not started rolling out", desc: "The requester or an approver; for a request of automatic promotion (requested by `auto-promote`), anyone with the submitter role.",
		tag: "promotions", params: []*Parameter{pPromotion}, body: "ReasonRequest", status: 200, result: promotionResult, errors: []int{404, 409}})

	add("get", p+"/holds", spec{id: "listHolds", summary: "List holds, newest first", desc: pageDesc("holds", "hold", "id", "set"), tag: "holds", params: append([]*Parameter{
		qName("model", "Only this model."), qName("version", versionParam), qName("environment", "Only this environment."),
		queryParam("all", "Include cleared holds.", &Schema{Type: "boolean"}),
	}, pageParams("holds", "id")...), status: 200, result: arrayOf(ref("Hold"))})
	add("post", p+"/holds", spec{id: "setHold", summary: "Put a version on hold in an environment", desc: "Needs the approver role and a reason.", tag: "holds", body: "HoldRequest", status: 201, result: ref("Hold"), errors: []int{404}})
	add("post", p+"/holds/{id}/clear", spec{id: "clearHold", summary: "Clear a hold", desc: "Needs the approver role and a reason: holds are never cleared by automation.",
		tag: "holds", params: []*Parameter{pHold}, body: "ReasonRequest", status: 200, result: ref("Hold"), errors: []int{404, 409}})

	add("post", p+"/rollbacks", spec{id: "rollback", summary: "Put an environment back on an earlier version",
		desc: "Needs the approver role and a reason. The live alias moves back at once, the version that was live is put on hold there, and an active promotion of it ends (rolled back, or cancelled before its commit). With GitOps the rollback is then committed to the environment's overlay with Rollback-Of and Reason trailers; live.commit carries the commit once it is on the branch.",
		tag:  "promotions", body: "RollbackRequest", status: 200, result: ref("RollbackView"), errors: []int{404, 409, 422}})

	add("get", p+"/rollouts", spec{id: "listRollouts", summary: "List rollouts, newest first", desc: pageDesc("rollouts", "rollout", "seq", "started"), tag: "rollouts", params: append([]*Parameter{
		qName("model", "Only this model."), qName("version", versionParam), qName("environment", "Only this environment."),
		queryParam("active", "Only running and paused rollouts.", &Schema{Type: "boolean"}),
	}, pageParams("rollouts", "seq")...), status: 200, result: arrayOf(ref("Rollout"))})
	add("get", p+"/rollouts/{id}", spec{id: "getRollout", summary: "A rollout with the analysis's last verdict", tag: "rollouts", params: []*Parameter{pRollout}, status: 200, result: ref("Rollout"), errors: []int{404}})
	add("get", p+"/rollouts/{id}/samples", spec{id: "listRolloutSamples", summary: "A rollout's samples, oldest first, for its chart",
		desc: "The counts of each track per interval, the step and weight, the analysis's decisions and the rollout's events (docs/rollouts.md). With more samples than limit, the newest limit of them.",
		tag:  "rollouts", params: []*Parameter{pRollout, queryParam("limit", fmt.Sprintf("The number of samples (default %d).", DefaultSampleLimit),
			&Schema{Type: "integer", Minimum: floatPtr(1), Maximum: floatPtr(MaxSampleLimit)})},
		status: 200, result: arrayOf(ref("RolloutSample")), errors: []int{404}})
	for _, a := range []struct{ verb, id, summary, desc string }{
		{"pause", "pauseRollout", "Hold a running rollout at its step and weight", "Needs the approver role. The candidate keeps its traffic; the rollout neither advances nor rolls back until resumed."},
		{"resume", "resumeRollout", "Continue a paused rollout at its step, or move on one that waits for a person", "Needs the approver role. A paused rollout runs again at its step, whose minimum time and requests count again from now. A running rollout whose step waits for a person (step_needs.waiting_for_person) moves to its next step at once, or, at its last step, takes all traffic and succeeds."},
		{"abort", "abortRollout", "Roll a rollout back now", "Needs the approver role. The candidate's traffic goes to 0 at once; the environment is rolled back (live alias, hold, Git commit)."},
		{"promote", "promoteRollout", "Give the candidate all traffic now and end the rollout as a success", "Needs the approver role. The remaining steps are skipped. A failure the analysis found but the store had not recorded yet is carried out first (a rollback, or a pause), and the promotion is refused with 409, naming it."},
	} {
		add("post", p+"/rollouts/{id}/"+a.verb, spec{id: a.id, summary: a.summary, desc: a.desc + " An operation the rollout's state does not allow, on a promotion whose rollout has not begun, or on a server without a rollout controller answers 409, naming the state; so does one that names a revision the rollout has moved on from, naming its revision now, and nothing changes; one on a promotion that ended without a rollout answers 400.",
			tag: "rollouts", params: []*Parameter{pRollout}, body: "RolloutOpRequest", status: 200, result: ref("Rollout"), errors: []int{400, 404, 409}})
	}

	add("get", p+"/leader", spec{id: "getLeader", summary: "Which replica runs the controllers",
		desc: "Every replica serves the API; one, elected through a lease in the database, runs the GitOps reconciler and the rollout controller. The answer is the answering replica's view of the lease: itself, whether it leads, and the leader's name and term.",
		tag:  "meta", status: 200, result: ref("Leader"), errors: []int{404}})
	add("get", p+"/webhooks/deliveries", spec{id: "listDeliveries", summary: "Webhook delivery attempts, newest first", desc: "Every attempt to deliver a webhook (docs/webhooks.md), with its status, HTTP code and error. Empty when the server sends no webhooks.",
		tag: "audit", params: []*Parameter{qLimit,
			queryParam("endpoint", "Only attempts to the endpoint of this name: any name the webhooks file takes (1 to 200 bytes, no control characters; '/', ':' and spaces included, escaped as a query value).",
				&Schema{Type: "string", MinLength: intPtr(1), MaxLength: intPtr(notify.MaxNameLen)}),
			queryParam("status", "Only attempts of this status: delivered, retrying, or failed (no further attempt will be made).", enum("", notify.Statuses()...))},
		status: 200, result: arrayOf(ref("Delivery"))})
	add("post", p+"/webhooks/deliveries/{id}/resend", spec{id: "resendDelivery", summary: "Send a failed webhook delivery again",
		desc: "Needs the admin role; audited (webhook.resent). The delivery's last attempt must have failed for good: the same event, with the same event ID, is sent again in a new series of attempts by the replica that leads, shortly after the answer (202), which is that failed attempt. A failure is re-sent once, however many ask, on whichever replica. An ID the delivery log does not hold answers 404; a delivery not failed, one already being re-sent, one to an endpoint no longer configured, or a server that sends no webhooks answers 409.",
		tag:  "audit", params: []*Parameter{pathParam("id", "The delivery's ID (dlv_…), as the delivery log shows it.")}, status: 202, result: ref("Delivery"), errors: []int{404, 409}})

	add("get", p+"/audit", spec{id: "listAudit", summary: "Audit events, newest first", tag: "audit", params: append([]*Parameter{
		qName("model", "Only this model."), qName("version", versionParam),
		qName("environment", "Only this environment."), qName("promotion", "Only this promotion."),
		queryParam("action", "Only this action, one of: "+strings.Join(promote.AuditActions, ", ")+"; another is refused.", enum("", promote.AuditActions...)),
		queryParam("actor", "Only events by this actor (a token's name, or gitops, rollout, …).", &Schema{Type: "string"}),
		queryParam("token", "Only events made with this API token, by its ID (tok_ and 16 hex digits, as the token list shows it); another form, or a token's secret, is refused.", &Schema{Type: "string", Pattern: "^tok_[0-9a-f]{16}$"}),
		queryParam("since", "Only events at or after this time (RFC 3339, such as 2026-11-01T00:00:00Z; inclusive).", &Schema{Type: "string", Format: "date-time"}),
		queryParam("until", "Only events before this time (RFC 3339; exclusive). A since after it is refused.", &Schema{Type: "string", Format: "date-time"}),
	}, pageParams("events", "sequence number")...), status: 200, result: arrayOf(ref("AuditEvent"))})
	add("get", p+"/audit/verify", spec{id: "verifyAudit", summary: "Verify the audit chain", desc: "Recomputes every hash in order. A broken chain is a 200 with ok false and the first broken link.", tag: "audit", status: 200, result: ref("VerifyResult")})
	exportOp := op(spec{id: "exportAudit", summary: "Export the audit log as JSON Lines", desc: "One AuditLine per line, in sequence order; verifiable offline with SHA-256 alone. The X-Promote-Events trailer carries the number of events; an export that fails midway is cut off, never ended cleanly. With after, the export starts at the event after it, and verifies from a head kept for that event.",
		tag: "audit", params: []*Parameter{queryParam("after", "Only the events after this sequence number, to the newest: an export that continues a head kept for this event (0, the default: every event).", seqSchema())}, status: 200, result: ref("AuditLine"), resultType: "application/x-ndjson"})
	exportOp.Responses["200"].Headers = map[string]*Header{EventsTrailer: {Description: "Trailer: the number of events written.", Schema: &Schema{Type: "integer"}}}
	paths[p+"/audit/export"] = map[string]*Operation{"get": exportOp}

	add("get", p+"/tokens", spec{id: "listTokens", summary: "List tokens", desc: "Needs the admin role.", tag: "tokens", status: 200, result: arrayOf(ref("Token"))})
	add("post", p+"/tokens", spec{id: "createToken", summary: "Create a token", desc: "Needs the admin role. The secret is in the answer this once; only its hash is stored.", tag: "tokens", body: "TokenRequest", status: 201, result: ref("TokenCreated"), errors: []int{409}})
	add("delete", p+"/tokens/{id}", spec{id: "revokeToken", summary: "Revoke a token", desc: "Needs the admin role.", tag: "tokens", params: []*Parameter{pToken}, status: 204, errors: []int{404}})

	return &Document{
		OpenAPI: "3.0.3",
		Info: Info{Title: "Promote API", Version: "v1",
			Description: "Promote moves ML model versions through environments: registration with evidence, policy gates against the baseline, approvals, holds and a hash-chained audit log. Every /api/v1 route but this document needs Authorization: Bearer <token>. Bodies are application/json, at most 1 MiB by default, one object with no unknown fields; unknown query parameters are refused too. Errors are {\"error\": {\"code\", \"message\"}} with one status per code: invalid 400, unauthorized 401, forbidden 403, not_found 404, conflict 409, blocked 422, internal 500; a request that outlives the server's timeout (30s by default) is stopped with a 503, and one that finds the database unavailable is a 503 with Retry-After."},
		Servers:  []ServerURL{{URL: "/"}},
		Security: []SecurityRequirement{{"bearer": {}}},
		Tags: []Tag{
			{Name: "environments", Description: "The pipeline: environments in order, with their upstream, soak, strategy and freeze windows."},
			{Name: "models", Description: "Registered models, their live version per environment and its history."},
			{Name: "versions", Description: "Versions of a model with their evidence: digest, signature, metrics, checks, lineage."},
			{Name: "promotions", Description: "Requests to put a version into an environment, gated by its policy and approved by people."},
			{Name: "rollouts", Description: "Progressive delivery: canary and shadow rollouts of committed promotions, judged by the sequential canary analysis."},
			{Name: "holds", Description: "Versions kept out of an environment until a person clears them."},
			{Name: "audit", Description: "The append-only, hash-chained record of every decision."},
			{Name: "tokens", Description: "API tokens and their roles."},
			{Name: "meta", Description: "The document, health, readiness and metrics."},
		},
		Paths:      paths,
		Components: components(),
	}
}

// openAPIJSON is the document as served, built once.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	b, err := json.MarshalIndent(document(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the OpenAPI document: %w", err)
	}
	return append(b, '\n'), nil
})

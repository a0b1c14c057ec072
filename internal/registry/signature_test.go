package registry_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/internal/signature"
	"github.com/promote-ml/promote/promote"
)

// The gate verifies a version's signature against the keys trusted when it
// runs, not when the version was registered: a key taken out of trustedKeys
// (rotated out, revoked after a leak) no longer vouches for what it signed.
func TestSignatureCheckedAgainstKeysTrustedNow(t *testing.T) {
	newKey := func() *ecdsa.PrivateKey {
		k, err := signature.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	other := newKey()
	tests := []struct {
		name   string
		keys   func(f *fixture) []registry.TrustedKey
		signed bool
		msg    string
	}{
		{"same key", func(f *fixture) []registry.TrustedKey {
			return []registry.TrustedKey{{ID: "cosign.pub", Key: &f.key.PublicKey}}
		}, true, "verified with trusted key cosign.pub"},
		{"rotation keeps the old key", func(f *fixture) []registry.TrustedKey {
			return []registry.TrustedKey{{ID: "new.pub", Key: &other.PublicKey}, {ID: "old.pub", Key: &f.key.PublicKey}}
		}, true, "verified with trusted key old.pub"},
		{"old key removed", func(f *fixture) []registry.TrustedKey {
			return []registry.TrustedKey{{ID: "new.pub", Key: &other.PublicKey}}
		}, false, "verified at registration with key cosign.pub, which the pipeline no longer trusts (trustedKeys in promote.yaml: it trusts new.pub)"},
		{"old key removed, the pipeline file named otherwise", func(f *fixture) []registry.TrustedKey {
			return []registry.TrustedKey{{ID: "new.pub", Key: &other.PublicKey}}
		}, false, "no longer trusts (trustedKeys in pipe.yaml: it trusts new.pub)"},
		{"another key under the old name", func(f *fixture) []registry.TrustedKey {
			return []registry.TrustedKey{{ID: "cosign.pub", Key: &other.PublicKey}}
		}, false, "which the pipeline no longer trusts"},
		{"no keys", func(f *fixture) []registry.TrustedKey { return nil }, false, "it trusts no keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.register(t, "1", goodMetrics)
			// The server restarts with the pipeline's keys changed.
			setup := registrytest.Load(t, pipelineYAML, policyYAML)
			if strings.Contains(tt.name, "named otherwise") {
				setup.Pipeline.File = "/etc/promote/pipe.yaml"
			}
			svc := setup.New(t, f.store, registry.Config{TrustedKeys: tt.keys(f),
				ArtifactRoots: []string{f.dir}, Now: f.clock})
			view, err := svc.RequestPromotion(context.Background(), submitter, registry.PromoteRequest{Model: "credit-risk", Version: "1", Environment: "dev"})
			if err != nil {
				t.Fatal(err)
			}
			var got *policy.Result
			for i, r := range view.Gate.Results {
				if r.Rule == policy.CheckArtifactSigned {
					got = &view.Gate.Results[i]
				}
			}
			if got == nil {
				t.Fatalf("no artifact_signed result in %+v", view.Gate.Results)
			}
			if pass := got.Status == policy.StatusPass; pass != tt.signed || !strings.Contains(got.Message, tt.msg) {
				t.Errorf("artifact_signed = %s %q, want pass=%v containing %q", got.Status, got.Message, tt.signed, tt.msg)
			}
			wantState := promote.StateSucceeded
			if !tt.signed {
				wantState = promote.StateBlocked
			}
			if view.State != wantState {
				t.Errorf("promotion state = %s, want %s", view.State, wantState)
			}
			// A read says what the gate says, so that no page shows
			// "verified" for a version the gate blocks.
			v, err := svc.Version(context.Background(), "credit-risk", "1")
			if err != nil {
				t.Fatal(err)
			}
			vs, err := svc.Versions(context.Background(), promote.VersionFilter{Model: "credit-risk"})
			if err != nil {
				t.Fatal(err)
			}
			for what, c := range map[string]*promote.SignatureCheck{"Version": v.SignatureNow, "Versions": vs[0].SignatureNow} {
				if c == nil || c.Trusted != tt.signed || !strings.Contains(c.Note, tt.msg) {
					t.Errorf("%s: SignatureNow = %+v, want trusted=%v with %q", what, c, tt.signed, tt.msg)
				}
			}
			if !v.Signed() {
				t.Error("the registration's verdict changed: Signed() = false")
			}
		})
	}
}

// A version registered with a Sigstore bundle is verified again from its
// bundle.
func TestBundleCheckedAgainstKeysTrustedNow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	path := f.dir + "/bundled.bin"
	if err := os.WriteFile(path, []byte("bundled weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	digest, _, _ := signature.Digest(strings.NewReader("bundled weights"))
	bundle, err := signature.NewBundle(f.key, digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RegisterVersion(ctx, submitter, registry.RegisterRequest{Model: "credit-risk", Version: "1",
		ArtifactURI: "file://" + path, Bundle: string(bundle), Metrics: []byte(goodMetrics)}); err != nil {
		t.Fatal(err)
	}
	view := f.request(t, submitter, "1", "dev")
	if view.State != promote.StateSucceeded {
		t.Errorf("promotion of a version signed by a bundle = %s, want %s; blocking: %s", view.State, promote.StateSucceeded, blockingRules(view))
	}
}

// The audit log says which trusted key verified a version's signature at
// registration, so that the versions a leaked key signed can be found there.
func TestRegistrationAuditNamesTheKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	if _, err := f.svc.RegisterVersion(ctx, submitter, registry.RegisterRequest{Model: "credit-risk", Version: "2",
		ArtifactURI: "s3://models/2.bin", Digest: "sha256:" + strings.Repeat("a", 64)}); err != nil {
		t.Fatal(err)
	}
	events, err := f.svc.AuditEvents(ctx, promote.AuditFilter{Action: promote.ActionVersionRegistered})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range events {
		got[e.Version] = e.Decision + " " + string(e.Reasons)
	}
	der, err := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keySum := sha256.Sum256(der)
	want := map[string]string{"1": `signed ["signature verified with trusted key cosign.pub (public key sha256:` + hex.EncodeToString(keySum[:]) + `)"]`, "2": "unsigned "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version.registered events (-want +got):\n%s", diff)
	}
	f.verify(t)
}

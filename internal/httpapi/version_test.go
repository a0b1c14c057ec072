package httpapi

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// TestVersionPages: GET /models/{model}/versions answers a page at a
// time, 100 by default, and a client that follows the cursor (the last
// version's seq as before, or the first's as after) walks a model's 1,200
// versions through the real client with none left out or repeated.
func TestVersionPages(t *testing.T) {
	f := newFixture(t)
	const total = 1200
	c := f.model("pager") // version "1", registered through the API
	ctx := t.Context()
	first, err := c.Version(ctx, "pager", "1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1"} // oldest first here; reversed below
	if err := f.store.Update(ctx, func(tx promote.Tx) error {
		for i := 2; i <= total; i++ {
			v := first
			v.Seq, v.Version = 0, fmt.Sprint(i)
			if err := tx.CreateVersion(v); err != nil {
				return err
			}
			want = append(want, v.Version)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}

	// The registration answers with the cursor the listing has.
	reg, err := c.RegisterVersion(ctx, registry.RegisterRequest{Model: "pager", Version: "last", ArtifactURI: "s3://models/pager/last/model.bin",
		Digest: digest1, Size: 1024, Metrics: []byte(metricsGood)})
	if err != nil {
		t.Fatal(err)
	}
	want = append([]string{"last"}, want...)

	newest, err := c.Versions(ctx, promote.VersionFilter{Model: "pager"})
	if err != nil {
		t.Fatal(err)
	}
	if len(newest) != promote.DefaultLimit || newest[0].Version != "last" || newest[0].Seq != reg.Seq || reg.Seq == 0 {
		t.Fatalf("Versions(pager) = %d versions, the first %q at seq %d; want the default page of %d, the newest first: %q at seq %d as registered",
			len(newest), newest[0].Version, newest[0].Seq, promote.DefaultLimit, "last", reg.Seq)
	}

	list := func(f promote.VersionFilter) ([]promote.Version, error) { return c.Versions(ctx, f) }
	back := storetest.WalkVersions(t, promote.VersionFilter{Model: "pager", Limit: 250}, list)
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("versions paged back 250 at a time (-want +got):\n%s", diff)
	}
	forth := storetest.WalkVersions(t, promote.VersionFilter{Model: "pager", Limit: 250, AfterSeq: first.Seq}, list)
	if diff := cmp.Diff(want[:len(want)-1], forth); diff != "" {
		t.Errorf("versions paged forth 250 at a time from version 1 (-want +got):\n%s", diff)
	}
}

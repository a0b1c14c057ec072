package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/promote-ml/promote/promote"
)

func testModels(t *testing.T, s promote.Store) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	zoned := model("zeta")
	zoned.CreatedAt = t0.In(paris) // the same instant, read back in UTC
	created := map[string]int64{}  // the sequence number CreateModel answered, by name
	update(t, s, func(tx promote.Tx) error {
		for _, m := range []promote.Model{model("fraud"), zoned, model("churn")} {
			seq, err := tx.CreateModel(m)
			if err != nil {
				return err
			}
			created[m.Name] = seq
		}
		return nil
	})
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Model("zeta")
		if err != nil {
			return err
		}
		if got.Seq <= 0 {
			t.Errorf("Model(zeta).Seq = %d, want the store's sequence number, above 0", got.Seq)
		}
		// CreateModel answers with the number a read finds.
		for name, seq := range created {
			stored, err := tx.Model(name)
			if err != nil {
				return err
			}
			if seq != stored.Seq {
				t.Errorf("CreateModel(%s) = %d, want the stored sequence number %d", name, seq, stored.Seq)
			}
		}
		if diff := cmp.Diff(zoned, got, ignoreSeq); diff != "" {
			t.Errorf("Model(zeta) mismatch (-want +got):\n%s", diff)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("Model(zeta).CreatedAt = %v, want it in UTC", got.CreatedAt)
		}
		if got.CreatedAt.Nanosecond() != t0.Nanosecond() {
			t.Errorf("Model(zeta).CreatedAt = %v, want the nanoseconds of %v", got.CreatedAt, t0)
		}
		list, err := tx.Models(promote.ModelFilter{})
		if err != nil {
			return err
		}
		want := []promote.Model{model("churn"), zoned, model("fraud")}
		if diff := cmp.Diff(want, list, ignoreSeq); diff != "" {
			t.Errorf("Models() mismatch, want them newest (the last registered) first (-want +got):\n%s", diff)
		}
		return nil
	})

	empty := model("empty")
	empty.Description, empty.CreatedAt = "", time.Time{}
	update(t, s, func(tx promote.Tx) error { _, err := tx.CreateModel(empty); return err })
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Model("empty")
		if err != nil {
			return err
		}
		if !got.CreatedAt.IsZero() || got.Description != "" {
			t.Errorf("Model(empty) = %+v, want the zero time and no description", got)
		}
		return nil
	})
}

func testVersions(t *testing.T, s promote.Store) {
	seed(t, s)
	bare := promote.Version{Model: "fraud", Version: "2.0", Digest: "sha256:00", Metrics: map[string]float64{}, CreatedAt: at(30)}
	update(t, s, func(tx promote.Tx) error { return tx.CreateVersion(bare) })

	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Version("fraud", "1.1")
		if err != nil {
			return err
		}
		if got.Seq <= 0 {
			t.Errorf("Version(fraud, 1.1).Seq = %d, want the store's sequence number, above 0", got.Seq)
		}
		if diff := cmp.Diff(version("fraud", "1.1", 2), got, ignoreSeq); diff != "" {
			t.Errorf("Version(fraud, 1.1) mismatch (-want +got):\n%s", diff)
		}
		got, err = tx.Version("fraud", "2.0")
		if err != nil {
			return err
		}
		// nil stays nil and empty stays empty.
		if diff := cmp.Diff(bare, got, ignoreSeq); diff != "" {
			t.Errorf("Version(fraud, 2.0) mismatch (-want +got):\n%s", diff)
		}
		if got.Metrics == nil || got.Checks != nil || got.Signatures != nil {
			t.Errorf("Version(fraud, 2.0) = metrics %#v, checks %#v, signatures %#v; want empty, nil, nil",
				got.Metrics, got.Checks, got.Signatures)
		}
		list, err := tx.Versions(promote.VersionFilter{Model: "fraud"})
		if err != nil {
			return err
		}
		var names []string
		for _, v := range list {
			names = append(names, v.Version)
		}
		if diff := cmp.Diff([]string{"2.0", "1.1", "1.0"}, names); diff != "" {
			t.Errorf("Versions(fraud) mismatch, want newest first (-want +got):\n%s", diff)
		}
		return nil
	})

	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreateModel(model("solo")); err != nil {
			return err
		}
		return tx.RejectVersion("fraud", "1.0", "carol", "biased", at(40))
	})
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Version("fraud", "1.0")
		if err != nil {
			return err
		}
		rejected := at(40)
		want := version("fraud", "1.0", 1)
		want.Rejected, want.RejectedBy, want.RejectedAt, want.RejectReason = true, "carol", &rejected, "biased"
		if diff := cmp.Diff(want, got, ignoreSeq); diff != "" {
			t.Errorf("Version(fraud, 1.0) after RejectVersion mismatch (-want +got):\n%s", diff)
		}
		list, err := tx.Versions(promote.VersionFilter{Model: "solo"})
		if err != nil {
			return err
		}
		if list == nil || len(list) != 0 {
			t.Errorf("Versions(solo) = %#v, want an empty list", list)
		}
		return nil
	})
}

// ignoreSeq leaves out the Seq of a version, a promotion or a rollout,
// which the store assigns, from a comparison with one as created.
var ignoreSeq = cmp.Options{cmpopts.IgnoreFields(promote.Model{}, "Seq"), cmpopts.IgnoreFields(promote.Version{}, "Seq"), cmpopts.IgnoreFields(promote.Promotion{}, "Seq"),
	cmpopts.IgnoreFields(promote.Rollout{}, "Seq")}

// testVersionPages walks a model's 1,200 versions a page at a time, back
// with BeforeSeq and forth with AfterSeq, and checks that the pages hold
// every version once, newest (the last registered) first, with another
// model's versions registered in between left out. A few versions are
// registered with an earlier time than the one before them, as a replica
// with a slow clock would: the order is registration's, the same as the
// cursors', so no page skips or repeats them.
func testVersionPages(t *testing.T, s promote.Store) {
	seed(t, s)
	const total = 1200
	var want []string // newest first
	update(t, s, func(tx promote.Tx) error {
		for i := range total {
			v := version("fraud", fmt.Sprintf("p%04d", i), 100+i)
			if i%97 == 0 {
				v.CreatedAt = at(i) // earlier than the one before it
			}
			if err := tx.CreateVersion(v); err != nil {
				return err
			}
			if i%10 == 0 {
				if err := tx.CreateVersion(version("churn", fmt.Sprintf("p%04d", i), 100+i)); err != nil {
					return err
				}
			}
			want = append([]string{v.Version}, want...)
		}
		return nil
	})
	// The seed's versions of fraud are the oldest.
	want = append(want, "1.1", "1.0")

	list := func(f promote.VersionFilter) ([]promote.Version, error) {
		var got []promote.Version
		err := s.View(t.Context(), func(tx promote.Tx) (err error) {
			got, err = tx.Versions(f)
			return err
		})
		return got, err
	}
	for _, tt := range []struct {
		limit, want int
	}{{0, promote.DefaultLimit}, {5000, 1000}} {
		if got, err := list(promote.VersionFilter{Model: "fraud", Limit: tt.limit}); err != nil || len(got) != tt.want {
			t.Errorf("Versions(fraud, Limit: %d) = %d versions, %v; want %d", tt.limit, len(got), err, tt.want)
		}
	}
	var oldest promote.Version
	view(t, s, func(tx promote.Tx) (err error) {
		oldest, err = tx.Version("fraud", "1.0")
		return err
	})
	for _, size := range []int{1, 7, 100, 1000} {
		t.Run(fmt.Sprintf("back by %d", size), func(t *testing.T) {
			got := WalkVersions(t, promote.VersionFilter{Model: "fraud", Limit: size}, list)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("versions paged back by %d (-want +got):\n%s", size, diff)
			}
		})
		t.Run(fmt.Sprintf("forth by %d", size), func(t *testing.T) {
			got := WalkVersions(t, promote.VersionFilter{Model: "fraud", Limit: size, AfterSeq: oldest.Seq}, list)
			if diff := cmp.Diff(want[:len(want)-1], got); diff != "" {
				t.Errorf("versions paged forth by %d from the oldest (-want +got):\n%s", size, diff)
			}
		})
	}
}

// WalkVersions pages through the versions of f.Model with list (a store's
// Versions, or the API's), from f's cursor to the end, as Walk does, and
// checks that every version listed is one of f.Model's. It returns the
// versions' names in the listing's order, newest first, for the caller to
// compare with every version it expects once.
func WalkVersions(t testing.TB, f promote.VersionFilter, list func(promote.VersionFilter) ([]promote.Version, error)) []string {
	t.Helper()
	vs := Walk(t, fmt.Sprintf("Versions(%+v)", f), f.AfterSeq, f.Limit, func(v promote.Version) int64 { return v.Seq },
		func(before, after int64) ([]promote.Version, error) {
			f.BeforeSeq, f.AfterSeq = before, after
			return list(f)
		})
	names := make([]string, len(vs))
	for i, v := range vs {
		if v.Model != f.Model {
			t.Fatalf("Versions(%+v) lists version %s of %q", f, v.Version, v.Model)
		}
		names[i] = v.Version
	}
	return names
}

// testModelPages walks 1,200 models a page at a time, back with BeforeSeq
// and forth with AfterSeq, and checks that the pages hold every model
// once, newest (the last registered) first, whatever their names and
// times: a few are registered with an earlier time than the one before
// them, as a replica with a slow clock would.
func testModelPages(t *testing.T, s promote.Store) {
	const total = 1200
	var want []string // newest first
	update(t, s, func(tx promote.Tx) error {
		for i := range total {
			m := model(fmt.Sprintf("m%04d", (i*7919)%total)) // names out of order
			m.CreatedAt = at(i)
			if i%97 == 0 {
				m.CreatedAt = at(0) // earlier than the one before it
			}
			if _, err := tx.CreateModel(m); err != nil {
				return err
			}
			want = append([]string{m.Name}, want...)
		}
		return nil
	})
	list := func(f promote.ModelFilter) ([]promote.Model, error) {
		var got []promote.Model
		err := s.View(t.Context(), func(tx promote.Tx) (err error) {
			got, err = tx.Models(f)
			return err
		})
		return got, err
	}
	for _, tt := range []struct {
		limit, want int
	}{{0, promote.DefaultLimit}, {5000, 1000}} {
		if got, err := list(promote.ModelFilter{Limit: tt.limit}); err != nil || len(got) != tt.want {
			t.Errorf("Models(Limit: %d) = %d models, %v; want %d", tt.limit, len(got), err, tt.want)
		}
	}
	for _, f := range []promote.ModelFilter{{Limit: -1}, {BeforeSeq: -1}, {AfterSeq: -1}} {
		if _, err := list(f); promote.ErrorCode(err) != promote.Invalid {
			t.Errorf("Models(%+v) = %v, want Invalid", f, err)
		}
	}
	var oldest promote.Model
	view(t, s, func(tx promote.Tx) (err error) {
		oldest, err = tx.Model(want[len(want)-1])
		return err
	})
	names := func(ms []promote.Model) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.Name
		}
		return out
	}
	for _, size := range []int{1, 7, 100, 1000} {
		t.Run(fmt.Sprintf("back by %d", size), func(t *testing.T) {
			got := Walk(t, "Models", 0, size, func(m promote.Model) int64 { return m.Seq }, func(before, after int64) ([]promote.Model, error) {
				return list(promote.ModelFilter{BeforeSeq: before, AfterSeq: after, Limit: size})
			})
			if diff := cmp.Diff(want, names(got)); diff != "" {
				t.Errorf("models paged back by %d (-want +got):\n%s", size, diff)
			}
		})
		t.Run(fmt.Sprintf("forth by %d", size), func(t *testing.T) {
			got := Walk(t, "Models", oldest.Seq, size, func(m promote.Model) int64 { return m.Seq }, func(before, after int64) ([]promote.Model, error) {
				return list(promote.ModelFilter{BeforeSeq: before, AfterSeq: after, Limit: size})
			})
			if diff := cmp.Diff(want[:len(want)-1], names(got)); diff != "" {
				t.Errorf("models paged forth by %d from the oldest (-want +got):\n%s", size, diff)
			}
		})
	}
}

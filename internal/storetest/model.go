package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

func testModels(t *testing.T, s promote.Store) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	zoned := model("zeta")
	zoned.CreatedAt = t0.In(paris) // the same instant, read back in UTC
	update(t, s, func(tx promote.Tx) error {
		for _, m := range []promote.Model{model("fraud"), zoned, model("churn")} {
			if err := tx.CreateModel(m); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Model("zeta")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(zoned, got); diff != "" {
			t.Errorf("Model(zeta) mismatch (-want +got):\n%s", diff)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("Model(zeta).CreatedAt = %v, want it in UTC", got.CreatedAt)
		}
		if got.CreatedAt.Nanosecond() != t0.Nanosecond() {
			t.Errorf("Model(zeta).CreatedAt = %v, want the nanoseconds of %v", got.CreatedAt, t0)
		}
		list, err := tx.Models()
		if err != nil {
			return err
		}
		want := []promote.Model{model("churn"), model("fraud"), zoned}
		if diff := cmp.Diff(want, list); diff != "" {
			t.Errorf("Models() mismatch, want them by name (-want +got):\n%s", diff)
		}
		return nil
	})

	empty := model("empty")
	empty.Description, empty.CreatedAt = "", time.Time{}
	update(t, s, func(tx promote.Tx) error { return tx.CreateModel(empty) })
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
		if diff := cmp.Diff(version("fraud", "1.1", 2), got); diff != "" {
			t.Errorf("Version(fraud, 1.1) mismatch (-want +got):\n%s", diff)
		}
		got, err = tx.Version("fraud", "2.0")
		if err != nil {
			return err
		}
		// nil stays nil and empty stays empty.
		if diff := cmp.Diff(bare, got); diff != "" {
			t.Errorf("Version(fraud, 2.0) mismatch (-want +got):\n%s", diff)
		}
		if got.Metrics == nil || got.Checks != nil || got.Signatures != nil {
			t.Errorf("Version(fraud, 2.0) = metrics %#v, checks %#v, signatures %#v; want empty, nil, nil",
				got.Metrics, got.Checks, got.Signatures)
		}
		list, err := tx.Versions("fraud")
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
		if err := tx.CreateModel(model("solo")); err != nil {
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
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Version(fraud, 1.0) after RejectVersion mismatch (-want +got):\n%s", diff)
		}
		list, err := tx.Versions("solo")
		if err != nil {
			return err
		}
		if list == nil || len(list) != 0 {
			t.Errorf("Versions(solo) = %#v, want an empty list", list)
		}
		return nil
	})
}

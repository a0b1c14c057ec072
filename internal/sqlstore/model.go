package sqlstore

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/promote-ml/promote/promote"
)

// CreateModel stores m and returns the sequence number it was given;
// Conflict when its name is taken. The conflict target is the name alone:
// a clash on any other unique column (the sequence number) fails the
// statement rather than passing for a taken name.
func (t *tx) CreateModel(m promote.Model) (int64, error) {
	what := fmt.Sprintf("create model %q", m.Name)
	if err := t.writable(what); err != nil {
		return 0, err
	}
	if err := checkTime("created_at", m.CreatedAt); err != nil {
		return 0, err
	}
	seq, ok, err := t.inserted(what, `INSERT INTO models (name, description, created_by, created_at, n)
		VALUES (?, ?, ?, ?, `+t.db.dialect.ModelNumber+`) ON CONFLICT (name) DO NOTHING RETURNING n`,
		m.Name, m.Description, m.CreatedBy, nanos(m.CreatedAt))
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, promote.Errorf(promote.Conflict, "model %q already exists", m.Name)
	}
	return seq, nil
}

const modelColumns = "n, name, description, created_by, created_at"

func scanModel(s scanner) (promote.Model, error) {
	var m promote.Model
	var at int64
	err := s.Scan(&m.Seq, &m.Name, &m.Description, &m.CreatedBy, &at)
	m.CreatedAt = fromNanos(at)
	return m, err
}

// Model returns the named model.
func (t *tx) Model(name string) (promote.Model, error) {
	return one(t, fmt.Sprintf("read model %q", name), fmt.Sprintf("model %q not found", name), scanModel,
		"SELECT "+modelColumns+" FROM models WHERE name = ?", name)
}

// Models lists the models that f selects, newest (the last registered)
// first.
func (t *tx) Models(f promote.ModelFilter) ([]promote.Model, error) {
	return listPage(t, "list models", "models", modelColumns, "n", where{}, f.BeforeSeq, f.AfterSeq, f.Limit, scanModel)
}

// modelExists returns NotFound when the model is not stored.
func (t *tx) modelExists(name string) error {
	return t.need(fmt.Sprintf("model %q", name), "SELECT 1 FROM models WHERE name = ?", name)
}

// versionExists returns NotFound when the version (or its model) is not
// stored, naming which.
func (t *tx) versionExists(model, version string) error {
	err := t.need(fmt.Sprintf("version %q of model %q", version, model),
		"SELECT 1 FROM versions WHERE model = ? AND version = ?", model, version)
	if promote.ErrorCode(err) == promote.NotFound {
		if err := t.modelExists(model); err != nil {
			return err
		}
	}
	return err
}

// CreateVersion stores v; NotFound when its model is not stored, Conflict
// when the model already has the version. The conflict target is that
// pair, UNIQUE (model, version) of migration 0001: any other unique
// violation (a sequence number taken) fails the statement, naming it.
func (t *tx) CreateVersion(v promote.Version) error {
	what := fmt.Sprintf("create version %q of model %q", v.Version, v.Model)
	if err := t.writable(what); err != nil {
		return err
	}
	if err := checkTime("created_at", v.CreatedAt); err != nil {
		return err
	}
	if v.RejectedAt != nil {
		if err := checkTime("rejected_at", *v.RejectedAt); err != nil {
			return err
		}
	}
	if err := t.modelExists(v.Model); err != nil {
		return err
	}
	var js [5]string
	for i, f := range []struct {
		name string
		v    any
	}{{"signatures", v.Signatures}, {"metrics", v.Metrics}, {"checks", v.Checks}, {"groups", v.Groups}, {"lineage", v.Lineage}} {
		s, err := toJSON(f.name, f.v)
		if err != nil {
			return err
		}
		js[i] = s
	}
	return t.insertOnce(what, promote.Errorf(promote.Conflict, "version %q of model %q already exists", v.Version, v.Model),
		`INSERT INTO versions (model, version, artifact_uri, digest, size,
		signatures, metrics, checks, group_stats, lineage, created_by, created_at,
		rejected, rejected_by, rejected_at, reject_reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model, version) DO NOTHING`,
		v.Model, v.Version, v.ArtifactURI, v.Digest, v.Size,
		js[0], js[1], js[2], js[3], js[4], v.CreatedBy, nanos(v.CreatedAt),
		v.Rejected, v.RejectedBy, nullNanos(v.RejectedAt), v.RejectReason)
}

const versionColumns = `n, model, version, artifact_uri, digest, size, signatures, metrics, checks, group_stats,
	lineage, created_by, created_at, rejected, rejected_by, rejected_at, reject_reason`

func scanVersion(s scanner) (promote.Version, error) {
	var v promote.Version
	var signatures, metrics, checks, groups, lineage string
	var at int64
	var rejectedAt sql.NullInt64
	if err := s.Scan(&v.Seq, &v.Model, &v.Version, &v.ArtifactURI, &v.Digest, &v.Size, &signatures, &metrics, &checks,
		&groups, &lineage, &v.CreatedBy, &at, &v.Rejected, &v.RejectedBy, &rejectedAt, &v.RejectReason); err != nil {
		return v, err
	}
	v.CreatedAt = fromNanos(at)
	v.RejectedAt = fromNullNanos(rejectedAt)
	for _, f := range []struct {
		name string
		s    string
		v    any
	}{{"signatures", signatures, &v.Signatures}, {"metrics", metrics, &v.Metrics}, {"checks", checks, &v.Checks},
		{"groups", groups, &v.Groups}, {"lineage", lineage, &v.Lineage}} {
		if err := fromJSON(f.name, f.s, f.v); err != nil {
			return v, err
		}
	}
	return v, nil
}

// Version returns a model's version.
func (t *tx) Version(model, version string) (promote.Version, error) {
	v, err := one(t, fmt.Sprintf("read version %q of model %q", version, model),
		fmt.Sprintf("version %q of model %q not found", version, model), scanVersion,
		"SELECT "+versionColumns+" FROM versions WHERE model = ? AND version = ?", model, version)
	if promote.ErrorCode(err) == promote.NotFound {
		// Say which is missing: the model or its version.
		if err := t.modelExists(model); err != nil {
			return v, err
		}
	}
	return v, err
}

// Versions lists the versions of f.Model that f selects, newest (the last
// registered) first; NotFound when the model is not stored.
func (t *tx) Versions(f promote.VersionFilter) ([]promote.Version, error) {
	var w where
	w.add("model = ?", f.Model)
	list, err := listPage(t, fmt.Sprintf("list versions of model %q", f.Model), "versions", versionColumns, "n", w,
		f.BeforeSeq, f.AfterSeq, f.Limit, scanVersion)
	if err == nil && len(list) == 0 {
		// A page of a model holds one of its versions at least.
		err = t.modelExists(f.Model)
	}
	return list, err
}

// RejectVersion marks a version rejected; NotFound when it is not stored,
// Conflict when it already is rejected.
func (t *tx) RejectVersion(model, version, by, reason string, at time.Time) error {
	what := fmt.Sprintf("reject version %q of model %q", version, model)
	if err := t.writable(what); err != nil {
		return err
	}
	if err := checkTime("rejected_at", at); err != nil {
		return err
	}
	ok, err := t.changed(what, `UPDATE versions SET rejected = TRUE, rejected_by = ?, rejected_at = ?, reject_reason = ?
		WHERE model = ? AND version = ? AND NOT rejected`, by, nanos(at), reason, model, version)
	if err != nil {
		return err
	}
	if !ok {
		if err := t.versionExists(model, version); err != nil {
			return err
		}
		return promote.Errorf(promote.Conflict, "version %q of model %q is already rejected", version, model)
	}
	return nil
}

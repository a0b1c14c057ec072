package webui

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/promote-ml/promote/promote"
)

// listPageSize is how many promotions, rollouts or holds a page of their
// listing shows: the API's default page.
const listPageSize = promote.DefaultLimit

// listQuery is the filters of the promotions, rollouts and holds pages: a
// version only with its model (promote.CheckVersionScope).
type listQuery struct {
	Model, Version, Environment string
}

// values are q's filters as a query string's, those set.
func (q listQuery) values() url.Values {
	v := url.Values{}
	if q.Model != "" {
		v.Set("model", q.Model)
	}
	if q.Version != "" {
		v.Set("version", q.Version)
	}
	if q.Environment != "" {
		v.Set("environment", q.Environment)
	}
	return v
}

// listView is a page of promotions, rollouts or holds (T): its filters,
// the environments to filter by, the rows, newest first, and the pager.
type listView[T any] struct {
	// Heading is the page's; Cols the number of its table's columns.
	Heading string
	Cols    int
	Q       listQuery
	Envs    []string
	Rows    []T
	Pager   pager
}

// Empty is what the table of a page without rows says.
func (v listView[T]) Empty() string {
	switch {
	case v.Pager.Newest != "":
		return "No " + v.Pager.Of + " on this page: the newest are on the first."
	case v.Q != listQuery{}:
		return "No " + v.Pager.Of + " match the filters."
	}
	return "No " + v.Pager.Of + " yet."
}

// listing serves the page (its template and nav entry, the last segment
// of its path, and what its rows are, as in "Pages of promotions") of a
// listing paged by sequence cursor, as the audit page and a model's
// versions are: listPageSize rows a page, newest first, older than
// ?before=N or just newer than ?after=N, filtered by ?model, ?version (of
// the model) and ?environment, in a table of cols columns. seq is a row's cursor and
// cursor what it is, in errors ("a hold's ID"), and list reads a page of
// the rows q selects in tx (the store's
// BeforeSeq, AfterSeq and Limit). A filter or cursor that is not one is a
// 400 naming it.
func listing[T any](u *UI, w http.ResponseWriter, r *http.Request, s *session, page, title string, cols int, cursor string, seq func(T) int64,
	list func(tx promote.Tx, q listQuery, before, after int64, limit int) ([]T, error)) error {
	qs, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return promote.Errorf(promote.Invalid, "malformed query string: %v", err)
	}
	v := listView[T]{Heading: title, Cols: cols, Envs: u.svc.Pipeline().Names(),
		Q: listQuery{Model: qs.Get("model"), Version: qs.Get("version"), Environment: qs.Get("environment")}}
	if v.Q.Model != "" {
		if err := promote.ValidateName("model name", v.Q.Model); err != nil {
			return err
		}
	}
	if v.Q.Version != "" {
		if err := promote.ValidateName("version", v.Q.Version); err != nil {
			return err
		}
		if err := promote.CheckVersionScope(v.Q.Model, v.Q.Version); err != nil {
			return err
		}
	}
	if v.Q.Environment != "" && !slices.Contains(v.Envs, v.Q.Environment) {
		return promote.Errorf(promote.Invalid, "environment %q is not in the pipeline", v.Q.Environment)
	}
	before, after, err := readCursors(qs, cursor)
	if err != nil {
		return err
	}
	err = u.store.View(r.Context(), func(tx promote.Tx) error {
		var err error
		v.Rows, v.Pager, err = seqPage(before, after, listPageSize, seq, func(before, after int64, limit int) ([]T, error) {
			return list(tx, v.Q, before, after, limit)
		}, Prefix+"/"+page, v.Q.values())
		return err
	})
	if err != nil {
		return err
	}
	v.Pager.Of = page
	u.render(w, r, s, http.StatusOK, page, title, page, v)
	return nil
}

// promotionsPage lists every promotion, newest (the last requested) first.
func (u *UI) promotionsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return listing(u, w, r, s, "promotions", "Promotions", 8, seqCursor, func(p promote.Promotion) int64 { return p.Seq },
		func(tx promote.Tx, q listQuery, before, after int64, limit int) ([]promote.Promotion, error) {
			return tx.Promotions(promote.PromotionFilter{Model: q.Model, Version: q.Version, Environment: q.Environment, BeforeSeq: before, AfterSeq: after, Limit: limit})
		})
}

// rolloutsPage lists every rollout, newest (the last started) first,
// each where it stands as the rollout controller says (withNext), as its
// promotion's page says it.
func (u *UI) rolloutsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return listing(u, w, r, s, "rollouts", "Rollouts", 8, seqCursor, func(ro promote.Rollout) int64 { return ro.Seq },
		func(tx promote.Tx, q listQuery, before, after int64, limit int) ([]promote.Rollout, error) {
			list, err := tx.Rollouts(promote.RolloutFilter{Model: q.Model, Version: q.Version, Environment: q.Environment, BeforeSeq: before, AfterSeq: after, Limit: limit})
			for i := range list {
				list[i] = u.withNext(list[i])
			}
			return list, err
		})
}

// holdsPage lists every hold, active and cleared, newest (the last set)
// first.
func (u *UI) holdsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return listing(u, w, r, s, "holds", "Holds", 7, "a hold's ID", func(h promote.Hold) int64 { return h.ID },
		func(tx promote.Tx, q listQuery, before, after int64, limit int) ([]promote.Hold, error) {
			return tx.Holds(promote.HoldFilter{Model: q.Model, Version: q.Version, Environment: q.Environment, IncludeCleared: true, BeforeSeq: before, AfterSeq: after, Limit: limit})
		})
}

// newest reads, with list, at most sectionSize of the newest rows of a
// section of a page, and, when there are more, the link to the paged list
// of them all: path with filters.
func newest[T any](filters url.Values, path string, list func(limit int) ([]T, error)) ([]T, string, error) {
	rows, err := list(sectionSize + 1)
	if err != nil || len(rows) <= sectionSize {
		return rows, "", err
	}
	return rows[:sectionSize], withQuery(path, filters), nil
}

// activePromotions reads every active promotion that f selects (at most
// one per model and environment); f's ActiveOnly, BeforeSeq and Limit are
// the pages'.
func activePromotions(tx promote.Tx, f promote.PromotionFilter) ([]promote.Promotion, error) {
	f.ActiveOnly = true
	return promote.AllPromotions(tx, f)
}

// versionHolds reads the holds of a version in env for its page: every
// active one, since each keeps the version out of env, and the newest
// cleared ones, the active first, each newest first; and, when it leaves cleared ones out, the
// link to the list of the holds that filters select.
func versionHolds(tx promote.Tx, model, version, env string, filters url.Values) ([]promote.Hold, string, error) {
	f := promote.HoldFilter{Model: model, Version: version, Environment: env}
	active, err := promote.AllHolds(tx, f)
	if err != nil {
		return nil, "", err
	}
	f.IncludeCleared = true
	recent, more, err := newest(filters, Prefix+"/holds", func(limit int) ([]promote.Hold, error) {
		f.Limit = limit
		return tx.Holds(f)
	})
	if err != nil {
		return nil, "", err
	}
	holds := active
	for _, h := range recent {
		if !h.Active() {
			holds = append(holds, h)
		}
	}
	return holds, more, nil
}

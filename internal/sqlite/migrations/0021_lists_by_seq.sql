-- Promotions, rollouts and holds are listed newest first by their
-- sequence key (n; a hold's id), the order in which the store assigned it,
-- a page at a time by a cursor on it (before, after), as the versions are
-- (0020). These indexes read a model's page without reading other models'
-- rows; an unfiltered listing reads the primary key. promotions_newest,
-- rollouts_model and rollouts_active stay for replicas of an older
-- release, which list by time, during a rolling upgrade.
CREATE INDEX promotions_by_seq ON promotions (model, n);
CREATE INDEX rollouts_by_seq ON rollouts (model, n);
CREATE INDEX holds_by_seq ON holds (model, id);

-- A model's versions are listed newest first by n, their order of
-- registration, a page at a time by a cursor on n (before, after): this
-- index reads a page without reading the model's other versions.
-- versions_newest stays for replicas of an older release, which list by
-- created_at, during a rolling upgrade.
CREATE INDEX versions_by_seq ON versions (model, n);

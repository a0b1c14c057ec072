-- Models are listed newest (the last registered) first by n, their order
-- of registration, a page at a time by a cursor on n (before, after), as
-- versions are (0020). Models registered before this migration are
-- numbered in the order of their registration time, then name; a model
-- registered since takes the identity's next number, from replicas of an
-- older release during a rolling upgrade too.
ALTER TABLE models ADD COLUMN n BIGINT;
UPDATE models SET n = o.n
	FROM (SELECT name, row_number() OVER (ORDER BY created_at, name) AS n FROM models) AS o
	WHERE models.name = o.name;
ALTER TABLE models ALTER COLUMN n SET NOT NULL;
ALTER TABLE models ALTER COLUMN n ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('models', 'n'), COALESCE(MAX(n), 0) + 1, false) FROM models;
CREATE UNIQUE INDEX models_by_seq ON models (n);

-- Models are listed newest (the last registered) first by n, their order
-- of registration, a page at a time by a cursor on n (before, after), as
-- versions are (0020). Models registered before this migration are
-- numbered in the order of their registration time, then name. A model
-- registered since takes the next number; the trigger numbers it, so that
-- the INSERT is the same on every database (PostgreSQL's n is an
-- identity column). Models are never deleted: the next number is always
-- above every one given.
ALTER TABLE models ADD COLUMN n INTEGER;
UPDATE models SET n = o.n
	FROM (SELECT name, row_number() OVER (ORDER BY created_at, name) AS n FROM models) AS o
	WHERE models.name = o.name;
CREATE UNIQUE INDEX models_by_seq ON models (n);
CREATE TRIGGER models_number AFTER INSERT ON models WHEN NEW.n IS NULL
BEGIN
	UPDATE models SET n = (SELECT COALESCE(MAX(n), 0) + 1 FROM models) WHERE name = NEW.name;
END;

-- Lists by state read only the rows in that state, newest first by their
-- sequence key (0021), rather than every promotion, rollout or hold ever
-- stored: the rollout controller's tick (committed promotions, active
-- rollouts), the web UI's pipeline page (active promotions, rollouts and
-- holds) and the API's state and active filters. Without them each of
-- these walked the whole table at every call, a cost that grew with the
-- store's history. Each serves a page by cursor either way (n < before,
-- n > after).
-- promotions_model_state keeps a model's promotions in a state (promote
-- promotions list --model M --state S) read through the model's rows in
-- that state: without it SQLite, which keeps no statistics, reads them
-- through promotions_state, every promotion in that state, rather than
-- through promotions_by_seq (0021).
CREATE INDEX promotions_state ON promotions (state, n);
CREATE INDEX promotions_model_state ON promotions (model, state, n);
CREATE INDEX promotions_active_by_seq ON promotions (n) WHERE active;
CREATE INDEX rollouts_active_by_seq ON rollouts (n) WHERE active;
CREATE INDEX holds_active_by_seq ON holds (id) WHERE cleared_at IS NULL;

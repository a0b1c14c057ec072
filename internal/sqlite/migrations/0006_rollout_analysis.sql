-- The state of a rollout's sequential analysis (analysis.Analyzer.State,
-- versioned JSON), so that a restarted server or a new leader resumes the
-- analysis with the evidence gathered so far. NULL before the first
-- judgement, and for rollouts stored before this column.
ALTER TABLE rollouts ADD COLUMN analysis_state TEXT;

-- The requester's note for the approvers, given with the request and fixed
-- from then on; '' when none was given, as for every promotion requested
-- before.
ALTER TABLE promotions ADD COLUMN note TEXT NOT NULL DEFAULT '';

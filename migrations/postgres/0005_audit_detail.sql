-- What else an audit row must say, never personal data: e.g. `fields=email,phone` for a partner's
-- correction of a case (the names of the fields changed, not their values). NULL on every older row,
-- whose hash does not cover it (see domain/audit.rs).
ALTER TABLE audit_events ADD COLUMN detail TEXT;

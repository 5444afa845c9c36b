-- A row that stands for repeated refusals from one client (aggregated) says how many; the count is
-- part of the row's hash. NULL: one event, hashed as before.
ALTER TABLE audit_events ADD COLUMN count BIGINT;

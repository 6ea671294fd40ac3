-- Child tasks: the task that delegated this one (issue 20, item 3). No index: DuckDB cannot
-- drop an indexed column inside the down's transaction, and a columnar scan of parent_id
-- serves the drill-down's children listing.
-- up
ALTER TABLE tasks ADD COLUMN parent_id VARCHAR;

-- down
-- DuckDB refuses to drop a column of a table that has an index: drop and recreate them
DROP INDEX tasks_idempotency_key;
DROP INDEX tasks_state_created;
ALTER TABLE tasks DROP COLUMN parent_id;
CREATE INDEX tasks_state_created ON tasks (state, created_at);
CREATE INDEX tasks_idempotency_key ON tasks (idempotency_key);

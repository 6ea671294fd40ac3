-- Worker protocols (agency's own, or an ag-agent-claude) and TLS verification options (issues 18, 21).
-- up
ALTER TABLE workers ADD COLUMN protocol VARCHAR DEFAULT 'agency';
ALTER TABLE workers ADD COLUMN tls JSON;
ALTER TABLE workers ADD COLUMN agent_state VARCHAR;
ALTER TABLE workers ADD COLUMN current_task VARCHAR;

-- down
ALTER TABLE workers DROP COLUMN current_task;
ALTER TABLE workers DROP COLUMN agent_state;
ALTER TABLE workers DROP COLUMN tls;
ALTER TABLE workers DROP COLUMN protocol;

-- Why a worker is unhealthy (it refuses our credential, it missed heartbeats) and whether the
-- control plane asks it to register again (issue 14): columns of WorkerInfo, so the table
-- keeps one column per model field.
-- up
ALTER TABLE workers ADD COLUMN health_reason VARCHAR;
ALTER TABLE workers ADD COLUMN register_again BOOLEAN DEFAULT false;

-- down
ALTER TABLE workers DROP COLUMN register_again;
ALTER TABLE workers DROP COLUMN health_reason;

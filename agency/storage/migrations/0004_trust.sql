-- Token expiry, last use, and rotation with a grace period (issue 21).
-- up
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_tokens ADD COLUMN last_used_at TIMESTAMPTZ;
ALTER TABLE api_tokens ADD COLUMN last_used_addr VARCHAR;
ALTER TABLE api_tokens ADD COLUMN previous_hash VARCHAR;
ALTER TABLE api_tokens ADD COLUMN previous_valid_until TIMESTAMPTZ;
ALTER TABLE api_tokens ADD COLUMN rotated_at TIMESTAMPTZ;

-- down
-- DuckDB refuses to drop a column of a table that has an index: drop and recreate it
DROP INDEX api_tokens_hash;
ALTER TABLE api_tokens DROP COLUMN rotated_at;
ALTER TABLE api_tokens DROP COLUMN previous_valid_until;
ALTER TABLE api_tokens DROP COLUMN previous_hash;
ALTER TABLE api_tokens DROP COLUMN last_used_addr;
ALTER TABLE api_tokens DROP COLUMN last_used_at;
ALTER TABLE api_tokens DROP COLUMN expires_at;
CREATE INDEX api_tokens_hash ON api_tokens (token_hash);

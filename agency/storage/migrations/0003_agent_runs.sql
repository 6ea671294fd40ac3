-- Agent runs (issue 17): per-attempt usage and cost, the stored transcript, the stored
-- workspace changes, and fleet budgets. New tables only: nothing earlier is altered, so
-- the migration stands on 0001 alone and its down drops exactly what its up made.

-- up
CREATE TABLE agent_runs (
    task_id VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    worker_id VARCHAR,
    runtime VARCHAR,
    session_id VARCHAR,
    model VARCHAR,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    cost_usd DOUBLE NOT NULL,
    cost_source VARCHAR NOT NULL,
    turns INTEGER NOT NULL,
    labels JSON NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (task_id, attempt)
);
CREATE INDEX agent_runs_finished ON agent_runs (finished_at);

CREATE TABLE transcript_items (
    task_id VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    type VARCHAR NOT NULL,
    kind VARCHAR,
    text VARCHAR,
    tool_name VARCHAR,
    tool_use_id VARCHAR,
    input JSON,
    output JSON,
    error VARCHAR,
    PRIMARY KEY (task_id, attempt, seq)
);

CREATE TABLE task_changes (
    task_id VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    method VARCHAR NOT NULL,
    root VARCHAR NOT NULL,
    files JSON NOT NULL,
    diff VARCHAR NOT NULL,
    truncated BOOLEAN NOT NULL,
    cap_bytes BIGINT NOT NULL,
    error VARCHAR,
    PRIMARY KEY (task_id, attempt)
);

CREATE TABLE budgets (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    selector JSON NOT NULL,
    period VARCHAR NOT NULL,
    cap_usd DOUBLE NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- down
DROP TABLE budgets;
DROP TABLE task_changes;
DROP TABLE transcript_items;
DROP INDEX agent_runs_finished;
DROP TABLE agent_runs;

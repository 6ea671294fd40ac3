-- The first schema: one table per model of agency/models.py, same column names.
-- dict/list fields are JSON, enums VARCHAR, datetimes TIMESTAMPTZ (UTC).

-- up
CREATE TABLE tasks (
    id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    spec JSON NOT NULL,
    labels JSON NOT NULL,
    priority INTEGER NOT NULL,
    state VARCHAR NOT NULL,
    reason VARCHAR,
    attempt INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    retry JSON NOT NULL,
    worker_id VARCHAR,
    idempotency_key VARCHAR,
    locks JSON NOT NULL,
    waiting_for JSON NOT NULL,
    gates JSON NOT NULL,
    verdict VARCHAR,
    exit_code INTEGER,
    timeout DOUBLE,
    deadline TIMESTAMPTZ,
    not_before TIMESTAMPTZ,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    dispatched_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ
);
CREATE INDEX tasks_state_created ON tasks (state, created_at);
CREATE INDEX tasks_idempotency_key ON tasks (idempotency_key);

CREATE TABLE attempts (
    task_id VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    worker_id VARCHAR,
    state VARCHAR NOT NULL,
    reason VARCHAR,
    exit_code INTEGER,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (task_id, attempt)
);

CREATE TABLE task_output (
    task_id VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    stream VARCHAR NOT NULL,
    "offset" BIGINT NOT NULL,
    data VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (task_id, attempt, stream, "offset")
);

CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    ts TIMESTAMPTZ NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    resource_type VARCHAR NOT NULL,
    resource_id VARCHAR NOT NULL,
    details JSON NOT NULL,
    verdict VARCHAR,
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL
);

CREATE TABLE workers (
    id VARCHAR PRIMARY KEY,
    url VARCHAR NOT NULL,
    kinds JSON NOT NULL,
    capacity INTEGER NOT NULL,
    labels JSON NOT NULL,
    version VARCHAR NOT NULL,
    health VARCHAR NOT NULL,
    running INTEGER NOT NULL,
    breaker VARCHAR NOT NULL,
    recent_failures INTEGER NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    last_heartbeat TIMESTAMPTZ
);

CREATE TABLE chat_sessions (
    id VARCHAR PRIMARY KEY,
    owner VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE chat_messages (
    session_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    role VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE TABLE saved_queries (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    sql VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    parameters JSON NOT NULL,
    revision INTEGER NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE saved_query_revisions (
    query_id VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    sql VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    parameters JSON NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (query_id, revision)
);

CREATE TABLE query_runs (
    id VARCHAR PRIMARY KEY,
    query_id VARCHAR,
    revision INTEGER,
    actor VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms DOUBLE NOT NULL,
    "rows" BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    error VARCHAR
);

CREATE TABLE alerts (
    id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    resource_type VARCHAR NOT NULL,
    resource_id VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by VARCHAR
);

CREATE TABLE waivers (
    id VARCHAR PRIMARY KEY,
    task_id VARCHAR NOT NULL,
    requested_by VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    decided_by VARCHAR,
    decision_reason VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ
);

CREATE TABLE runbook_runs (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    actor VARCHAR NOT NULL,
    parameters JSON NOT NULL,
    output_path VARCHAR,
    status VARCHAR NOT NULL,
    error VARCHAR,
    started_at TIMESTAMPTZ NOT NULL,
    duration_s DOUBLE
);

CREATE TABLE api_tokens (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    token_hash VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by VARCHAR NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_hash ON api_tokens (token_hash);

CREATE TABLE kpi_samples (
    ts TIMESTAMPTZ NOT NULL,
    tasks_per_min DOUBLE NOT NULL,
    success_rate DOUBLE,
    queue_p50_ms DOUBLE,
    queue_p95_ms DOUBLE,
    run_p50_ms DOUBLE,
    run_p95_ms DOUBLE,
    active_workers INTEGER NOT NULL,
    queue_depth INTEGER NOT NULL,
    running INTEGER NOT NULL,
    open_breakers INTEGER NOT NULL
);

-- down
DROP TABLE kpi_samples;
DROP INDEX api_tokens_hash;
DROP TABLE api_tokens;
DROP TABLE runbook_runs;
DROP TABLE waivers;
DROP TABLE alerts;
DROP TABLE query_runs;
DROP TABLE saved_query_revisions;
DROP TABLE saved_queries;
DROP TABLE chat_messages;
DROP TABLE chat_sessions;
DROP TABLE workers;
DROP TABLE events;
DROP TABLE task_output;
DROP TABLE attempts;
DROP INDEX tasks_idempotency_key;
DROP INDEX tasks_state_created;
DROP TABLE tasks;

-- Workflows (agency/models/workflows.py): saved definitions and their revisions, runs with
-- their version (the optimistic lock of client updates), and one row per step of a run,
-- replaced at every transition (the run's checkpoint; its events are in the hash chain).

-- up
CREATE TABLE workflows (
    name VARCHAR PRIMARY KEY,
    params JSON NOT NULL,
    steps JSON NOT NULL,
    revision INTEGER NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE workflow_revisions (
    name VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    params JSON NOT NULL,
    steps JSON NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, revision)
);

-- what a run runs, written once when it is created (the transitions do not rewrite it)
CREATE TABLE workflow_run_specs (
    run_id VARCHAR PRIMARY KEY,
    spec JSON NOT NULL,
    params JSON NOT NULL
);

CREATE TABLE workflow_runs (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    revision INTEGER,
    state VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    reason VARCHAR,
    cancel_requested BOOLEAN NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);

CREATE TABLE workflow_steps (
    run_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    task_ids JSON NOT NULL,
    attempt INTEGER NOT NULL,
    reason VARCHAR,
    outputs JSON,
    items JSON,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    decided_by VARCHAR,
    version INTEGER NOT NULL,
    PRIMARY KEY (run_id, id)
);

-- down
DROP TABLE workflow_steps;
DROP TABLE workflow_runs;
DROP TABLE workflow_run_specs;
DROP TABLE workflow_revisions;
DROP TABLE workflows;

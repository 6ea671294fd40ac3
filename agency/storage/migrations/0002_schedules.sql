-- Schedules (agency/models/schedules.py): the schedule, each revision of its configuration,
-- and every decided slot (fired with its task, or skipped with the reason).
-- A fire's key (schedule_id, slot, manual) makes a slot decidable once only.

-- up
CREATE TABLE schedules (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    cron VARCHAR NOT NULL,
    timezone VARCHAR NOT NULL,
    task JSON NOT NULL,
    overlap VARCHAR NOT NULL,
    catchup VARCHAR NOT NULL,
    max_catchup INTEGER NOT NULL,
    jitter_seconds DOUBLE NOT NULL,
    start_at TIMESTAMPTZ,
    end_at TIMESTAMPTZ,
    paused BOOLEAN NOT NULL,
    revision INTEGER NOT NULL,
    since TIMESTAMPTZ NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE schedule_revisions (
    schedule_id VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    cron VARCHAR NOT NULL,
    timezone VARCHAR NOT NULL,
    task JSON NOT NULL,
    overlap VARCHAR NOT NULL,
    catchup VARCHAR NOT NULL,
    max_catchup INTEGER NOT NULL,
    jitter_seconds DOUBLE NOT NULL,
    start_at TIMESTAMPTZ,
    end_at TIMESTAMPTZ,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (schedule_id, revision)
);

CREATE TABLE schedule_fires (
    schedule_id VARCHAR NOT NULL,
    slot TIMESTAMPTZ NOT NULL,
    manual BOOLEAN NOT NULL,
    revision INTEGER NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL,
    task_id VARCHAR,
    skipped_reason VARCHAR,
    lateness DOUBLE NOT NULL,
    PRIMARY KEY (schedule_id, slot, manual)
);

-- down
DROP TABLE schedule_fires;
DROP TABLE schedule_revisions;
DROP TABLE schedules;

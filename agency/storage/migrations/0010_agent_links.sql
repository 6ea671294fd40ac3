-- Which task of a remote agent (ag-agent-claude) runs each agency attempt, so a restarted
-- control plane polls that task again instead of orphaning it (issue 18).
-- up
CREATE TABLE agent_links (
    task_id VARCHAR PRIMARY KEY,
    attempt INTEGER NOT NULL,
    worker_id VARCHAR NOT NULL,
    agent_task VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    session_id VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);

-- down
DROP TABLE agent_links;

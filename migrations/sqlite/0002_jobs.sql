-- Durable jobs (issue 5). A job's targets are written once, when it starts, as
-- job_items; workers lease chunks of pending items, so several workers (in one
-- process or several) can share a job, and a dead worker's lease simply expires.
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT   NOT NULL CHECK (kind IN ('score', 'rescore', 'retrain', 'import')),
    status        TEXT   NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params        TEXT   NOT NULL DEFAULT '{}',
    model_id      BIGINT REFERENCES models(id),
    created_by    BIGINT REFERENCES users(id),
    token_id      BIGINT,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT,
    total         BIGINT NOT NULL DEFAULT 0,
    done          BIGINT NOT NULL DEFAULT 0,
    failed        BIGINT NOT NULL DEFAULT 0,
    error         TEXT,
    -- what the job produced, e.g. the version a retrain job trained
    result        TEXT,
    -- a retrain job's worker and its last sign of life (scoring jobs lease items)
    worker        TEXT,
    heartbeat_at  BIGINT
);
CREATE INDEX jobs_status ON jobs (status, id);

CREATE TABLE job_items (
    job_id      BIGINT NOT NULL REFERENCES jobs(id),
    email_id    BIGINT NOT NULL REFERENCES emails(id),
    status      TEXT   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    error       TEXT,
    worker      TEXT,
    lease_until BIGINT,
    PRIMARY KEY (job_id, email_id)
);
CREATE INDEX job_items_pending ON job_items (job_id, status, email_id);

-- Within a job an email is scored once, whatever crashes or races happen.
CREATE UNIQUE INDEX predictions_once_per_job ON predictions (job_id, email_id) WHERE job_id IS NOT NULL;

-- Supervisors' schedules, e.g. score what is unscored every 10 minutes.
CREATE TABLE job_schedules (
    kind           TEXT   PRIMARY KEY CHECK (kind IN ('score', 'retrain')),
    every_minutes  BIGINT NOT NULL,
    last_run_at    BIGINT,
    updated_by     BIGINT REFERENCES users(id),
    updated_at     BIGINT NOT NULL
);

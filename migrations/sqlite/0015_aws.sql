-- On AWS (issue 31): Batch Transform jobs run by Triage, and mail read from S3.
--
-- SQLite cannot change a CHECK constraint in place, so `jobs` and `job_schedules`
-- are rebuilt to admit the `transform` kind, inside the migration's transaction.
-- The rows of `job_chunks` and `job_failures` point at jobs by id: their foreign keys
-- are checked at commit (`defer_foreign_keys`), once the same ids are back.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE jobs_copy AS SELECT * FROM jobs;
DROP TABLE jobs;
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT   NOT NULL CHECK (kind IN ('score', 'rescore', 'retrain', 'import', 'transform')),
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
    -- a retrain or transform job's worker and its last sign of life (scoring jobs
    -- lease items)
    worker        TEXT,
    heartbeat_at  BIGINT,
    -- a transform job: the SageMaker job's name (chosen before it is created, so a
    -- restart finds it), where Triage is in its life, and when to look again
    transform_name  TEXT,
    transform_stage TEXT CHECK (transform_stage IN ('export', 'submit', 'follow', 'import', 'stop', 'done')),
    next_step_at    BIGINT
);
INSERT INTO jobs (id, kind, status, params, model_id, created_by, token_id, created_at,
                  started_at, finished_at, total, done, failed, error, result, worker,
                  heartbeat_at)
SELECT id, kind, status, params, model_id, created_by, token_id, created_at, started_at,
       finished_at, total, done, failed, error, result, worker, heartbeat_at FROM jobs_copy;
DROP TABLE jobs_copy;
CREATE INDEX jobs_status ON jobs (status, id);

CREATE TABLE job_schedules_copy AS SELECT * FROM job_schedules;
DROP TABLE job_schedules;
CREATE TABLE job_schedules (
    kind           TEXT   PRIMARY KEY CHECK (kind IN ('score', 'retrain', 'transform')),
    every_minutes  BIGINT NOT NULL,
    last_run_at    BIGINT,
    updated_by     BIGINT REFERENCES users(id),
    updated_at     BIGINT NOT NULL
);
INSERT INTO job_schedules SELECT kind, every_minutes, last_run_at, updated_by, updated_at
FROM job_schedules_copy;
DROP TABLE job_schedules_copy;

-- The `.out` objects of a transform job already stored: each object's predictions
-- and its row here are written in one transaction, so a restart reads on from the
-- next object and stores nothing twice.
CREATE TABLE transform_outputs (
    job_id     BIGINT NOT NULL REFERENCES jobs(id),
    object_key TEXT   NOT NULL,
    stored     BIGINT NOT NULL,
    rejected   BIGINT NOT NULL,
    stored_at  BIGINT NOT NULL,
    PRIMARY KEY (job_id, object_key)
);

-- A mailbox is read over IMAP or from an S3 bucket (the SES "deliver to S3" pattern).
ALTER TABLE mailboxes ADD COLUMN kind TEXT NOT NULL DEFAULT 'imap' CHECK (kind IN ('imap', 's3'));
ALTER TABLE mailboxes ADD COLUMN s3_bucket TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN s3_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN s3_region TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN s3_endpoint_url TEXT NOT NULL DEFAULT '';
-- queue a Batch Transform job when a sync stored new mail
ALTER TABLE mailboxes ADD COLUMN transform_after_sync BIGINT NOT NULL DEFAULT 0;

-- Every object read from a mailbox's bucket, by key and ETag: an object is stored
-- once, and one replaced under the same key (a new ETag) is read again.
CREATE TABLE s3_objects (
    mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    object_key    TEXT   NOT NULL,
    etag          TEXT   NOT NULL,
    last_modified BIGINT NOT NULL,
    email_id      BIGINT,
    -- why the object could not be stored as an email (kept in unreadable_mail)
    error         TEXT,
    read_at       BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, object_key, etag)
);

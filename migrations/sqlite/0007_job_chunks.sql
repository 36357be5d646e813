-- A job's targets as chunks of email ids, not a row per email: a job over 100,000
-- emails wrote, leased and finished 100,000 job_items rows (and their index), which
-- cost more than the built-in model's scoring itself. A chunk is leased, scored and
-- finished as one; an email that could not be scored is recorded in job_failures.
CREATE TABLE job_chunks (
    job_id      BIGINT NOT NULL REFERENCES jobs(id),
    seq         BIGINT NOT NULL,
    -- the chunk's emails, "12,13,17", fixed when the job starts
    email_ids   TEXT   NOT NULL,
    size        BIGINT NOT NULL,
    status      TEXT   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    worker      TEXT,
    lease_until BIGINT,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX job_chunks_pending ON job_chunks (job_id, status, seq);

CREATE TABLE job_failures (
    job_id   BIGINT NOT NULL REFERENCES jobs(id),
    email_id BIGINT NOT NULL REFERENCES emails(id),
    attempts BIGINT NOT NULL,
    error    TEXT   NOT NULL,
    PRIMARY KEY (job_id, email_id)
);

-- Jobs in flight keep their work: each pending item becomes a chunk of one, and
-- failed items keep their reasons.
INSERT INTO job_chunks (job_id, seq, email_ids, size, attempts)
SELECT job_id, email_id, CAST(email_id AS TEXT), 1, attempts FROM job_items WHERE status = 'pending';
INSERT INTO job_failures (job_id, email_id, attempts, error)
SELECT job_id, email_id, attempts, COALESCE(error, 'unknown') FROM job_items WHERE status = 'failed';
DROP TABLE job_items;

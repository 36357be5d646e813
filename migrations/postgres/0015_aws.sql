-- On AWS (issue 31): Batch Transform jobs run by Triage, and mail read from S3.

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('score', 'rescore', 'retrain', 'import', 'transform'));
-- a transform job: the SageMaker job's name (chosen before it is created, so a
-- restart finds it), where Triage is in its life, and when to look again
ALTER TABLE jobs ADD COLUMN transform_name TEXT;
ALTER TABLE jobs ADD COLUMN transform_stage TEXT
    CHECK (transform_stage IN ('export', 'submit', 'follow', 'import', 'stop', 'done'));
ALTER TABLE jobs ADD COLUMN next_step_at BIGINT;

ALTER TABLE job_schedules DROP CONSTRAINT job_schedules_kind_check;
ALTER TABLE job_schedules ADD CONSTRAINT job_schedules_kind_check
    CHECK (kind IN ('score', 'retrain', 'transform'));

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

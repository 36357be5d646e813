-- Mailboxes (issue 30): mail comes in over IMAP and replies leave over SMTP.
-- Passwords are sealed (domain/src/secrets.rs) with a key kept outside the database,
-- so the database file alone does not reveal them.
CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT   NOT NULL UNIQUE,
    -- replies go out from this address
    address       TEXT   NOT NULL,
    imap_host     TEXT   NOT NULL DEFAULT '',
    imap_port     BIGINT NOT NULL DEFAULT 993,
    imap_security TEXT   NOT NULL DEFAULT 'tls' CHECK (imap_security IN ('tls', 'starttls', 'none')),
    imap_user     TEXT   NOT NULL DEFAULT '',
    imap_password TEXT   NOT NULL DEFAULT '',
    -- folders to read, comma-separated
    imap_folders  TEXT   NOT NULL DEFAULT 'INBOX',
    -- seconds between polls where the server has no IDLE (and between IDLE renewals)
    poll_seconds  BIGINT NOT NULL DEFAULT 60,
    -- what happens to a message on the server once it is stored
    after_store   TEXT   NOT NULL DEFAULT 'keep' CHECK (after_store IN ('keep', 'mark_read', 'move')),
    move_to       TEXT   NOT NULL DEFAULT '',
    smtp_host     TEXT   NOT NULL DEFAULT '',
    smtp_port     BIGINT NOT NULL DEFAULT 465,
    smtp_security TEXT   NOT NULL DEFAULT 'tls' CHECK (smtp_security IN ('tls', 'starttls', 'none')),
    smtp_user     TEXT   NOT NULL DEFAULT '',
    smtp_password TEXT   NOT NULL DEFAULT '',
    -- set when the mailbox comes from triage.toml: the file wins over edits
    from_config   BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    disabled_at   BIGINT
);

-- Where reading a folder stands. A message is read once: UIDs above `last_uid` are
-- new mail; at the first connection the UIDs at and below it are read in as well,
-- newest first, down from `backfill_below` (0 once done). A new UIDVALIDITY starts
-- both again; Message-IDs keep that from storing anything twice.
CREATE TABLE mailbox_folders (
    mailbox_id     BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    folder         TEXT   NOT NULL,
    uid_validity   BIGINT,
    last_uid       BIGINT NOT NULL DEFAULT 0,
    backfill_below BIGINT NOT NULL DEFAULT 0,
    backfill_total BIGINT NOT NULL DEFAULT 0,
    backfill_done  BIGINT NOT NULL DEFAULT 0,
    stored         BIGINT NOT NULL DEFAULT 0,
    last_sync_at   BIGINT,
    last_error     TEXT,
    last_error_at  BIGINT,
    -- the process reading the folder now (several servers share one database)
    lease_owner    TEXT,
    lease_until    BIGINT,
    PRIMARY KEY (mailbox_id, folder)
);

-- A message the parser could not read, kept whole with the reason, never skipped.
CREATE TABLE unreadable_mail (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id   BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    folder       TEXT   NOT NULL,
    uid_validity BIGINT NOT NULL,
    uid          BIGINT NOT NULL,
    raw          BLOB   NOT NULL,
    error        TEXT   NOT NULL,
    received_at  BIGINT NOT NULL,
    UNIQUE (mailbox_id, folder, uid_validity, uid)
);

-- Replies on their way out. The message is written here, whole and with its
-- Message-ID, before any attempt to send it, and is sent as these exact bytes.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email_id        BIGINT NOT NULL REFERENCES emails(id),
    reply_id        BIGINT NOT NULL REFERENCES replies(id),
    mailbox_id      BIGINT NOT NULL REFERENCES mailboxes(id),
    message_id      TEXT   NOT NULL UNIQUE,
    sender          TEXT   NOT NULL,
    recipients      TEXT   NOT NULL,
    message         BLOB   NOT NULL,
    status          TEXT   NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_email ON outbox (email_id);

-- The mailbox an email came in on: its reply leaves from there.
ALTER TABLE emails ADD COLUMN mailbox_id BIGINT REFERENCES mailboxes(id);

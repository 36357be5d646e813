-- Triage's first schema. Timestamps are Unix milliseconds (BIGINT), flags are
-- nullable timestamps ("deactivated_at") rather than booleans: both cross sqlx's Any
-- driver unchanged on SQLite and PostgreSQL (docs/architecture.md).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    deactivated_at BIGINT
);

CREATE TABLE categories (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT   NOT NULL UNIQUE,
    description TEXT   NOT NULL DEFAULT '',
    color       TEXT   NOT NULL DEFAULT '#8a8f98',
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT,
    -- set when a category was merged into another; its labels were remapped
    merged_into_id BIGINT REFERENCES categories(id)
);

-- A model version: the built-in model (artifact stored here) or an endpoint.
CREATE TABLE models (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    version       TEXT   NOT NULL UNIQUE,
    kind          TEXT   NOT NULL CHECK (kind IN ('builtin', 'endpoint')),
    status        TEXT   NOT NULL DEFAULT 'candidate' CHECK (status IN ('candidate', 'active', 'retired')),
    created_at    BIGINT NOT NULL,
    created_by    BIGINT REFERENCES users(id),
    training_size BIGINT,
    dataset_hash  TEXT,
    metrics       TEXT,
    config        TEXT,
    artifact      BLOB,
    activated_at  BIGINT
);

CREATE TABLE emails (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id     TEXT   NOT NULL UNIQUE,
    in_reply_to    TEXT,
    thread_key     TEXT   NOT NULL,
    from_name      TEXT   NOT NULL DEFAULT '',
    from_address   TEXT   NOT NULL,
    to_addresses   TEXT   NOT NULL DEFAULT '',
    cc_addresses   TEXT   NOT NULL DEFAULT '',
    subject        TEXT   NOT NULL DEFAULT '',
    body_text      TEXT   NOT NULL DEFAULT '',
    body_html      TEXT,
    attachments    TEXT   NOT NULL DEFAULT '[]',
    raw            BLOB,
    raw_size       BIGINT NOT NULL DEFAULT 0,
    source         TEXT   NOT NULL,
    received_at    BIGINT NOT NULL,
    ingested_at    BIGINT NOT NULL,
    status         TEXT   NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'triaged', 'replied', 'archived')),
    assignee_id    BIGINT REFERENCES users(id),
    -- the latest prediction and label, kept on the row so the queue reads one table
    prediction_id  BIGINT,
    predicted_category_id BIGINT REFERENCES categories(id),
    confidence     DOUBLE PRECISION,
    label_category_id BIGINT REFERENCES categories(id)
);
CREATE INDEX emails_received ON emails (received_at DESC, id DESC);
CREATE INDEX emails_status_received ON emails (status, received_at DESC, id DESC);
CREATE INDEX emails_thread ON emails (thread_key);
CREATE INDEX emails_predicted ON emails (predicted_category_id);
CREATE INDEX emails_label ON emails (label_category_id);

-- Every prediction ever made, so an email's history is kept.
CREATE TABLE predictions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email_id      BIGINT NOT NULL REFERENCES emails(id),
    model_id      BIGINT REFERENCES models(id),
    model_version TEXT   NOT NULL,
    category_id   BIGINT NOT NULL REFERENCES categories(id),
    confidence    DOUBLE PRECISION NOT NULL,
    probabilities TEXT   NOT NULL,
    latency_ms    DOUBLE PRECISION,
    job_id        BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX predictions_email ON predictions (email_id, created_at);

-- Every label: a staff decision, a historical import, or an automatic accept.
CREATE TABLE labels (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email_id      BIGINT NOT NULL REFERENCES emails(id),
    category_id   BIGINT NOT NULL REFERENCES categories(id),
    source        TEXT   NOT NULL CHECK (source IN ('accepted', 'corrected', 'imported', 'auto')),
    user_id       BIGINT REFERENCES users(id),
    prediction_id BIGINT REFERENCES predictions(id),
    model_version TEXT,
    seconds_spent DOUBLE PRECISION,
    created_at    BIGINT NOT NULL,
    undone_at     BIGINT
);
CREATE INDEX labels_email ON labels (email_id, created_at);
CREATE INDEX labels_created ON labels (created_at);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    actor_user_id  BIGINT REFERENCES users(id),
    actor_token_id BIGINT,
    action      TEXT   NOT NULL,
    target_type TEXT   NOT NULL DEFAULT '',
    target_id   TEXT   NOT NULL DEFAULT '',
    details     TEXT   NOT NULL DEFAULT '{}',
    ip          TEXT
);
CREATE INDEX audit_log_at ON audit_log (at DESC);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT   NOT NULL,
    role         TEXT   NOT NULL CHECK (role IN ('ingest', 'agent', 'supervisor', 'admin')),
    token_hash   TEXT   NOT NULL UNIQUE,
    token_prefix TEXT   NOT NULL,
    created_by   BIGINT REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- tower-sessions records, shared by every process using this database.
CREATE TABLE sessions (
    id     TEXT   PRIMARY KEY,
    data   TEXT   NOT NULL,
    expiry BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry);

-- Failed sign-ins, for the login rate limit (cleared on success).
CREATE TABLE login_failures (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT   NOT NULL,
    ip       TEXT   NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX login_failures_user ON login_failures (username, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);

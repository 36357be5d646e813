-- The agents' workspace (issue 6): full-text search over the queue, reply templates,
-- the replies staff sent, and the indexes the queue's sorts and filters need.

-- Search over subject and body. An external-content FTS5 table keeps one copy of the
-- text (in emails); triggers keep the index in step.
CREATE VIRTUAL TABLE emails_fts USING fts5(
    subject, body_text, content = 'emails', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO emails_fts (emails_fts) VALUES ('rebuild');
CREATE TRIGGER emails_fts_insert AFTER INSERT ON emails BEGIN
    INSERT INTO emails_fts (rowid, subject, body_text) VALUES (new.id, new.subject, new.body_text);
END;
CREATE TRIGGER emails_fts_delete AFTER DELETE ON emails BEGIN
    INSERT INTO emails_fts (emails_fts, rowid, subject, body_text)
    VALUES ('delete', old.id, old.subject, old.body_text);
END;
CREATE TRIGGER emails_fts_update AFTER UPDATE OF subject, body_text ON emails BEGIN
    INSERT INTO emails_fts (emails_fts, rowid, subject, body_text)
    VALUES ('delete', old.id, old.subject, old.body_text);
    INSERT INTO emails_fts (rowid, subject, body_text) VALUES (new.id, new.subject, new.body_text);
END;

-- The review view: the least sure predictions of untriaged mail first.
CREATE INDEX emails_status_confidence ON emails (status, confidence, id);
CREATE INDEX emails_assignee ON emails (assignee_id, received_at DESC, id DESC);
CREATE INDEX labels_user ON labels (user_id, created_at);

-- A reply template belongs to a category (or to none: usable for any email).
-- Placeholders: {{customer_name}}, {{customer_first_name}}, {{subject}},
-- {{agent_name}}, {{references}}.
CREATE TABLE reply_templates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    category_id BIGINT REFERENCES categories(id),
    name        TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    created_by  BIGINT REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
CREATE INDEX reply_templates_category ON reply_templates (category_id);

-- The reply an agent finally used, where it came from, and how much it was edited.
CREATE TABLE replies (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    email_id        BIGINT NOT NULL REFERENCES emails(id),
    user_id         BIGINT REFERENCES users(id),
    body            TEXT   NOT NULL,
    -- 'template', 'similar', 'generated' or 'none' (written from scratch)
    suggestion_kind TEXT   NOT NULL CHECK (suggestion_kind IN ('template', 'similar', 'generated', 'none')),
    -- the template's id, or the reply's id a 'similar' suggestion reused
    suggestion_ref  BIGINT,
    -- characters changed between the suggestion and what was sent (Levenshtein)
    edit_distance   BIGINT NOT NULL DEFAULT 0,
    suggestion_length BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
CREATE INDEX replies_email ON replies (email_id, created_at);

-- The email's current label (the latest one not undone), kept on the row like its
-- category so the queue and a conflicting second label are told apart in one read.
ALTER TABLE emails ADD COLUMN label_id BIGINT;
UPDATE emails SET label_id = (
    SELECT MAX(l.id) FROM labels l WHERE l.email_id = emails.id AND l.undone_at IS NULL
);

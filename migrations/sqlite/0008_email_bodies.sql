-- An email's content (plain text, HTML, attachments, the raw message) in a table of
-- its own; `emails` keeps what lists, sorts and analytics read, and the current
-- prediction. Storing a prediction rewrites the email's row: with real mail's
-- kilobytes of body in that row, a page held one or two emails, so scoring 100,000
-- of them rewrote about as many pages. Narrow rows share a page by the dozen.
CREATE TABLE email_bodies (
    email_id    INTEGER PRIMARY KEY REFERENCES emails(id),
    body_text   TEXT   NOT NULL DEFAULT '',
    body_html   TEXT,
    attachments TEXT   NOT NULL DEFAULT '[]',
    raw         BLOB
);
INSERT INTO email_bodies (email_id, body_text, body_html, attachments, raw)
    SELECT id, body_text, body_html, attachments, raw FROM emails;

-- Search reads subject (in emails) and body (in email_bodies) through a view; the
-- index is built again from it.
DROP TRIGGER emails_fts_insert;
DROP TRIGGER emails_fts_delete;
DROP TRIGGER emails_fts_update;
DROP TABLE emails_fts;

ALTER TABLE emails DROP COLUMN body_text;
ALTER TABLE emails DROP COLUMN body_html;
ALTER TABLE emails DROP COLUMN attachments;
ALTER TABLE emails DROP COLUMN raw;

CREATE VIEW email_texts AS
    SELECT e.id, e.subject, b.body_text FROM emails e JOIN email_bodies b ON b.email_id = e.id;
CREATE VIRTUAL TABLE emails_fts USING fts5(
    subject, body_text, content = 'email_texts', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO emails_fts (emails_fts) VALUES ('rebuild');

-- An email is stored as its row, then its body: the body's arrival indexes both.
-- Neither subject nor body is ever changed afterwards.
CREATE TRIGGER email_bodies_fts_insert AFTER INSERT ON email_bodies BEGIN
    INSERT INTO emails_fts (rowid, subject, body_text)
        SELECT new.email_id, e.subject, new.body_text FROM emails e WHERE e.id = new.email_id;
    UPDATE search_generation SET n = n + 1;
END;
CREATE TRIGGER email_bodies_fts_delete BEFORE DELETE ON email_bodies BEGIN
    INSERT INTO emails_fts (emails_fts, rowid, subject, body_text)
        SELECT 'delete', old.email_id, e.subject, old.body_text FROM emails e WHERE e.id = old.email_id;
    UPDATE search_generation SET n = n + 1;
END;

-- An email's content (plain text, HTML, attachments, the raw message) in a table of
-- its own; `emails` keeps what lists, sorts and analytics read, and the current
-- prediction. Storing a prediction writes a new version of the email's row: with the
-- body and its search vector in it, that copied kilobytes per email.
CREATE TABLE email_bodies (
    email_id    BIGINT PRIMARY KEY REFERENCES emails(id),
    body_text   TEXT   NOT NULL DEFAULT '',
    body_html   TEXT,
    attachments TEXT   NOT NULL DEFAULT '[]',
    raw         BYTEA,
    -- subject and body ('simple': no stemming, so any language matches as typed);
    -- set by the trigger below, because the subject lives in emails. Never selected
    -- (the Any driver has no tsvector type); only matched with @@.
    search      tsvector
);
INSERT INTO email_bodies (email_id, body_text, body_html, attachments, raw, search)
    SELECT id, body_text, body_html, attachments, raw, search FROM emails;
CREATE INDEX email_bodies_search ON email_bodies USING GIN (search);

-- An email is stored as its row, then its body; neither subject nor body is ever
-- changed afterwards.
CREATE FUNCTION email_bodies_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('simple',
        (SELECT subject FROM emails WHERE id = NEW.email_id) || ' ' || left(NEW.body_text, 200000));
    RETURN NEW;
END
$$;
CREATE TRIGGER email_bodies_search BEFORE INSERT OR UPDATE OF body_text ON email_bodies
    FOR EACH ROW EXECUTE FUNCTION email_bodies_search();

ALTER TABLE emails DROP COLUMN search;
ALTER TABLE emails DROP COLUMN body_text;
ALTER TABLE emails DROP COLUMN body_html;
ALTER TABLE emails DROP COLUMN attachments;
ALTER TABLE emails DROP COLUMN raw;

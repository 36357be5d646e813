-- A counter that moves whenever the full-text index changes (an email added, removed,
-- or its subject or body edited), so the server can keep which emails a search
-- matches in memory until then (domain/src/search_hits.rs).
CREATE TABLE search_generation (n BIGINT NOT NULL);
INSERT INTO search_generation (n) VALUES (0);

DROP TRIGGER emails_fts_insert;
DROP TRIGGER emails_fts_delete;
DROP TRIGGER emails_fts_update;
CREATE TRIGGER emails_fts_insert AFTER INSERT ON emails BEGIN
    INSERT INTO emails_fts (rowid, subject, body_text) VALUES (new.id, new.subject, new.body_text);
    UPDATE search_generation SET n = n + 1;
END;
CREATE TRIGGER emails_fts_delete AFTER DELETE ON emails BEGIN
    INSERT INTO emails_fts (emails_fts, rowid, subject, body_text)
    VALUES ('delete', old.id, old.subject, old.body_text);
    UPDATE search_generation SET n = n + 1;
END;
CREATE TRIGGER emails_fts_update AFTER UPDATE OF subject, body_text ON emails BEGIN
    INSERT INTO emails_fts (emails_fts, rowid, subject, body_text)
    VALUES ('delete', old.id, old.subject, old.body_text);
    INSERT INTO emails_fts (rowid, subject, body_text) VALUES (new.id, new.subject, new.body_text);
    UPDATE search_generation SET n = n + 1;
END;

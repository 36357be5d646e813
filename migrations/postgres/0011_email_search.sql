-- The search vector in a narrow table of its own (issue 34, PostgreSQL's search
-- views on real mail). A queue search either walks the newest emails and tests each
-- one's vector, or asks the GIN index for every match and reads their rows
-- (queue::push_conditions decides); both read the vectors' table. Beside the
-- bodies, a vector was a TOAST pointer into a 400 MB table; here the vectors are
-- kept in line, compressed (STORAGE MAIN), so 100,000 real emails take 175 MB that
-- stay in the cache: "razor" in the medium confidence band 118 ms → 58 ms cold,
-- "python" in the high band 85 ms → 12 ms.
CREATE TABLE email_search (
    email_id BIGINT PRIMARY KEY REFERENCES emails(id),
    search   tsvector NOT NULL
);
ALTER TABLE email_search ALTER COLUMN search SET STORAGE MAIN;
-- lz4 decompresses faster than the default pglz; a server built without it keeps
-- pglz.
DO $$
BEGIN
    ALTER TABLE email_search ALTER COLUMN search SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'lz4 is not available; the search vectors use pglz';
END
$$;
INSERT INTO email_search (email_id, search)
    SELECT email_id, COALESCE(search, ''::tsvector) FROM email_bodies;
CREATE INDEX email_search_gin ON email_search USING GIN (search);

DROP TRIGGER email_bodies_search ON email_bodies;
DROP FUNCTION email_bodies_search();
ALTER TABLE email_bodies DROP COLUMN search;

-- An email is stored as its row, then its body; the vector follows the body.
CREATE FUNCTION email_search_from_body() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO email_search (email_id, search)
    VALUES (NEW.email_id, to_tsvector('simple',
        (SELECT subject FROM emails WHERE id = NEW.email_id) || ' ' || left(NEW.body_text, 200000)))
    ON CONFLICT (email_id) DO UPDATE SET search = excluded.search;
    RETURN NULL;
END
$$;
CREATE TRIGGER email_search_from_body AFTER INSERT OR UPDATE OF body_text ON email_bodies
    FOR EACH ROW EXECUTE FUNCTION email_search_from_body();

-- The category view with a confidence band: the band is tested in the index rather
-- than on each email's row (as migration 0009 did for the plain queue). The
-- expression must stay exactly the one queue::push_conditions writes.
CREATE INDEX emails_category_received_confidence
    ON emails (COALESCE(label_category_id, predicted_category_id), received_at DESC, id DESC, confidence);
DROP INDEX emails_category_received;

-- Accounts (issue 32). Timestamps rather than booleans, as everywhere: both cross
-- sqlx's Any driver the same way on SQLite and PostgreSQL.
-- Set when a password was given to the person by someone else (an invitation, an
-- admin's reset): they must choose their own at their next sign-in. NULL otherwise.
ALTER TABLE users ADD COLUMN password_change_required_at BIGINT;
-- A session that began before this moment is over: a password change, a
-- deactivation or "sign out everywhere" sets it to now.
ALTER TABLE users ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0;
-- A label posted with an API token names the token (and through it, its owner).
ALTER TABLE labels ADD COLUMN token_id BIGINT REFERENCES api_tokens(id);

-- Settings supervisors change in the app, one row per key (the drift alert's level
-- and window, and whether the alert is currently raised, so it is logged once).
CREATE TABLE app_settings (
    key        TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_by BIGINT REFERENCES users(id),
    updated_at BIGINT NOT NULL
);

-- Auto-accept: a prediction of this category at or above this confidence is accepted
-- without a person (a label with source 'auto'); NULL: never.
ALTER TABLE categories ADD COLUMN auto_accept_threshold DOUBLE PRECISION;

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

-- What the prediction a label answered said, copied onto the label when it is
-- written: judging the model (agreement, confusion, calibration, drift) then reads
-- the labels alone. A trigger fills it, whoever writes the label.
ALTER TABLE labels ADD COLUMN predicted_category_id BIGINT;
ALTER TABLE labels ADD COLUMN predicted_confidence DOUBLE PRECISION;
UPDATE labels SET
    predicted_category_id = (SELECT p.category_id FROM predictions p WHERE p.id = labels.prediction_id),
    predicted_confidence = (SELECT p.confidence FROM predictions p WHERE p.id = labels.prediction_id),
    model_version = COALESCE(model_version, (SELECT p.model_version FROM predictions p WHERE p.id = labels.prediction_id))
WHERE prediction_id IS NOT NULL;
CREATE TRIGGER labels_prediction AFTER INSERT ON labels WHEN new.prediction_id IS NOT NULL BEGIN
    UPDATE labels SET
        predicted_category_id = (SELECT p.category_id FROM predictions p WHERE p.id = new.prediction_id),
        predicted_confidence = (SELECT p.confidence FROM predictions p WHERE p.id = new.prediction_id),
        model_version = COALESCE(new.model_version, (SELECT p.model_version FROM predictions p WHERE p.id = new.prediction_id))
    WHERE id = new.id;
END;

-- Analytics read these columns for up to every email and label of a period. The
-- indexes hold them, so a view reads an index instead of the wide rows (on SQLite
-- a column after the raw message costs a walk through its overflow pages).
CREATE INDEX emails_received_categories ON emails (received_at, label_category_id, predicted_category_id);
CREATE INDEX emails_status_categories ON emails (status, received_at, label_category_id, predicted_category_id);
CREATE INDEX emails_predicted_confidence ON emails (predicted_category_id, confidence);
CREATE INDEX labels_created_staff ON labels (created_at, source, undone_at, user_id, seconds_spent, category_id, predicted_category_id, predicted_confidence, model_version);
CREATE INDEX labels_source_email ON labels (source, undone_at, email_id, created_at);
-- An email's arrival by its id without reading the row (time to first label).
CREATE INDEX emails_id_received ON emails (id, received_at);

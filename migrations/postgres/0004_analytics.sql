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
ALTER TABLE labels ADD COLUMN predicted_category_id BIGINT, ADD COLUMN predicted_confidence DOUBLE PRECISION;
UPDATE labels l SET predicted_category_id = p.category_id, predicted_confidence = p.confidence,
    model_version = COALESCE(l.model_version, p.model_version)
FROM predictions p WHERE p.id = l.prediction_id;
CREATE FUNCTION labels_prediction() RETURNS trigger AS $$
BEGIN
    IF NEW.prediction_id IS NOT NULL THEN
        SELECT p.category_id, p.confidence, COALESCE(NEW.model_version, p.model_version)
        INTO NEW.predicted_category_id, NEW.predicted_confidence, NEW.model_version
        FROM predictions p WHERE p.id = NEW.prediction_id;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER labels_prediction BEFORE INSERT ON labels FOR EACH ROW EXECUTE FUNCTION labels_prediction();

-- Analytics read these columns for up to every email and label of a period. The
-- indexes hold them, so a view reads an index instead of the wide rows (on SQLite
-- a column after the raw message costs a walk through its overflow pages).
CREATE INDEX emails_received_categories ON emails (received_at, label_category_id, predicted_category_id);
CREATE INDEX emails_status_categories ON emails (status, received_at, label_category_id, predicted_category_id);
CREATE INDEX emails_predicted_confidence ON emails (predicted_category_id, confidence);
CREATE INDEX labels_created_staff ON labels (created_at, source, undone_at, user_id, seconds_spent, category_id, predicted_category_id, predicted_confidence, model_version);
CREATE INDEX labels_source_email ON labels (source, undone_at, email_id, created_at);

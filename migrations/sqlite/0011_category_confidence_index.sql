-- The category view with a confidence band (`/?category=…&confidence=…`) walked
-- `emails_category_received` and read each email's row for its confidence: on
-- 100,000 real emails p99 61 ms at c=16 (bench/workspace.py), the one view without a
-- search over 50 ms. With the confidence in the index the band is tested in the
-- index, as `emails_received_confidence` does for the plain queue (migration 0009).
-- The expression must stay exactly the one queue::push_conditions writes.
CREATE INDEX emails_category_received_confidence
    ON emails (COALESCE(label_category_id, predicted_category_id), received_at DESC, id DESC, confidence);
DROP INDEX emails_category_received;

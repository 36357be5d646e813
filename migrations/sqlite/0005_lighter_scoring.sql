-- Every stored prediction updates each index over predicted_category_id or
-- confidence. emails_predicted is the first column of emails_predicted_confidence,
-- which answers every query it answered, so it only cost writes.
DROP INDEX emails_predicted;

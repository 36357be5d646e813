-- A built-in model now trains on every label (issue 29), so the model that scores
-- mail has seen the held-out threads and cannot be judged on them. Its twin, fitted
-- the same way on every label but those threads, is kept here: the Models page's
-- comparison scores held-out mail with it, so both models are judged on mail they
-- never learnt from. NULL for endpoint models and for built-in models trained before
-- (those never trained on the held-out threads: their artifact is their own twin).
ALTER TABLE models ADD COLUMN held_out_artifact BYTEA;

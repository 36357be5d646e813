#!/usr/bin/env python3
"""What storing 100,000 predictions costs the database itself, with none of Triage's
code: the floor under a built-in score job (issue 5).

On a fresh database with Triage's schema (migrations/sqlite, or migrations/postgres
when DATABASE_URL is a PostgreSQL server's address) and N stored emails, two
statements in one transaction, each run inside the database:

- INSERT INTO predictions ... SELECT ... FROM emails: one prediction per email, with
  its probabilities as JSON (ten categories), as a job writes them;
- UPDATE emails ... FROM predictions: each email's current prediction, the columns
  that the queue's sorts (#6) and the analytics (#7) read through their indexes.

Prints the medians of 3 runs as JSON on the last line, for the schema as it is and
for three changes to it that a faster job would need (what each would buy):

- without the four indexes over the current prediction (what they cost);
- without the foreign keys of `predictions` (on PostgreSQL each is a trigger that
  looks up and locks the row it points at, for every row inserted);
- with the current prediction in a narrow table of its own (email, prediction,
  category, confidence, with the queue's two orders as indexes) instead of in
  `emails` and its four indexes: a design not built, measured here for the choice.

Python's sqlite3 module (or `psql`) runs the statements, so no Rust, driver or job
bookkeeping is counted. On PostgreSQL each run stores into a new database copied
from a template, which is dropped afterwards. Usage: bench/store_floor.py [EMAILS]"""

import glob
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREDICTION_INDEXES = ["emails_status_confidence", "emails_received_categories",
                      "emails_status_categories", "emails_predicted_confidence"]
BODY = ("Hello, I would like to ask about my order which has not arrived yet. Could you "
        "please check the status and let me know when I can expect it? I ordered three "
        "items last week and paid by card. Thanks a lot for your help, best regards.")
PROBABILITIES = json.dumps({c: 0.1 for c in ["feedback", "quote", "complaint", "order", "support",
                                             "billing", "shipping", "returns", "spam", "other"]})


def open_db(path):
    """With the pragmas Triage's own connections set (domain/src/db.rs)."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ["journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON",
                   "cache_size = -65536", "temp_store = MEMORY"]:
        db.execute(f"PRAGMA {pragma}")
    return db


def fresh(path, n):
    """A database with n stored, unscored emails, closed (each run stores into a copy)."""
    db = open_db(path)
    for migration in sorted(glob.glob(os.path.join(ROOT, "migrations/sqlite/*.sql"))):
        db.executescript(open(migration).read())
    db.execute("BEGIN")
    db.executemany("INSERT INTO categories (name, created_at) VALUES (?, 0)",
                   [(c,) for c in json.loads(PROBABILITIES)])
    db.execute("INSERT INTO models (version, kind, created_at) VALUES ('v1', 'builtin', 0)")
    db.execute("INSERT INTO jobs (kind, created_at) VALUES ('score', 0)")
    db.executemany(
        "INSERT INTO emails (message_id, thread_key, from_address, subject, source, received_at, "
        "ingested_at) VALUES (?1, ?1, 'a@example.com', 'Where is my order', 'bench', ?2, ?2)",
        [(f"<{i}@bench>", 1_700_000_000_000 + i) for i in range(n)])
    db.execute("INSERT INTO email_bodies (email_id, body_text) SELECT id, ? FROM emails", (BODY,))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


# A prediction per email, then each email's current prediction: what a job stores.
INSERT_PREDICTIONS = (
    "INSERT INTO predictions (email_id, model_id, model_version, category_id, confidence, "
    "probabilities, latency_ms, job_id, created_at) "
    "SELECT id, 1, 'v1', 1 + id % 10, 0.5 + (id % 50) / 100.0, '" + PROBABILITIES + "', 0.01, 1, 0 "
    "FROM emails")
POINT_EMAILS = (
    "UPDATE emails SET prediction_id = p.id, predicted_category_id = p.category_id, "
    "confidence = p.confidence FROM predictions p "
    "WHERE emails.id = p.email_id AND emails.prediction_id IS NULL")
# The alternative: each email's current prediction in a narrow table, written (or
# replaced) from the new predictions; `emails` is not written at all.
NARROW_TABLE = (
    "CREATE TABLE current_predictions (email_id BIGINT PRIMARY KEY, prediction_id BIGINT NOT NULL, "
    "category_id BIGINT NOT NULL, confidence DOUBLE PRECISION NOT NULL);"
    "CREATE INDEX current_predictions_confidence ON current_predictions (confidence, email_id);"
    "CREATE INDEX current_predictions_category ON current_predictions (category_id, confidence);")
POINT_NARROW = (
    "INSERT INTO current_predictions SELECT email_id, id, category_id, confidence FROM predictions "
    "WHERE true ON CONFLICT (email_id) DO UPDATE SET prediction_id = excluded.prediction_id, "
    "category_id = excluded.category_id, confidence = excluded.confidence")
DROP_PREDICTION_INDEXES = "".join(f"DROP INDEX {index};" for index in PREDICTION_INDEXES)
# SQLite cannot drop a foreign key: the connection stops checking them instead.
SQLITE_NO_FOREIGN_KEYS = "PRAGMA foreign_keys = OFF;"
POSTGRES_NO_FOREIGN_KEYS = "".join(
    f"ALTER TABLE predictions DROP CONSTRAINT predictions_{column}_fkey;"
    for column in ["email_id", "model_id", "category_id"])


def variants(no_foreign_keys):
    """Each variant by its key in the JSON: (setup before the timed part, the timed
    statements). Only switching the foreign keys off differs by database."""
    return {
        "store_seconds": ("", [INSERT_PREDICTIONS, POINT_EMAILS]),
        "store_seconds_without_prediction_indexes": (DROP_PREDICTION_INDEXES,
                                                     [INSERT_PREDICTIONS, POINT_EMAILS]),
        "store_seconds_without_foreign_keys": (no_foreign_keys, [INSERT_PREDICTIONS, POINT_EMAILS]),
        "store_seconds_narrow_table": (DROP_PREDICTION_INDEXES + NARROW_TABLE,
                                       [INSERT_PREDICTIONS, POINT_NARROW]),
    }


def store(db, statements):
    """Seconds to run the statements in one write transaction."""
    started = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    for statement in statements:
        db.execute(statement)
    db.execute("COMMIT")
    return time.perf_counter() - started


def median_store(template, setup, statements):
    runs = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "floor.db")
            shutil.copy(template, path)
            db = open_db(path)
            db.executescript(setup)
            runs.append(store(db, statements))
            db.close()
    return statistics.median(runs)


def psql(server, database, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"{server}/{database}"],
                   input=sql, text=True, check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, PGOPTIONS="-c client_min_messages=warning"))


def postgres_fresh(server, template, n):
    """A template database with n stored, unscored emails, analysed as autovacuum would."""
    psql(server, "postgres", f"DROP DATABASE IF EXISTS {template}; CREATE DATABASE {template};")
    for migration in sorted(glob.glob(os.path.join(ROOT, "migrations/postgres/*.sql"))):
        psql(server, template, open(migration).read())
    names = ",".join(f"('{c}', 0)" for c in json.loads(PROBABILITIES))
    psql(server, template, f"""
        INSERT INTO categories (name, created_at) VALUES {names};
        INSERT INTO models (version, kind, created_at) VALUES ('v1', 'builtin', 0);
        INSERT INTO jobs (kind, created_at) VALUES ('score', 0);
        INSERT INTO emails (message_id, thread_key, from_address, subject, source, received_at,
                            ingested_at)
          SELECT '<' || i || '@bench>', '<' || i || '@bench>', 'a@example.com', 'Where is my order',
                 'bench', 1700000000000 + i, 1700000000000 + i FROM generate_series(1, {n}) i;
        INSERT INTO email_bodies (email_id, body_text) SELECT id, '{BODY}' FROM emails;
        VACUUM ANALYZE;""")


def postgres_median_store(server, template, setup, statements):
    runs = []
    for run in range(3):
        copy = f"{template}_{run}"
        psql(server, "postgres", f"DROP DATABASE IF EXISTS {copy}; "
                                 f"CREATE DATABASE {copy} TEMPLATE {template};")
        psql(server, copy, setup + "CHECKPOINT;")
        started = time.perf_counter()
        psql(server, copy, "BEGIN; " + "; ".join(statements) + "; COMMIT;")
        runs.append(time.perf_counter() - started)
        psql(server, "postgres", f"DROP DATABASE {copy};")
    return statistics.median(runs)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        # The server's address without a database: copies are made beside it.
        server = url.rsplit("/", 1)[0]
        template = f"triage_store_floor_{os.getpid()}"
        try:
            postgres_fresh(server, template, n)
            result = {"emails": n, "database": "postgres"}
            for name, (setup, statements) in variants(POSTGRES_NO_FOREIGN_KEYS).items():
                result[name] = postgres_median_store(server, template, setup, statements)
        finally:
            # Also after a failed run: no template or copy is left on the server.
            copies = "".join(f"DROP DATABASE IF EXISTS {template}_{run};" for run in range(3))
            psql(server, "postgres", copies + f"DROP DATABASE IF EXISTS {template};")
    else:
        with tempfile.TemporaryDirectory() as folder:
            template = os.path.join(folder, "template.db")
            fresh(template, n)
            result = {"emails": n, "database": f"sqlite {sqlite3.sqlite_version}"}
            for name, (setup, statements) in variants(SQLITE_NO_FOREIGN_KEYS).items():
                result[name] = median_store(template, setup, statements)
    print(f"{result['database']}, {n} emails: storing their predictions takes "
          f"{result['store_seconds']:.2f} s; "
          f"{result['store_seconds_without_prediction_indexes']:.2f} s without the "
          f"{len(PREDICTION_INDEXES)} indexes over the current prediction, "
          f"{result['store_seconds_without_foreign_keys']:.2f} s without the foreign keys "
          f"of predictions, {result['store_seconds_narrow_table']:.2f} s with the current "
          f"prediction in a narrow table", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

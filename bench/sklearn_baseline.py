#!/usr/bin/env python3
"""scikit-learn baselines on the split of fetch_dataset.py (bench/.data/train.jsonl
and test.jsonl): TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True) followed by
LinearSVC, by LogisticRegression (lbfgs: multinomial) and by MultinomialNB, and word
counts (CountVectorizer) followed by MultinomialNB, each
with scikit-learn's defaults otherwise. The text is subject + "\\n\\n" + body.

Per model: accuracy, macro-F1, expected calibration error (10 equal-width bins of
the top-class confidence, as Triage's own metrics; LinearSVC has no probabilities, so its ECE is that of a
softmax over decision_function, reported as such), training seconds and scoring
rate (transform + predict, emails/s, on the test set and on 10,000 emails made by
repeating it); timings are medians of 3 runs, on one thread.

JSON on stdout (one key per model), a table on stderr. Runs itself in bench/.venv,
made with pinned packages on first use. Usage: sklearn_baseline.py [--data DIR]

`--splits DIR...` instead fits TF-IDF + LinearSVC and word counts + MultinomialNB
(CountVectorizer's defaults: naive Bayes on TF-IDF is far weaker) once on each folder's
train.jsonl and reports accuracy, macro-F1, ECE and per-category recall and support
on its test.jsonl, untimed: JSON {folder: {model: figures}} (bench/scoring.py's
splits and labellings)."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
REQUIREMENTS = ["scikit-learn==1.6.1", "numpy==2.2.6", "scipy==1.15.3", "joblib==1.5.1", "threadpoolctl==3.6.0"]
# one thread for BLAS/OpenMP: the figures compare with a single-threaded scorer
THREADS = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

if os.path.realpath(sys.prefix) != os.path.realpath(VENV) or any(os.environ.get(k) != v for k, v in THREADS.items()):
    python, stamp = os.path.join(VENV, "bin", "python"), os.path.join(VENV, "requirements.txt")
    # the stamp is written last: a venv whose install failed or whose pins changed is redone
    if not os.path.exists(stamp) or open(stamp).read().split() != REQUIREMENTS:
        subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
        with open(stamp, "w") as f:
            f.write("\n".join(REQUIREMENTS) + "\n")
    os.environ.update(THREADS)
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])

import argparse  # noqa: E402  (the rest runs inside the venv)
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score, recall_score  # noqa: E402
from sklearn.naive_bayes import MultinomialNB  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

RUNS, BINS, BULK = 3, 10, 10_000


def tfidf():
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)


MODELS = {
    "tfidf_linearsvc": lambda: make_pipeline(tfidf(), LinearSVC()),
    "tfidf_logreg": lambda: make_pipeline(tfidf(), LogisticRegression(max_iter=5000)),
    "tfidf_multinomialnb": lambda: make_pipeline(tfidf(), MultinomialNB()),
    # word counts, as naive Bayes is meant to see them: far stronger than on TF-IDF
    "count_multinomialnb": lambda: make_pipeline(CountVectorizer(), MultinomialNB()),
}


def load(path):
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return [r["subject"] + "\n\n" + r["body"] for r in rows], np.array([r["category"] for r in rows])


def ece(confidence, correct, bins=BINS):
    """Sum over equal-width confidence bins [lo, hi) of |accuracy - confidence|,
    weighted by the bin's share of the emails (binned as domain/src/model/metrics.rs)."""
    which = np.clip(np.floor(confidence * bins).astype(int), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def confidences(model, texts):
    """Top-class probability; softmax of the decision function for LinearSVC."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(texts).max(axis=1), "predict_proba"
    scores = model.decision_function(texts)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (scores / scores.sum(axis=1, keepdims=True)).max(axis=1), "softmax(decision_function)"


def median_seconds(fn):
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build(name):
    return MODELS[name]()


def evaluate_splits(folders, names=("tfidf_linearsvc", "count_multinomialnb")):
    """Each model fitted on each folder's training set, judged on its test set."""
    out = {}
    for folder in folders:
        x_train, y_train = load(os.path.join(folder, "train.jsonl"))
        x_test, y_test = load(os.path.join(folder, "test.jsonl"))
        classes = sorted(set(y_train) | set(y_test))
        # macro-F1 over the categories the test set has, as Triage's own metrics
        present = sorted(set(y_test))
        out[folder] = {}
        for name in names:
            model = build(name).fit(x_train, y_train)
            predicted = model.predict(x_test)
            confidence, _ = confidences(model, x_test)
            recalls = recall_score(y_test, predicted, labels=classes, average=None, zero_division=0)
            out[folder][name] = {
                "accuracy": float(accuracy_score(y_test, predicted)),
                "macro_f1": float(f1_score(y_test, predicted, labels=present, average="macro", zero_division=0)),
                "ece": ece(confidence, predicted == y_test),
                "recall": dict(zip(classes, map(float, recalls))),
                "support": {c: int((y_test == c).sum()) for c in classes},
            }
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, ".data"))
    ap.add_argument("--splits", nargs="+")
    args = ap.parse_args()
    if args.splits:
        print(json.dumps(evaluate_splits(args.splits)))
        return
    data = args.data
    x_train, y_train = load(os.path.join(data, "train.jsonl"))
    x_test, y_test = load(os.path.join(data, "test.jsonl"))
    bulk = (x_test * (BULK // len(x_test) + 1))[:BULK]

    results = {}
    for name in MODELS:
        fits = []
        train_s = median_seconds(lambda: fits.append(build(name).fit(x_train, y_train)))
        model = fits[-1]
        predicted = model.predict(x_test)
        confidence, source = confidences(model, x_test)
        results[name] = {
            "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
            "macro_f1": round(float(f1_score(y_test, predicted, average="macro")), 4),
            "ece": round(ece(confidence, predicted == y_test), 4),
            "ece_confidence": source,
            "train_seconds": round(train_s, 3),
            "score_emails_per_s": round(len(x_test) / median_seconds(lambda: model.predict(x_test))),
            "score_emails_per_s_10k": round(BULK / median_seconds(lambda: model.predict(bulk))),
            "train_emails": len(x_train),
            "test_emails": len(x_test),
            "classes": len(set(y_train)),
        }

    print(json.dumps(results, indent=2))
    print(f"train {len(x_train)} emails, test {len(x_test)}, {len(set(y_train))} classes", file=sys.stderr)
    print(f"{'model':22} {'acc':>6} {'macroF1':>8} {'ECE':>6} {'train s':>8} {'test/s':>8} {'10k/s':>8}",
          file=sys.stderr)
    for name, r in results.items():
        mark = "*" if r["ece_confidence"] != "predict_proba" else " "
        print(f"{name:22} {r['accuracy']:6.3f} {r['macro_f1']:8.3f} {r['ece']:5.3f}{mark} {r['train_seconds']:8.2f} "
              f"{r['score_emails_per_s']:8d} {r['score_emails_per_s_10k']:8d}", file=sys.stderr)
    print("* ECE of softmax(decision_function): LinearSVC gives no probabilities", file=sys.stderr)


if __name__ == "__main__":
    main()

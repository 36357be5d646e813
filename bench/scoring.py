#!/usr/bin/env python3
"""The scoring figures of issue 4, side by side in one run:

1. fetch_dataset.py: the SpamAssassin corpus, 12 categories, split by thread
   (skipped when bench/.data already holds the split);
2. sklearn_baseline.py: TF-IDF(1,2) + LinearSVC / LogisticRegression / MultinomialNB;
3. the built-in model (domain/examples/model_bench.rs): accuracy, macro-F1, ECE,
   training time on 10,000 emails, scoring rate on one core, artifact size;
4. the endpoint path (server/examples/endpoint_bench.rs): the AWS SDK client against
   `triage model-server` on loopback, batches of 32.

Prints a table and the targets, and writes every figure to bench/.data/scoring.json.
Exits non-zero when a target is missed. Usage: bench/scoring.py [--data DIR]"""

import argparse
import json
import os
import subprocess
import sys

from common import run_example

HERE = os.path.dirname(os.path.abspath(__file__))


def cargo_example(package, example, features, data):
    """A release example run on the split's train and test files."""
    return run_example(package, example,
                       [os.path.join(data, "train.jsonl"), os.path.join(data, "test.jsonl")], features)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(HERE, ".data"))
    data = parser.parse_args().data
    os.makedirs(data, exist_ok=True)

    if not all(os.path.exists(os.path.join(data, f)) for f in ("train.jsonl", "test.jsonl")):
        print("==> fetching the data set", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "fetch_dataset.py"), "--data", data], check=True)

    print("==> scikit-learn baselines", file=sys.stderr)
    sklearn = json.loads(subprocess.run(
        [sys.executable, os.path.join(HERE, "sklearn_baseline.py"), "--data", data],
        check=True, stdout=subprocess.PIPE, text=True).stdout)
    triage = cargo_example("triage-domain", "model_bench", "server", data)
    endpoint = cargo_example("server", "endpoint_bench", None, data)

    print(f"\n{triage['train_size']} training emails, {triage['test_size']} test emails, "
          f"{triage['classes']} categories, split by thread\n")
    print(f"{'model':24} {'accuracy':>8} {'macro-F1':>8} {'ECE':>6} {'train 10k s':>11} {'score/s':>9}")
    print(f"{'triage built-in':24} {triage['accuracy']:8.3f} {triage['macro_f1']:8.3f} {triage['ece']:6.3f} "
          f"{triage['train_seconds_10k']:11.2f} {triage['score_per_second']:9.0f}")
    for name, r in sklearn.items():
        mark = "*" if r["ece_confidence"] != "predict_proba" else " "
        print(f"{'sklearn ' + name[6:]:24} {r['accuracy']:8.3f} {r['macro_f1']:8.3f} {r['ece']:6.3f}{mark}"
              f"{'':11} {r['score_emails_per_s_10k']:9.0f}   (trains {r['train_emails']} in {r['train_seconds']:.2f} s)")
    print("* LinearSVC has no probabilities: ECE of a softmax over its decision function")
    print(f"\nendpoint path (SDK -> triage model-server, batches of {endpoint['batch']}): "
          f"{endpoint['emails_per_second']:.0f} emails/s")

    best_f1 = max(r["macro_f1"] for r in sklearn.values())
    fastest_sklearn = max(r["score_emails_per_s_10k"] for r in sklearn.values())
    targets = [
        ("macro-F1 >= best scikit-learn", triage["macro_f1"] >= best_f1,
         f"{triage['macro_f1']:.3f} vs {best_f1:.3f}"),
        ("training 10,000 emails < 2 s", triage["train_seconds_10k"] < 2.0, f"{triage['train_seconds_10k']:.2f} s"),
        ("scoring >= 25,000 emails/s", triage["score_per_second"] >= 25_000, f"{triage['score_per_second']:.0f}/s"),
        ("scoring >= 10x scikit-learn", triage["score_per_second"] >= 10 * fastest_sklearn,
         f"{triage['score_per_second'] / fastest_sklearn:.0f}x the fastest pipeline"),
        ("artifact < 20 MB", triage["artifact_bytes"] < 20_000_000, f"{triage['artifact_bytes'] / 1e6:.1f} MB"),
        ("endpoint path >= 500 emails/s", endpoint["emails_per_second"] >= 500,
         f"{endpoint['emails_per_second']:.0f}/s"),
    ]
    print()
    for name, ok, figure in targets:
        print(f"  {'ok  ' if ok else 'MISS'} {name:32} {figure}")
    with open(os.path.join(data, "scoring.json"), "w") as f:
        json.dump({"triage": triage, "sklearn": sklearn, "endpoint": endpoint}, f, indent=2)
    sys.exit(0 if all(ok for _, ok, _ in targets) else 1)


if __name__ == "__main__":
    main()

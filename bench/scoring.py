#!/usr/bin/env python3
"""The built-in model against scikit-learn, on means over splits and labellings, so
that no choice is fitted to one split by accident (issue 29):

1. fetch_dataset.py: the SpamAssassin corpus with three labellings ("lists", 12
   categories; "fine", 19 with seven small ones; "coarse", 5), skipped when bench/.data
   already holds it;
2. for each labelling, SEEDS thread-aware splits (split.py: whole threads on one side,
   a different 20 % of threads tested by each seed), written under bench/.data/splits/;
3. on every split: TF-IDF(1,2) + LinearSVC and word counts + MultinomialNB (sklearn_baseline.py
   --splits) and the built-in model as `triage train` fits it
   (domain/examples/model_bench.rs --splits): accuracy, macro-F1, ECE and per-category
   recall;
4. timed, on split 0 of "lists": training 10,000 emails, scoring on one core, the
   artifact's size, scikit-learn's speed, and the endpoint path
   (server/examples/endpoint_bench.rs: the AWS SDK against `triage model-server`).

Prints the mean and spread per labelling and overall, on how many splits the model
beats each baseline, the recall of each labelling's five smallest categories beside
the baselines', and the targets; writes everything to bench/.data/scoring.json and
exits non-zero when a target is missed. Usage: bench/scoring.py [--data DIR]"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys

import split
from common import run_example

HERE = os.path.dirname(os.path.abspath(__file__))
LABELLINGS = ("lists", "fine", "coarse")
SEEDS = (0, 1, 2, 3, 4)
BASELINES = {"tfidf_linearsvc": "LinearSVC", "count_multinomialnb": "MultinomialNB"}


def cargo_example(package, example, features, args):
    return run_example(package, example, args, features)


def write_splits(data):
    """Every (labelling, seed) split as its own folder; returns {folder: (labelling, seed)}."""
    rows = split.load(os.path.join(data, "emails.jsonl"))
    folders = {}
    for labelling in LABELLINGS:
        for seed in SEEDS:
            folder = os.path.join(data, "splits", f"{labelling}-{seed}")
            split.write(rows, folder, labelling, seed)
            folders[folder] = (labelling, seed)
    sizes = {lab: collections.Counter(r["labels"][lab] for r in rows) for lab in LABELLINGS}
    return folders, sizes


def mean_sd(xs):
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(HERE, ".data"))
    data = parser.parse_args().data
    os.makedirs(data, exist_ok=True)
    emails = os.path.join(data, "emails.jsonl")
    if not os.path.exists(emails) or '"labels"' not in open(emails).readline():
        print("==> fetching the data set", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "fetch_dataset.py"), "--data", data], check=True)
    folders, sizes = write_splits(data)

    print(f"==> scikit-learn on {len(folders)} splits", file=sys.stderr)
    sklearn_runs = json.loads(subprocess.run(
        [sys.executable, os.path.join(HERE, "sklearn_baseline.py"), "--splits", *folders],
        check=True, stdout=subprocess.PIPE, text=True).stdout)
    triage_runs = cargo_example("triage-domain", "model_bench", "server", ["--splits", *folders])
    runs = {folder: {"triage": triage_runs[folder], **sklearn_runs[folder]} for folder in folders}
    models = ["triage", *BASELINES]
    names = {"triage": "triage built-in", **BASELINES}

    # Means and spreads, per labelling and over all splits.
    print(f"\n{len(SEEDS)} thread splits (seeds {', '.join(map(str, SEEDS))}) x {len(LABELLINGS)} labellings; "
          "mean ± standard deviation over the splits\n")
    print(f"{'labelling':10} {'model':16} {'macro-F1':>15} {'accuracy':>15} {'ECE':>7}")
    summary = {}
    for labelling in (*LABELLINGS, "all"):
        chosen = [f for f, (lab, _) in folders.items() if labelling in ("all", lab)]
        summary[labelling] = {}
        for m in models:
            f1 = mean_sd([runs[f][m]["macro_f1"] for f in chosen])
            acc = mean_sd([runs[f][m]["accuracy"] for f in chosen])
            ece = statistics.mean(runs[f][m]["ece"] for f in chosen)
            summary[labelling][m] = {"macro_f1": f1, "accuracy": acc, "ece": ece}
            star = "*" if m == "tfidf_linearsvc" else " "
            print(f"{labelling:10} {names[m]:16} {f1[0]:8.3f} ± {f1[1]:.3f} {acc[0]:8.3f} ± {acc[1]:.3f} "
                  f"{ece:6.3f}{star}")
        print()
    print("* LinearSVC has no probabilities: ECE of a softmax over its decision function")

    wins = {b: sum(runs[f]["triage"]["macro_f1"] > runs[f][b]["macro_f1"] for f in folders) for b in BASELINES}
    for b, n in wins.items():
        print(f"macro-F1 above {BASELINES[b]} on {n} of {len(folders)} splits")

    # The five smallest categories of each labelling: mean recall over the splits.
    small = {}
    for labelling in LABELLINGS:
        smallest = [c for c, _ in sorted(sizes[labelling].items(), key=lambda kv: kv[1])[:5]]
        chosen = [f for f, (lab, _) in folders.items() if lab == labelling]
        print(f"\n{labelling}: recall of the five smallest categories (mean over splits; emails in the corpus)")
        print(f"  {'category':22} {'emails':>6} " + " ".join(f"{names[m]:>16}" for m in models))
        small[labelling] = {}
        for c in smallest:
            recalls = {m: statistics.mean(runs[f][m]["recall"].get(c, 0.0) for f in chosen
                                          if runs[f][m]["support"].get(c, 0) > 0) for m in models}
            small[labelling][c] = recalls
            print(f"  {c:22} {sizes[labelling][c]:6} " + " ".join(f"{recalls[m]:16.3f}" for m in models))

    print("\n==> timed on split 0 of 'lists'", file=sys.stderr)
    timed_folder = os.path.join(data, "splits", "lists-0")
    timed_args = [os.path.join(timed_folder, "train.jsonl"), os.path.join(timed_folder, "test.jsonl")]
    triage = cargo_example("triage-domain", "model_bench", "server", timed_args)
    sklearn = json.loads(subprocess.run(
        [sys.executable, os.path.join(HERE, "sklearn_baseline.py"), "--data", timed_folder],
        check=True, stdout=subprocess.PIPE, text=True).stdout)
    endpoint = cargo_example("server", "endpoint_bench", None, timed_args)
    # "10x scikit-learn" was set against the TF-IDF pipelines (issue 4); naive Bayes on
    # word counts, added for issue 29, is faster to score and is shown beside it.
    fastest_sklearn = max(r["score_emails_per_s_10k"] for n, r in sklearn.items() if n.startswith("tfidf_"))
    counts_nb = sklearn["count_multinomialnb"]["score_emails_per_s_10k"]
    print(f"\ntraining 10,000 emails as `triage train` fits the model it ships: {triage['train_seconds_10k']:.2f} s; "
          f"scoring {triage['score_per_second']:.0f} emails/s on one core "
          f"({triage['score_per_second'] / fastest_sklearn:.0f}x the fastest TF-IDF pipeline, "
          f"{triage['score_per_second'] / counts_nb:.1f}x word counts + naive Bayes); "
          f"artifact {triage['artifact_bytes'] / 1e6:.1f} MB")
    print(f"endpoint path (SDK -> triage model-server, batches of {endpoint['batch']}): "
          f"{endpoint['emails_per_second']:.0f} emails/s")

    overall = summary["all"]
    svc = overall["tfidf_linearsvc"]
    half = len(folders) // 2 + 1
    targets = [
        ("mean macro-F1 >= LinearSVC + 0.02", overall["triage"]["macro_f1"][0] >= svc["macro_f1"][0] + 0.02,
         f"{overall['triage']['macro_f1'][0]:.3f} vs {svc['macro_f1'][0]:.3f}"),
        ("mean accuracy >= LinearSVC", overall["triage"]["accuracy"][0] >= svc["accuracy"][0],
         f"{overall['triage']['accuracy'][0]:.3f} vs {svc['accuracy'][0]:.3f}"),
        *[(f"macro-F1 above {BASELINES[b]} on most splits", n >= half, f"{n} of {len(folders)}")
          for b, n in wins.items()],
        ("mean ECE < 0.05", overall["triage"]["ece"] < 0.05, f"{overall['triage']['ece']:.3f}"),
        ("training 10,000 emails < 2 s", triage["train_seconds_10k"] < 2.0, f"{triage['train_seconds_10k']:.2f} s"),
        ("scoring >= 25,000 emails/s", triage["score_per_second"] >= 25_000, f"{triage['score_per_second']:.0f}/s"),
        ("scoring >= 10x scikit-learn TF-IDF", triage["score_per_second"] >= 10 * fastest_sklearn,
         f"{triage['score_per_second'] / fastest_sklearn:.0f}x the fastest TF-IDF pipeline"),
        ("artifact < 20 MB", triage["artifact_bytes"] < 20_000_000, f"{triage['artifact_bytes'] / 1e6:.1f} MB"),
        ("endpoint path >= 500 emails/s", endpoint["emails_per_second"] >= 500,
         f"{endpoint['emails_per_second']:.0f}/s"),
    ]
    print()
    for name, ok, figure in targets:
        print(f"  {'ok  ' if ok else 'MISS'} {name:40} {figure}")
    with open(os.path.join(data, "scoring.json"), "w") as f:
        json.dump({"runs": runs, "summary": summary, "wins": wins, "smallest": small, "timed": {
            "triage": triage, "sklearn": sklearn, "endpoint": endpoint}}, f, indent=2)
    sys.exit(0 if all(ok for _, ok, _ in targets) else 1)


if __name__ == "__main__":
    main()

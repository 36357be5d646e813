#!/usr/bin/env python3
"""Deterministic, thread-aware train/test splits of DIR/emails.jsonl (written by
fetch_dataset.py): a message is in the test set when sha256 of its thread key (with
the split's seed in front, for seeds other than 0), mod 100, is below TEST_PERCENT.
Whole conversations land on one side, so a reply quoting a test message is never
trained on, and a split needs no state: the same seed gives the same split.

`main` writes split 0 of the "lists" labelling to DIR/train.jsonl and DIR/test.jsonl;
`write` writes any (labelling, seed) to a folder of its own, for bench/scoring.py.
Usage: split.py [DIR] (default bench/.data)."""

import hashlib
import json
import os
import sys

TEST_PERCENT = 20
HERE = os.path.dirname(os.path.abspath(__file__))


def is_test(thread, seed=0, percent=TEST_PERCENT):
    key = thread if seed == 0 else f"{seed}:{thread}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest(), "big") % 100 < percent


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def write(rows, out_dir, labelling="lists", seed=0):
    """The split `seed` of `rows`, each row's category taken from `labelling`, as
    out_dir/train.jsonl and out_dir/test.jsonl. Returns the two lists."""
    os.makedirs(out_dir, exist_ok=True)
    sides = {"train": [], "test": []}
    for row in rows:
        row = {**row, "category": row.get("labels", {}).get(labelling, row["category"])}
        sides["test" if is_test(row["thread"], seed) else "train"].append(row)
    for name, part in sides.items():
        with open(os.path.join(out_dir, f"{name}.jsonl"), "w") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in part)
    return sides


def main(data_dir=os.path.join(HERE, ".data")):
    sides = write(load(os.path.join(data_dir, "emails.jsonl")), data_dir)
    threads = {name: len({r["thread"] for r in part}) for name, part in sides.items()}
    print(f"split: train {len(sides['train'])} emails ({threads['train']} threads), "
          f"test {len(sides['test'])} emails ({threads['test']} threads)")
    return sides


if __name__ == "__main__":
    main(*sys.argv[1:2])

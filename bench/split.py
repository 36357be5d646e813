#!/usr/bin/env python3
"""Deterministic, thread-aware train/test split of DIR/emails.jsonl (written by
fetch_dataset.py): a message is in the test set when sha256 of its thread key,
mod 100, is below TEST_PERCENT. Whole conversations land on one side, so a reply
quoting a test message is never trained on, and the split needs no seed or state.

Writes DIR/train.jsonl and DIR/test.jsonl. Usage: split.py [DIR] (default bench/.data)."""

import hashlib
import json
import os
import sys

TEST_PERCENT = 20
HERE = os.path.dirname(os.path.abspath(__file__))


def is_test(thread, percent=TEST_PERCENT):
    return int.from_bytes(hashlib.sha256(thread.encode()).digest(), "big") % 100 < percent


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def main(data_dir=os.path.join(HERE, ".data")):
    rows = load(os.path.join(data_dir, "emails.jsonl"))
    sides = {"train": [], "test": []}
    for row in rows:
        sides["test" if is_test(row["thread"]) else "train"].append(row)
    for name, part in sides.items():
        with open(os.path.join(data_dir, f"{name}.jsonl"), "w") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in part)
    threads = {name: len({r["thread"] for r in part}) for name, part in sides.items()}
    print(f"split: train {len(sides['train'])} emails ({threads['train']} threads), "
          f"test {len(sides['test'])} emails ({threads['test']} threads)")
    return sides


if __name__ == "__main__":
    main(*sys.argv[1:2])

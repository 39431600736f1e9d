"""The ``Received:`` trace header (RFC 5321 §4.4) a receiver adds to each message."""

from __future__ import annotations

import email.utils
import random
import time

from ._handler import SessionInfo


def protocol_name(session: SessionInfo) -> str:
    """RFC 3848: SMTP, ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA (both);
    RFC 6531 §4.3: UTF8SMTP, UTF8SMTPS, ... when the transaction used SMTPUTF8."""
    if not session.esmtp:
        return "SMTP"
    utf8 = any(keyword == "SMTPUTF8" for keyword, _ in session.sender_params)
    base = "UTF8SMTP" if utf8 else "ESMTP"
    return base + ("S" if session.tls else "") + ("A" if session.auth_user else "")


def received(session: SessionInfo, hostname: str) -> bytes:
    """``Received: from HELO ([address]) by hostname with PROTO id ID for <rcpt>; date``."""
    address = session.client_address
    literal = f"[IPv6:{address}]" if ":" in address else f"[{address}]"
    helo = session.helo or literal
    lines = [
        f"Received: from {helo} ({literal})",
        f"\tby {hostname} (smtpx) with {protocol_name(session)} id {_trace_id()}",
    ]
    # RFC 5321 §4.4: "for" names the recipient only when there is exactly one.
    if len(session.recipients) == 1:
        lines[-1] += f"\r\n\tfor <{session.recipients[0][0]}>"
    lines[-1] += f"; {_date()}"
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _trace_id() -> str:
    """An id for this Received line: unique enough to find it in logs, not a secret,
    so not worth a system call for random bytes per message."""
    return f"{random.getrandbits(48):012x}"


_last: tuple[int, str] = (0, "")


def _date() -> str:
    """The date-time for now (RFC 5322 §3.3), formatted once a second, not per message."""
    global _last  # noqa: PLW0603 - a one-entry cache
    second = int(time.time())
    if _last[0] != second:
        _last = (second, email.utils.formatdate(second, localtime=True))
    return _last[1]

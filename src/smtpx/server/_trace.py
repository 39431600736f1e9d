"""The ``Received:`` trace header (RFC 5321 §4.4) a receiver adds to each message."""

from __future__ import annotations

import contextlib
import email.utils
import random
import re
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
    lines = [
        f"Received: {_from(session.helo, literal)}",
        f"\tby {hostname} (smtpx) with {protocol_name(session)} id {_trace_id()}",
    ]
    # RFC 5321 §4.4: "for" names the recipient only when there is exactly one, and
    # only a mailbox (not a bare "postmaster").
    if len(session.recipients) == 1 and "@" in session.recipients[0][0]:
        lines[-1] += f"\r\n\tfor <{session.recipients[0][0]}>"
    lines[-1] += f"; {_date()}"
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _from(helo: str, literal: str) -> str:
    """The from clause: the HELO name as given when it reads as a host name or an
    address literal. Otherwise (``a;b``, ``x(y``, 8-bit) the client's address stands
    there and the name goes in a comment, its ``(``, ``)`` and ``\\`` escaped and
    anything else outside printable ASCII as ``?``: a ``;`` or ``(`` left bare would
    end the clause early or swallow the date (RFC 5322 §3.2.2, §3.6.7)."""
    if not helo:
        return f"from {literal} ({literal})"
    if not helo.isascii():
        # An internationalized name: its A-labels (RFC 5890), as DNS knows it.
        with contextlib.suppress(UnicodeError):
            helo = helo.encode("idna").decode("ascii")
    if _HOST.fullmatch(helo) is not None:
        return f"from {helo} ({literal})"
    name = "".join(_COMMENT.get(c, c) if " " < c < "\x7f" else "?" for c in helo)
    return f"from {literal} ({literal}) (helo={name})"


# What the from clause takes as written: letters, digits and ._:- (Windows names
# have underscores), or that inside brackets (an address literal).
_HOST = re.compile(r"[A-Za-z0-9_.:-]+|\[[A-Za-z0-9_.:-]+\]")
_COMMENT = {"(": "\\(", ")": "\\)", "\\": "\\\\"}


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

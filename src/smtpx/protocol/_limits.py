"""Size limits, each with the rule it comes from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Every size limit the engine enforces, in one place.

    The defaults are RFC 5321 §4.5.3's minimums (which a receiver SHOULD accept
    and a sender MUST NOT exceed); hard caps bound what we tolerate from peers
    that exceed them, so that a flood can never exhaust memory.
    """

    # RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
    command_line: int = 512
    # Service extensions lengthen MAIL and RCPT lines: SIZE by 26 (RFC 1870 §3),
    # DSN's ORCPT/NOTIFY by 500 (RFC 3461 §5), AUTH= by 500 (RFC 4954 §5),
    # SMTPUTF8 by 10 (RFC 6531 §3.4). This many octets more are accepted.
    parameters: int = 1000
    # RFC 4954 §4: AUTH command and continuation lines may be up to 12288 octets.
    auth_line: int = 12288
    # RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including CRLF.
    reply_line: int = 512
    # Longer lines than the limits above are answered (500 5.5.2) or tolerated
    # (replies) up to this cap; an unterminated line beyond it is fatal.
    line_hard_cap: int = 32768
    # A multi-line reply longer than this many lines is a flood, not a reply.
    reply_lines: int = 1000
    # RFC 5321 §4.5.3.1.6: a text line in DATA is at most 1000 octets with CRLF.
    # None accepts longer lines (many generators emit them).
    text_line: int | None = 1000
    # RFC 5321 §4.5.3.1.1: local part at most 64 octets.
    local_part: int = 64
    # RFC 5321 §4.5.3.1.2: domain at most 255 octets.
    domain: int = 255
    # RFC 5321 §4.5.3.1.3: reverse- or forward-path at most 256 octets.
    path: int = 256
    # RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients.
    recipients: int = 100
    # RFC 1870 SIZE: the largest message accepted, in octets (None: no limit).
    message_size: int | None = 33_554_432
    # Not in an RFC: after this many refused commands the session is ended
    # with 421, as Postfix's smtpd_hard_error_limit does.
    bad_commands: int = 20

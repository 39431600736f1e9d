"""ESMTP parameters of MAIL and RCPT (RFC 5321 §4.1.2 esmtp-param).

Theory of operation: after the path come ``KEYWORD[=value]`` words separated by
spaces. Each keyword belongs to an extension, and is legal only when the server
advertised that extension in its EHLO reply. The server engine reads them into
the typed fields of :class:`MailFrom` and :class:`RcptTo`; the client engine
writes those fields back out, checking them against what the server offered.

Replies for bad parameters: unknown or not advertised -> 555 5.5.4 (RFC 5321
§4.1.1.11); present but malformed or repeated -> 501 5.5.4.
"""

from __future__ import annotations

import re
from typing import Any

from . import _ascii
from ._errors import Refused
from ._events import MailFrom, RcptTo, Reply
from ._extensions import Extensions
from ._limits import Limits

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
# RFC 5321 esmtp-value: any of %d33-60 / %d62-126, widened to UTF-8 by RFC 6531.
_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e\u0080-\U0010ffff]+\Z")
_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*\Z")
_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})
_BODY = frozenset({"7BIT", "8BITMIME", "BINARYMIME"})
# RFC 3461 §4.4: ENVID at most 100 characters.
ENVID_MAX = 100

UNKNOWN = Reply(555, "5.5.4", "Unsupported parameter")


def malformed(keyword: str) -> Refused:
    return Refused(Reply(501, "5.5.4", f"Malformed {keyword} parameter"))


def xtext_decode(text: str) -> str:
    """RFC 3461 §4: ``+XX`` stands for the octet XX; other characters are themselves."""
    if _XTEXT.match(text) is None:
        raise ValueError(f"not xtext: {text!r}")
    if "+" not in text:
        return text
    raw = re.sub(rb"\+([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode())
    return raw.decode("utf-8", "surrogateescape")


def xtext_encode(text: str) -> str:
    """Encode every octet outside ``!``..``~``, and ``+`` and ``=``, as ``+XX``."""
    raw = text.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if 33 <= b <= 126 and b not in (0x2B, 0x3D) else f"+{b:02X}" for b in raw)


def _split(text: str) -> dict[str, str | None]:
    """``KEY=value KEY2`` -> {"KEY": "value", "KEY2": None}; keywords upper-cased."""
    params: dict[str, str | None] = {}
    for word in text.split(" "):
        if not word:
            continue  # tolerate doubled spaces, as Postfix does
        keyword, eq, value = word.partition("=")
        if _KEYWORD.match(keyword) is None or (eq and _VALUE.match(value) is None):
            raise Refused(Reply(501, "5.5.4", f"Malformed parameter {word!r}"))
        keyword = keyword.upper()
        if keyword in params:
            raise Refused(Reply(501, "5.5.4", f"Duplicate parameter {keyword}"))
        params[keyword] = value if eq else None
    return params


def _offered(offered: bool) -> None:
    if not offered:
        raise Refused(UNKNOWN)


def _xtext(keyword: str, value: str | None) -> str:
    if value is None:
        raise malformed(keyword)
    try:
        return xtext_decode(value)
    except ValueError:
        raise malformed(keyword) from None


def parse_mail_params(text: str, ext: Extensions, limits: Limits) -> dict[str, Any]:
    """The MailFrom fields named by the parameter text; raises Refused."""
    fields: dict[str, Any] = {}
    for keyword, value in _split(text).items():
        if keyword == "SIZE":  # RFC 1870 §6
            _offered(ext.size is not None)
            if value is None or not value.isdigit() or not value.isascii() or len(value) > 20:
                raise malformed(keyword)
            size = int(value)
            # RFC 1870 §6: refuse at once a message declared larger than we take.
            largest = min(x for x in (limits.message_size, ext.size, 1 << 64) if x)
            if size > largest:
                raise Refused(Reply(552, "5.3.4", "Message size exceeds fixed maximum"))
            fields["size"] = size
        elif keyword == "BODY":  # RFC 6152 §3, RFC 3030 §3
            _offered(ext.eightbitmime or ext.binarymime)
            body = _ascii.upper(value or "")
            if body not in _BODY:
                raise malformed(keyword)
            _offered(body != "BINARYMIME" or ext.binarymime)
            _offered(body != "8BITMIME" or ext.eightbitmime)
            fields["body"] = body
        elif keyword == "SMTPUTF8":  # RFC 6531 §3.4
            _offered(ext.smtputf8)
            if value is not None:
                raise malformed(keyword)
            fields["smtputf8"] = True
        elif keyword == "RET":  # RFC 3461 §4.3
            _offered(ext.dsn)
            ret = _ascii.upper(value or "")
            if ret not in ("FULL", "HDRS"):
                raise malformed(keyword)
            fields["ret"] = ret
        elif keyword == "ENVID":  # RFC 3461 §4.4
            _offered(ext.dsn)
            envid = _xtext(keyword, value)
            if len(envid) > ENVID_MAX:
                raise malformed(keyword)
            fields["envid"] = envid
        elif keyword == "AUTH":  # RFC 4954 §5
            _offered(ext.auth is not None)
            fields["auth"] = "<>" if value == "<>" else _xtext(keyword, value)
        else:
            raise Refused(UNKNOWN)
    return fields


def parse_rcpt_params(text: str, ext: Extensions) -> dict[str, Any]:
    """The RcptTo fields named by the parameter text; raises Refused."""
    fields: dict[str, Any] = {}
    for keyword, value in _split(text).items():
        if keyword == "NOTIFY":  # RFC 3461 §4.1
            _offered(ext.dsn)
            words = tuple(_ascii.upper(value or "").split(","))
            never = words == ("NEVER",)
            if not never and (not set(words) <= _NOTIFY or len(set(words)) != len(words)):
                raise malformed(keyword)
            fields["notify"] = words
        elif keyword == "ORCPT":  # RFC 3461 §4.2
            _offered(ext.dsn)
            addr_type, semi, address = (value or "").partition(";")
            if not semi or _KEYWORD.match(addr_type) is None:
                raise malformed(keyword)
            fields["orcpt"] = f"{addr_type};{_xtext(keyword, address)}"
        else:
            raise Refused(UNKNOWN)
    return fields


def mail_params(event: MailFrom) -> list[str]:
    """The parameter words for ``event``, in a fixed order."""
    words: list[str] = []
    if event.size is not None:
        words.append(f"SIZE={event.size}")
    if event.body is not None:
        words.append(f"BODY={event.body}")
    if event.smtputf8:
        words.append("SMTPUTF8")
    if event.ret is not None:
        words.append(f"RET={event.ret}")
    if event.envid is not None:
        words.append(f"ENVID={xtext_encode(event.envid)}")
    if event.auth is not None:
        words.append("AUTH=<>" if event.auth == "<>" else f"AUTH={xtext_encode(event.auth)}")
    return words


def rcpt_params(event: RcptTo) -> list[str]:
    words: list[str] = []
    if event.notify is not None:
        words.append("NOTIFY=" + ",".join(event.notify))
    if event.orcpt is not None:
        addr_type, _, address = event.orcpt.partition(";")
        words.append(f"ORCPT={addr_type};{xtext_encode(address)}")
    return words

"""Mailbox addresses and paths (RFC 5321 §4.1.2, RFC 6531 §3.3).

Theory of operation: ``parse_path`` reads ``<...>`` at the start of a MAIL or
RCPT argument and returns the mailbox inside it as written, plus the rest of the
argument (the ESMTP parameters). A source route (``<@a,@b:user@c>``) is accepted
and dropped (RFC 5321 Appendix C). Quoted local parts and address literals,
``[192.0.2.1]`` and ``[IPv6:2001:db8::1]``, are kept verbatim. Non-ASCII
characters are allowed only when the transaction uses SMTPUTF8 (RFC 6531 §3.3);
the caller decides that, from :func:`is_ascii`.

Failures raise :class:`Refused` with the reply a server sends (501 for syntax,
553 5.6.7 for UTF-8 without SMTPUTF8); the client turns them into
LocalProtocolError.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from . import _ascii
from ._errors import Refused
from ._events import Reply
from ._limits import Limits

# RFC 6531 §3.3: UTF-8 characters; lone surrogates are not characters.
_UTF8 = "\u0080-\ud7ff\ue000-\U0010ffff"
_ATEXT = rf"[A-Za-z0-9!#$%&'*+\-/=?^_`{{|}}~{_UTF8}]"
_DOT_STRING = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
# RFC 5321 §4.1.2 QcontentSMTP: qtextSMTP or a backslash pair.
_QUOTED = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_UTF8}]|\\[\x20-\x7e])*"'
_LET_DIG = rf"[A-Za-z0-9{_UTF8}]"
_SUB_DOMAIN = rf"{_LET_DIG}(?:[A-Za-z0-9\-{_UTF8}]*{_LET_DIG})?"
_DOMAIN = rf"{_SUB_DOMAIN}(?:\.{_SUB_DOMAIN})*"
_LITERAL = r"\[[\x21-\x5a\x5e-\x7e]+\]"
_MAILBOX = rf"(?:{_DOT_STRING}|{_QUOTED})@(?:{_DOMAIN}|{_LITERAL})"
_ADL = rf"@{_DOMAIN}(?:,@{_DOMAIN})*:"

# The full patterns' UTF-8 classes take a tenth of a second to compile: they are
# compiled the first time an address needs them, not when smtpx is imported.
_PATH = rf"<(?:{_ADL})?({_MAILBOX})>"
# The common case, ASCII dot-atoms and a plain domain, matched more cheaply.
_A = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
_L = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_PATH = re.compile(rf"<({_A}(?:\.{_A})*@{_L}(?:\.{_L})*)>")
_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_GENERAL_LITERAL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?:[\x21-\x5a\x5e-\x7e]+")

SYNTAX_SENDER = Reply(501, "5.1.7", "Bad sender address syntax")
SYNTAX_RECIPIENT = Reply(501, "5.1.3", "Bad recipient address syntax")
# RFC 6531 §3.5: a UTF-8 address without SMTPUTF8 gets 553 5.6.7.
NEEDS_SMTPUTF8 = Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")


@functools.cache
def _full(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def ip_literal(domain: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``, read by RFC 5321
    §4.1.3's grammar; None for anything else (a domain name, a general literal, a
    malformed one).

    The grammar differs from Python's ``ipaddress`` both ways: an IPv4 ``Snum`` is
    1 to 3 digits, leading zeros allowed (``[127.0.0.01]``); an IPv6 literal has
    no zone (``%eth0``) and, compressed, at most 6 groups besides the ``::`` (4
    before an IPv4 tail).
    """
    if not (domain.startswith("[") and domain.endswith("]")):
        return None
    inner = domain[1:-1]
    if _ascii.upper(inner[:5]) == "IPV6:":
        return _ipv6(inner[5:])
    return _ipv4(inner)


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    match = _IPV4.fullmatch(text)
    if match is None or any(int(snum) > 255 for snum in match.groups()):
        return None
    return ipaddress.IPv4Address(".".join(str(int(snum)) for snum in match.groups()))


def _ipv6(text: str) -> ipaddress.IPv6Address | None:
    if not text.isascii() or "%" in text:
        return None
    head, dot, _ = text.partition(".")
    if dot:  # IPv6v4: the IPv4 tail by the same rules as an IPv4 literal
        head, _, tail = text.rpartition(":")
        address = _ipv4(tail)
        if address is None:
            return None
        text = f"{head}:{address}"
    try:
        address6 = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    if "::" in text:
        groups = [group for group in text.split(":") if group and "." not in group]
        if len(groups) > (4 if dot else 6):
            return None
    return address6


def _check_literal(domain: str) -> bool:
    """RFC 5321 §4.1.3: IPv4, ``IPv6:`` or a general tagged literal."""
    if ip_literal(domain) is not None:
        return True
    inner = domain[1:-1]
    return _ascii.upper(inner[:5]) != "IPV6:" and _GENERAL_LITERAL.fullmatch(inner) is not None


def check_mailbox(mailbox: str, limits: Limits, syntax: Reply) -> None:
    """Length and literal checks on a mailbox that matched the grammar."""
    local, _, domain = mailbox.rpartition("@")
    if domain.startswith("[") and not _check_literal(domain):
        raise Refused(syntax)
    # RFC 5321 §4.5.3.1: limits are in octets, so UTF-8 addresses count bytes; the
    # path (§4.5.3.1.3) with its angle brackets.
    sizes = (
        ("Local part", len(local.encode("utf-8")), limits.local_part),
        ("Domain", len(domain.encode("utf-8")), limits.domain),
        ("Path", len(mailbox.encode("utf-8")) + 2, limits.path),
    )
    for part, size, limit in sizes:
        if size > limit:
            text = f"{part} too long: {size} octets, at most {limit}"
            raise Refused(Reply(syntax.code, syntax.status, text))


def mailbox_problem(mailbox: str, limits: Limits) -> str | None:
    """Why MAIL or RCPT would be refused for ``mailbox``, a match of the grammar
    (``is_mailbox``): too long (RFC 5321 §4.5.3.1), or a bad address literal
    (§4.1.3). None when it is fine. A sender checks its addresses with it before
    connecting, by the rules a server holds them to."""
    try:
        check_mailbox(mailbox, limits, SYNTAX_RECIPIENT)
    except Refused as refused:
        return refused.reply.text
    return None


def parse_path(argument: str, limits: Limits, *, sender: bool) -> tuple[str, str]:
    """Split ``<path> params`` into the mailbox and the parameter text.

    ``sender`` selects MAIL's rules (``<>`` allowed) rather than RCPT's
    (``<Postmaster>`` allowed, RFC 5321 §4.1.1.3). Whether a non-ASCII
    mailbox is allowed depends on SMTPUTF8, which the caller checks.
    """
    syntax = SYNTAX_SENDER if sender else SYNTAX_RECIPIENT
    match = _PLAIN_PATH.match(argument)
    if match is not None:
        mailbox, rest = match.group(1), argument[match.end() :]
        # Short ASCII dot-atoms with a plain domain: only a length limit can bite.
        if len(mailbox) > min(limits.local_part, limits.domain, limits.path - 2):
            check_mailbox(mailbox, limits, syntax)
    elif sender and argument.startswith("<>"):
        mailbox, rest = "", argument[2:]
    elif not sender and _ascii.upper(argument[:12]) == "<POSTMASTER>":
        mailbox, rest = argument[1:11], argument[12:]
    else:
        match = _full(_PATH).match(argument)
        if match is None:
            raise Refused(syntax)
        mailbox, rest = match.group(1), argument[match.end() :]
        check_mailbox(mailbox, limits, syntax)
    if rest and rest[0] != " ":
        raise Refused(syntax)
    return mailbox, rest.lstrip(" ")


def is_mailbox(text: str) -> bool:
    """True when ``text`` is a mailbox per RFC 5321 §4.1.2 (RFC 6531 with UTF-8)."""
    return _full(_MAILBOX).fullmatch(text) is not None

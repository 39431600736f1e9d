"""Delivery status notifications: the reports a relay sends back (RFC 3461, RFC 3464).

Theory of operation. When the relay gives up on a recipient, has kept failing for a
while, or delivered where the sender asked to hear of success, it tells the
reverse-path. Three questions, one function each:

- is this recipient's sender to be told? :func:`should_notify` reads the NOTIFY
  parameter of its RCPT command (RFC 3461 §4.1);
- where does the report go? :func:`report_envelope`: from the null reverse-path ``<>``
  (RFC 5321 §4.5.5, so no report is ever sent about it) to the original sender, and
  nowhere when the original came from ``<>`` itself: a bounce is never bounced;
- what does it say? :func:`compose_report` writes the whole message from one
  :class:`RecipientReport` per recipient (RFC 6522, RFC 3464)::

    multipart/report; report-type=delivery-status
      text/plain                  for a person: what became of each recipient
      message/delivery-status     for a program, in blocks of header fields:
        Original-Envelope-Id, Reporting-MTA, Arrival-Date              per message
        Original-Recipient, Final-Recipient, Action, Status, Remote-MTA,
        Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until       per recipient
      message/rfc822              the original, or text/rfc822-headers its header

The result is bytes with CRLF line ends and no line over 998 octets (RFC 5322
§2.1.1), queued like any message. Its body needs BODY=8BITMIME only when the
original's did or something in the report is UTF-8; the envelope needs SMTPUTF8 only
when the sender's address is UTF-8.

What goes back (RFC 3461 §4.3): with RET=FULL the whole message, with RET=HDRS its
header. Without RET the choice is the MTA's: the whole message with a failure (the
sender may have no other copy), the header with a delay or success report (the
message is still on its way or arrived; the header is enough to recognize it). The
header only, whatever RET said, for a message over ``max_returned`` octets, or one
that only BDAT could carry (a NUL, a line over 998 octets: RFC 3030).

A report for several recipients is titled by its gravest news: a failure, else a
delay, else success; and RET's default follows the same title. The relay usually
sends one report per kind, at different times.

Internationalized mail (RFC 6533): when the sender, a recipient, a diagnostic or the
returned header is UTF-8, the report takes the global types: report-type and part
``message/global-delivery-status``, ``message/global`` or ``message/global-headers``
for the original, the address type ``utf-8`` for a UTF-8 address (§3: the
utf-8-address form, the address as it is), and 8bit transfer encoding.

Nothing is written by hand but the folding of the status fields; the ``email``
package writes the MIME. Three of its quirks shape this module:

- its folding turns a long word (an address, a token of a server's reply) into
  RFC 2047 encoded words, which have no place in these fields: they are folded here
  at spaces only (RFC 5322 §2.2.3) and set raw;
- its generator wants the body of message/delivery-status as a list of header blocks,
  does not know message/global-delivery-status, and writes any message/* body held
  as bytes with a strict ASCII codec, refusing an 8-bit original. So the field blocks
  are flattened by ``BytesGenerator`` itself, and :class:`_ReportGenerator` writes
  every message/* body as the bytes it was given;
- its parser reads message/delivery-status back as a list of header blocks, but
  message/global-delivery-status as an enclosed message (first block its header, the
  rest its body).

    >>> from datetime import datetime, timezone
    >>> when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    >>> bob = RecipientReport(recipient="bob@example.org", action="failed", status="5.1.1",
    ...                       remote_mta="mx.example.org",
    ...                       diagnostic="550 5.1.1 <bob@example.org>: no such user")
    >>> should_notify(bob.action, None), report_envelope("alice@example.net")
    (True, ('', ['alice@example.net']))
    >>> report = compose_report(reporting_mta="relay.example.net", sender="alice@example.net",
    ...                         original=b"Subject: hi\\r\\n\\r\\nHello\\r\\n", ret=None,
    ...                         envid=None, arrival=when, reports=[bob])
    >>> b"Status: 5.1.1\\r\\n" in report
    True
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy as email_policy
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage, Message, MIMEPart
from email.policy import EmailPolicy
from email.utils import format_datetime, formatdate, make_msgid
from io import BytesIO
from typing import BinaryIO, Literal, TypeAlias, get_args

from smtpx.protocol import Reply, xtext_encode

__all__ = [
    "MAX_RETURNED",
    "WARN_DELAYED_AFTER",
    "Action",
    "RecipientReport",
    "compose_report",
    "diagnostic_of",
    "report_envelope",
    "should_notify",
]

#: RFC 3464 §2.3.3: what the reporting MTA did with the message for a recipient.
Action: TypeAlias = Literal["failed", "delayed", "delivered", "relayed", "expanded"]

#: The largest original returned whole; a larger one comes back as its header only.
MAX_RETURNED = 10 * 1024 * 1024
#: How long a message waits before its sender is warned of the delay (a "delayed"
#: report). No RFC gives a number; four hours is sendmail's default Timeout.queuewarn.
WARN_DELAYED_AFTER = timedelta(hours=4)

_ACTIONS = frozenset(get_args(Action))
# RFC 3461 §4.1: the NOTIFY word that asks for a report with each action. "relayed"
# (to a next hop without DSN, §5.2.2) and "expanded" (to the members of an alias or a
# list) report success as far as this MTA can see it (RFC 3464 §2.3.3).
_ASKED_BY = {
    "failed": "FAILURE",
    "delayed": "DELAY",
    "delivered": "SUCCESS",
    "relayed": "SUCCESS",
    "expanded": "SUCCESS",
}
_NOTIFY_WORDS = frozenset(_ASKED_BY.values())
# The gravest news first: it titles a report about several recipients.
_KINDS = ("FAILURE", "DELAY", "SUCCESS")
_SUBJECTS = {
    "FAILURE": "Undelivered Mail Returned to Sender",
    "DELAY": "Delayed Mail (still being retried)",
    "SUCCESS": "Successful Mail Delivery Report",
}
_INTRODUCTIONS = {
    "FAILURE": "Your message could not be delivered to one or more of its recipients. "
    "The mail system has given up on them: do not wait for it to try again.",
    "DELAY": "This is a warning only: you do not need to send your message again. "
    "It has not yet reached the recipients below, and the mail system keeps trying.",
    "SUCCESS": "This is the delivery report you asked for.",
}
_OUTCOMES = {
    "failed": "delivery failed",
    "delayed": "not delivered yet",
    "delivered": "delivered",
    "relayed": "passed on to a mail system that sends no delivery reports",
    "expanded": "delivered, and passed on to further recipients",
}

# RFC 3463 §2: class "." subject "." detail.
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}\Z")
# RFC 3461 §4.2: ORCPT is addr-type ";" xtext, the addr-type an atom like "rfc822".
_ADDR_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
# What no header field value may hold: controls but TAB (CR and LF would end the
# field), DEL, the C1 controls, the Unicode line separators (str.splitlines(), and so
# the email package, breaks lines at them), and lone surrogates (undecodable bytes).
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ANY_EOL = re.compile(rb"\r\n|\r|\n")
# RFC 5322 §2.2.3: fold before a space; before one that starts a word, so that no
# continuation line is white space only.
_FOLD_POINT = re.compile(r" (?=[^ ])")
# RFC 5322 §2.1.1: a line SHOULD be at most 78 characters, MUST be at most 998 octets
# (RFC 5321 §4.5.3.1.6: 1000 with the CRLF).
_FOLD_AT = 78
_MAX_LINE = 998
# A word longer than this is split to fit a line: "Original-Envelope-Id: " and a
# folding space leave room to spare.
_LONGEST_WORD = 960
# Lines of the text part, as mail readers show them (RFC 5322 §2.1.1's 78, less a margin).
_TEXT_WIDTH = 76

# email.policy.SMTP (CRLF), and SMTPUTF8 for a report that carries UTF-8 (RFC 6532).
# refold_source="none": the status fields, set raw, are written as folded here.
_ASCII_POLICY = email_policy.SMTP.clone(refold_source="none")
_UTF8_POLICY = email_policy.SMTPUTF8.clone(refold_source="none")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientReport:
    """What became of one recipient: the per-recipient fields of RFC 3464 §2.3.

    ``recipient`` is the forward-path (Final-Recipient); ``original_recipient`` the
    ORCPT parameter as the server engine gives it, ``"rfc822;bob@example.org"``
    (xtext-decoded), or None; ``status`` the RFC 3463 code; ``remote_mta`` the host that
    answered and ``diagnostic`` its reply on one line (:func:`diagnostic_of`), both None
    for a failure found here, which ``reason`` describes instead (written as
    ``Diagnostic-Code: X-smtpx; ...``, RFC 3464 §2.3.6 allows a private type);
    ``will_retry_until`` only for "delayed". Times must be
    timezone-aware. A value that cannot go in a header field raises ValueError.
    """

    recipient: str
    original_recipient: str | None = None
    action: Action
    status: str
    remote_mta: str | None = None
    diagnostic: str | None = None
    last_attempt: datetime | None = None
    will_retry_until: datetime | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise ValueError(f"action must be one of {sorted(_ACTIONS)}, not {self.action!r}")
        if _STATUS.match(self.status) is None:
            raise ValueError(f"status must be an RFC 3463 code such as 5.1.1: {self.status!r}")
        _field_text("recipient", self.recipient)
        texts = (
            ("remote_mta", self.remote_mta),
            ("diagnostic", self.diagnostic),
            ("reason", self.reason),
        )
        for what, value in texts:
            if value is not None:
                _field_text(what, value)
        if self.original_recipient is not None:
            addr_type, semicolon, _ = self.original_recipient.partition(";")
            if not semicolon or _ADDR_TYPE.match(addr_type) is None:
                raise ValueError(
                    "original_recipient is ORCPT's addr-type;address, such as "
                    f"'rfc822;bob@example.org': {self.original_recipient!r}"
                )
        _aware("last_attempt", self.last_attempt)
        _aware("will_retry_until", self.will_retry_until)
        if self.will_retry_until is not None and self.action != "delayed":
            # RFC 3464 §2.3.9: the field is for delayed reports only.
            raise ValueError(f"will_retry_until is for a delayed report, not {self.action!r}")


def should_notify(action: str, notify: tuple[str, ...] | None) -> bool:
    """Whether the recipient's NOTIFY parameter asks for a report with ``action``.

    RFC 3461 §4.1: NEVER asks for none; otherwise FAILURE, DELAY and SUCCESS each ask
    for their own kind ("relayed" and "expanded" are success). Without NOTIFY (None),
    failures and delays: "the absence of a NOTIFY parameter ... may be interpreted as
    either NOTIFY=FAILURE or NOTIFY=FAILURE,DELAY"; the latter, so a sender hears that
    mail is late.
    """
    if action not in _ASKED_BY:
        raise ValueError(f"action must be one of {sorted(_ACTIONS)}, not {action!r}")
    asked_by = _ASKED_BY[action]
    if notify is None:
        return asked_by in ("FAILURE", "DELAY")
    words = tuple(word.upper() for word in notify)
    if words == ("NEVER",):
        return False
    if not words or not set(words) <= _NOTIFY_WORDS:
        raise ValueError(f"NOTIFY is NEVER alone, or some of SUCCESS, FAILURE, DELAY: {notify}")
    return asked_by in words


def report_envelope(sender: str) -> tuple[str, list[str]] | None:
    """The envelope of a report about a message from ``sender``, or None.

    RFC 5321 §4.5.5: the report goes from the null reverse-path (MAIL FROM:<>) to the
    original sender alone; none is sent about a message whose own reverse-path was
    null (``""`` or ``"<>"``), which would make two MTAs bounce at each other.
    """
    if sender in ("", "<>"):
        return None
    _field_text("sender", sender)
    return "", [sender]


def diagnostic_of(reply: Reply) -> str:
    """A server's reply as one Diagnostic-Code line: ``550 5.1.1 <bob@x.org>: no such user``.

    The lines of a multi-line reply are joined with spaces; a character that cannot
    go in a header field becomes "?".
    """
    parts = [str(reply.code), reply.status or "", *reply.text.split("\n")]
    return " ".join(_UNPRINTABLE.sub("?", " ".join(parts)).split())


def compose_report(
    *,
    reporting_mta: str,
    sender: str,
    original: bytes | BinaryIO,
    ret: str | None,
    envid: str | None,
    arrival: datetime,
    reports: Sequence[RecipientReport],
    max_returned: int = MAX_RETURNED,
) -> bytes:
    """The delivery status notification to ``sender`` about ``reports``, as wire bytes.

    ``reporting_mta`` is this host's name; ``original`` the message as received (bytes
    or a binary file, read from where it stands); ``ret`` and ``envid`` the RET and
    ENVID parameters of its MAIL command (ENVID xtext-decoded), or None; ``arrival``
    when it was received. Its envelope comes from :func:`report_envelope`.

    Raises ValueError for the null sender, no reports, an unknown RET, a naive time or
    a host name that is no host name.
    """
    if report_envelope(sender) is None:
        raise ValueError("no report goes to the null reverse-path <>: it would never end")
    if not reports:
        raise ValueError("a report needs at least one recipient report")
    if ret is not None and ret.upper() not in ("FULL", "HDRS"):
        raise ValueError(f"RET is FULL or HDRS, not {ret!r}")
    _aware("arrival", arrival)
    mta = _host_name(reporting_mta)
    kind = next(k for k in _KINDS if any(_ASKED_BY[r.action] == k for r in reports))
    wanted = ret.upper() if ret is not None else ("FULL" if kind == "FAILURE" else "HDRS")
    returned, whole = _returned(original, full=wanted == "FULL", limit=max_returned)

    blocks = [_message_fields(mta, envid, arrival), *map(_recipient_fields, reports)]
    utf8 = not (
        sender.isascii()
        and all(value.isascii() for block in blocks for _, value in block)
        and _header_of(returned).isascii()
    )
    policy = _UTF8_POLICY if utf8 else _ASCII_POLICY
    status_type = "global-delivery-status" if utf8 else "delivery-status"

    report = MIMEPart(policy=policy)  # MIME-Version is set below, once, at the top
    report["From"] = Address("Mail Delivery System", "MAILER-DAEMON", mta)
    report["To"] = sender
    report["Subject"] = _SUBJECTS[kind]
    report["Date"] = formatdate(localtime=True)
    report["Message-ID"] = make_msgid(domain=mta)
    report["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5: no automatic answer to it
    report["MIME-Version"] = "1.0"
    # RFC 6522 §3: report-type names the subtype of the second part.
    report["Content-Type"] = f"multipart/report; report-type={status_type}"

    text = _notification(mta, kind, reports, returned, whole)
    notification = MIMEPart(policy=policy)
    notification.set_content(text, cte="7bit" if text.isascii() else "8bit")
    notification["Content-Description"] = "Notification"
    report.attach(notification)

    status = MIMEPart(policy=policy)
    status.set_content(_flattened(blocks, policy), "message", status_type, cte=_cte(utf8))
    status["Content-Description"] = "Delivery report"
    report.attach(status)

    if returned:
        original_part = MIMEPart(policy=policy)
        global_header = not _header_of(returned).isascii()
        if whole:
            # RFC 6532 §3.7: message/global for a message whose header is UTF-8.
            subtype = "global" if global_header else "rfc822"
            cte = _cte(not returned.isascii())
            original_part.set_content(returned, "message", subtype, cte=cte)
        elif global_header:
            original_part.set_content(returned, "message", "global-headers", cte="8bit")
        else:
            original_part.set_content(returned, "text", "rfc822-headers", cte="7bit")
        original_part["Content-Description"] = "Message" if whole else "Message header"
        report.attach(original_part)

    out = BytesIO()
    _ReportGenerator(out, policy=policy).flatten(report)
    return out.getvalue()


class _ReportGenerator(BytesGenerator):
    """``BytesGenerator`` writing the body of every message/* part as the bytes given.

    The stdlib's handlers want message/delivery-status as a list of header blocks,
    and encode any other message/* body held as bytes with a strict ASCII codec (so
    an 8-bit message/global fails). Here each such body is complete wire bytes: the
    status blocks flattened by ``BytesGenerator``, the original with CRLF line ends.
    """

    def _handle_message(self, msg: Message) -> None:
        # A 7bit or 8bit body "decodes" to the very bytes set_content() was given.
        payload = msg.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise TypeError("a report's message/* part holds bytes, not a parsed message")
        self.write(payload.decode("ascii", "surrogateescape"))  # write() encodes it back

    _handle_message_delivery_status = _handle_message


def _message_fields(mta: str, envid: str | None, arrival: datetime) -> list[tuple[str, str]]:
    """RFC 3464 §2.2, in its order."""
    fields = []
    if envid:
        # RFC 3461 §6.3 (a): the ENVID, decoded. An ENVID that does not decode to
        # printable ASCII goes back as it came, in xtext.
        printable = envid.isascii() and _UNPRINTABLE.search(envid) is None
        fields.append(("Original-Envelope-Id", envid if printable else xtext_encode(envid)))
    fields.append(("Reporting-MTA", f"dns; {mta}"))
    fields.append(("Arrival-Date", format_datetime(arrival)))
    return fields


def _recipient_fields(report: RecipientReport) -> list[tuple[str, str]]:
    """RFC 3464 §2.3, in its order."""
    fields = []
    if report.original_recipient is not None:
        # RFC 3461 §6.3 (d): the ORCPT parameter, decoded; xtext again for an address
        # that does not decode to text a header field can hold.
        addr_type, _, address = report.original_recipient.partition(";")
        if _UNPRINTABLE.search(address):
            address = xtext_encode(address)
        fields.append(("Original-Recipient", f"{addr_type}; {address}"))
    # RFC 6533 §3: a UTF-8 address is of type utf-8.
    address_type = "rfc822" if report.recipient.isascii() else "utf-8"
    fields.append(("Final-Recipient", f"{address_type}; {report.recipient}"))
    fields.append(("Action", report.action))
    fields.append(("Status", report.status))
    if report.remote_mta:
        fields.append(("Remote-MTA", f"dns; {report.remote_mta}"))
    diagnostic = _diagnostic(report)
    if diagnostic:
        fields.append(("Diagnostic-Code", f"smtp; {diagnostic}"))
    elif report.reason:
        fields.append(("Diagnostic-Code", f"X-smtpx; {' '.join(report.reason.split())}"))
    if report.last_attempt is not None:
        fields.append(("Last-Attempt-Date", format_datetime(report.last_attempt)))
    if report.will_retry_until is not None:
        fields.append(("Will-Retry-Until", format_datetime(report.will_retry_until)))
    return fields


def _diagnostic(report: RecipientReport) -> str:
    """The remote server's reply, its runs of white space made single spaces."""
    return " ".join((report.diagnostic or "").split())


def _flattened(blocks: list[list[tuple[str, str]]], policy: EmailPolicy[EmailMessage]) -> bytes:
    """The body of the status part: each block's fields, a blank line between blocks."""
    out = BytesIO()
    for fields in blocks:
        block = EmailMessage(policy=policy)
        for name, value in fields:
            block.set_raw(name, _folded(name, value))
        BytesGenerator(out, policy=policy).flatten(block)  # the fields, then a blank line
    return out.getvalue()[: -len(b"\r\n")]


def _folded(name: str, value: str) -> str:
    """``value`` with CRLF before some of its spaces, so ``name: value`` keeps to 78
    octets a line where spaces allow, and to 998 always (RFC 5322 §2.2.3, §2.1.1).

    Unfolding gives ``value`` back, except that a word too long for any line (no real
    address or reply has one) is cut in pieces with a space between them.
    """
    words = []
    for word in _FOLD_POINT.split(value.strip()):
        rest = word
        while len(rest.encode("utf-8")) > _LONGEST_WORD:
            cut = len(rest.encode("utf-8")[:_LONGEST_WORD].decode("utf-8", "ignore"))
            words.append(rest[:cut])
            rest = rest[cut:]
        words.append(rest)
    lines = [words[0]]
    width = len(name) + len(": ") + len(words[0].encode("utf-8"))
    for word in words[1:]:
        size = len(b" ") + len(word.encode("utf-8"))
        if width + size <= _FOLD_AT:
            lines[-1] += " " + word
            width += size
        else:
            lines.append(" " + word)
            width = size
    return "\r\n".join(lines)


def _notification(
    mta: str, kind: str, reports: Sequence[RecipientReport], returned: bytes, whole: bool
) -> str:
    """The text/plain part: who, what happened, what the remote server said."""
    wrap = textwrap.TextWrapper(width=_TEXT_WIDTH, break_on_hyphens=False)
    hang = textwrap.TextWrapper(width=_TEXT_WIDTH, break_on_hyphens=False, subsequent_indent="    ")
    text = [wrap.fill(f"This is the mail system at host {mta}."), wrap.fill(_INTRODUCTIONS[kind])]
    text += [hang.fill(_outcome(report)) for report in reports]
    if returned:
        text.append(
            "Your message is attached." if whole else "The header of your message is attached."
        )
    return "\n\n".join(text) + "\n"


def _outcome(report: RecipientReport) -> str:
    """``<bob@example.org>: delivery failed (status 5.1.1). Host mx.example.org said: ...``"""
    diagnostic = _diagnostic(report)
    details = [f"status {report.status}"]
    if report.remote_mta and not diagnostic:
        details.insert(0, f"host {report.remote_mta}")
    outcome = f"<{report.recipient}>: {_OUTCOMES[report.action]} ({', '.join(details)})."
    if report.will_retry_until is not None:
        outcome += f" Delivery will be tried until {format_datetime(report.will_retry_until)}."
    if diagnostic:
        said_by = f"Host {report.remote_mta}" if report.remote_mta else "The remote server"
        outcome += f" {said_by} said: {diagnostic}"
    elif report.reason:
        outcome += f" {' '.join(report.reason.split())}"
    return outcome


def _returned(original: bytes | BinaryIO, *, full: bool, limit: int) -> tuple[bytes, bool]:
    """What goes in the third part, and whether it is the whole message (else its header).

    Line ends become CRLF. The whole message only when asked, no larger than
    ``limit``, and free of what only BDAT carries; a header line over 998 octets
    (which SMTP could not have carried either) is cut, a NUL dropped.
    """
    if isinstance(original, bytes | bytearray | memoryview):
        data = bytes(original)
        small = len(data) <= limit
    elif full:
        data = original.read(limit + 1)
        small = len(data) <= limit
    else:
        data, small = _read_header(original, limit), False
    if data.count(b"\r\n") != data.count(b"\n") or data.count(b"\r") != data.count(b"\n"):
        data = _ANY_EOL.sub(b"\r\n", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    if full and small and b"\0" not in data and _longest_line(data) <= _MAX_LINE:
        return data, True
    lines = _header_of(data).replace(b"\0", b"").split(b"\r\n")
    return b"\r\n".join(line[:_MAX_LINE] for line in lines), False


def _read_header(stream: BinaryIO, limit: int) -> bytes:
    """The lines of ``stream`` up to its first blank line, at most ``limit`` octets."""
    lines = []
    size = 0
    while size <= limit:
        line = stream.readline(limit + 1 - size)
        if not line:
            break
        lines.append(line)
        size += len(line)
        if line in (b"\r\n", b"\n"):
            break
    return b"".join(lines)


def _header_of(data: bytes) -> bytes:
    """The header section of a message with CRLF line ends, each line with its CRLF.

    RFC 5322 §2.1: it ends at the first empty line; a message cut short (or one with
    no body) ends it at its last full line.
    """
    if data.startswith(b"\r\n"):
        return b""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.rfind(b"\r\n")
    return data[: end + len(b"\r\n")] if end >= 0 else b""


def _longest_line(data: bytes) -> int:
    if len(data) <= _MAX_LINE:
        return len(data)
    return max(map(len, data.split(b"\r\n")))


def _cte(eight_bit: bool) -> str:
    """RFC 2046 §5.2.1, RFC 6532 §3.7: a message/* body is 7bit or 8bit, never encoded."""
    return "8bit" if eight_bit else "7bit"


def _host_name(name: str) -> str:
    """``name`` for Reporting-MTA (RFC 3464 §2.2.2: type dns) and the From address:
    IDNA A-labels, so the header stays ASCII."""
    if not name or any(c.isspace() for c in name) or _UNPRINTABLE.search(name):
        raise ValueError(f"reporting_mta must be a host name: {name!r}")
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"reporting_mta must be a host name: {name!r}") from None


def _field_text(what: str, value: str) -> None:
    if not value:
        raise ValueError(f"{what} is empty")
    if _UNPRINTABLE.search(value):
        raise ValueError(f"{what} holds a line break or control character: {value!r}")


def _aware(what: str, when: datetime | None) -> None:
    # RFC 5322 §3.3: a date carries its offset from UTC; a naive time has none.
    if when is not None and when.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware: {when!r}")

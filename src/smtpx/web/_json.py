"""The JSON API's shapes: a message's summary (lists, events) and the whole message.

Theory of operation: these are the API's contract, so every key is always
present (null when there is nothing to say) and named once, here; the OpenAPI
schemas ``Summary`` and ``Message`` (``_openapi``) describe the same keys, and a
test holds the two together. Times are RFC 3339 in UTC (``...Z``); sizes are
octets; an ESMTP parameter list is an object, keyword to value ("" for a
keyword without one: RFC 5321 §4.1.2 lets each keyword appear once).

``summary_json``:
    ``id``, ``received_at``, ``size``; from the headers ``subject``, ``from``,
    ``to`` and ``cc`` (lists of "Name <address>"), ``date``, ``message_id``,
    ``attachments`` (file names, "" for an attachment without one); the SMTP
    ``envelope`` (``sender``, "" for the null reverse-path; ``recipients`` with
    their ``params``; the MAIL ``params``); ``seen`` (marked read) and ``inbox``
    (the inbox it was filed in, "" for the default one).
``message_json``:
    the summary's keys, plus ``origin`` (the session: ``client_address``,
    ``client_port``, ``helo``, ``tls``, ``auth_user``), and from the parsed
    message ``headers`` (``name``, ``value``, in order), ``text``, ``html``
    (as sent: a browser must show it as ``/messages/{id}/html`` does), ``parts``,
    ``received`` (the trace, the last hop first) and ``defects``; these are null
    when the message was not parsed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smtpx.store import Envelope, StoredMessage

from ._received import Hop
from ._render import MessageView, Part

__all__ = ["message_json", "summary_json", "timestamp_json"]


def timestamp_json(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: "2025-07-01T10:00:00.000Z"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary_json(stored: StoredMessage) -> dict[str, Any]:
    """The message as a list or an event shows it (the OpenAPI ``Summary``)."""
    summary = stored.summary
    return {
        "id": stored.id,
        "received_at": timestamp_json(stored.received_at),
        "size": stored.size,
        "subject": summary.subject,
        "from": summary.from_,
        "to": list(summary.to),
        "cc": list(summary.cc),
        "date": summary.date,
        "message_id": summary.message_id,
        "attachments": list(summary.attachments),
        "envelope": _envelope(stored.envelope),
        "seen": stored.seen,
        "inbox": stored.inbox,
    }


def message_json(stored: StoredMessage, view: MessageView | None) -> dict[str, Any]:
    """The whole message (the OpenAPI ``Message``); ``view`` None: not parsed."""
    origin = stored.origin
    document = summary_json(stored)
    document["origin"] = {
        "client_address": origin.client_address,
        "client_port": origin.client_port,
        "helo": origin.helo,
        "tls": origin.tls,
        "auth_user": origin.auth_user,
    }
    if view is None:
        document.update(headers=None, text=None, html=None, parts=None, received=None, defects=None)
        return document
    document["headers"] = [{"name": name, "value": value} for name, value in view.headers]
    document["text"] = view.text
    document["html"] = view.html
    document["parts"] = [_part(part) for part in view.parts]
    document["received"] = [_hop(hop) for hop in view.received]
    document["defects"] = list(view.defects)
    return document


def _envelope(envelope: Envelope) -> dict[str, Any]:
    return {
        "sender": envelope.sender,
        "params": dict(envelope.params),
        "recipients": [
            {"address": recipient.address, "params": dict(recipient.params)}
            for recipient in envelope.recipients
        ],
    }


def _part(part: Part) -> dict[str, Any]:
    return {
        "index": part.index,
        "content_type": part.content_type,
        "filename": part.filename,
        "size": part.size,
        "content_id": part.content_id,
        "disposition": part.disposition,
        "depth": part.depth,
        "attachment": part.is_attachment,
    }


def _hop(hop: Hop) -> dict[str, Any]:
    return {
        "from": hop.from_,
        "from_info": hop.from_info,
        "by": hop.by,
        "by_info": hop.by_info,
        "via": hop.via,
        "with": hop.with_,
        "id": hop.id,
        "for": hop.for_,
        "date": hop.date,
        "timestamp": None if hop.timestamp is None else timestamp_json(hop.timestamp),
        "raw": hop.raw,
    }

"""The inbox's HTTP API, described in OpenAPI 3.1 (served as JSON, e.g. at /api/v1/openapi.json).

Theory of operation: one dict, built once from small helpers so each shape is
written once. The ``Summary`` and ``Message`` schemas are the contract of
``_json``: a test checks that ``summary_json``/``message_json`` produce exactly
their properties. Fault injection rules (``/api/v1/faults``) are described here
for the server's fault layer to implement: each rule matches one SMTP command,
optionally only for addresses matching a pattern, and answers with ``code`` for
a ``fraction`` of matches (drawn from a generator seeded with ``seed``, so a test
run can be replayed), after ``delay`` seconds, or drops the connection.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def _object(properties: dict[str, Schema], description: str) -> Schema:
    """A closed object whose every property is always present (null if unknown)."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _json(schema: Schema, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
_PARAMS: Schema = {
    "type": "object",
    "description": 'ESMTP parameters, keyword to value ("" for a keyword without one).',
    "additionalProperties": {"type": "string"},
}

_SUMMARY_PROPERTIES: dict[str, Schema] = {
    "id": {"type": "string", "pattern": "^[0-9a-f]{20}$", "description": "Sorts by arrival."},
    "received_at": {"type": "string", "format": "date-time"},
    "size": {"type": "integer", "minimum": 0, "description": "Octets as received."},
    "subject": {"type": "string"},
    "from": {"type": "string", "description": 'The From header: "Name <address>".'},
    "to": _STRINGS,
    "cc": _STRINGS,
    "date": _nullable("string"),
    "message_id": _nullable("string"),
    "attachments": {**_STRINGS, "description": 'File names ("" for one without).'},
    "envelope": _ref("Envelope"),
    "seen": {"type": "boolean", "description": "Marked read."},
    "inbox": {"type": "string", "description": 'The inbox it was filed in; "" is the default.'},
}

_SCHEMAS: dict[str, Schema] = {
    "Error": _object({"error": {"type": "string"}}, "What went wrong, in one line."),
    "Recipient": _object(
        {"address": {"type": "string"}, "params": _PARAMS}, "One RCPT TO of the transaction."
    ),
    "Envelope": _object(
        {
            "sender": {"type": "string", "description": 'MAIL FROM; "" for the null path.'},
            "params": _PARAMS,
            "recipients": {"type": "array", "items": _ref("Recipient")},
        },
        "What the SMTP transaction said, not the headers.",
    ),
    "Origin": _object(
        {
            "client_address": {"type": "string"},
            "client_port": {"type": "integer"},
            "helo": {"type": "string"},
            "tls": {**_nullable("string"), "description": 'e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"'},
            "auth_user": _nullable("string"),
        },
        "The SMTP session the message came in.",
    ),
    "Summary": _object(_SUMMARY_PROPERTIES, "A message as lists and events show it."),
    "Header": _object({"name": {"type": "string"}, "value": {"type": "string"}}, "A header."),
    "Part": _object(
        {
            "index": {"type": "integer", "description": "n in /parts/{n}"},
            "content_type": {"type": "string"},
            "filename": _nullable("string"),
            "size": {"type": "integer", "description": "Octets, decoded."},
            "content_id": _nullable("string"),
            "disposition": _nullable("string"),
            "depth": {"type": "integer", "description": "0, or how deep in attached messages"},
            "attachment": {"type": "boolean"},
        },
        "One MIME part, numbered depth first in the order of the message.",
    ),
    "Hop": _object(
        {
            **{
                name: _nullable("string")
                for name in ("from", "from_info", "by", "by_info", "via", "with", "id", "for")
            },
            "date": _nullable("string"),
            "timestamp": {**_nullable("string"), "format": "date-time"},
            "raw": {"type": "string"},
        },
        "One Received header, read as far as it reads.",
    ),
    "Message": _object(
        {
            **_SUMMARY_PROPERTIES,
            "origin": _ref("Origin"),
            "headers": {"type": ["array", "null"], "items": _ref("Header")},
            "text": _nullable("string"),
            "html": {**_nullable("string"), "description": "As sent: never show it unsandboxed."},
            "parts": {"type": ["array", "null"], "items": _ref("Part")},
            "received": {
                "type": ["array", "null"],
                "items": _ref("Hop"),
                "description": "The trace, the last hop first.",
            },
            "defects": {"type": ["array", "null"], "items": {"type": "string"}},
        },
        "A whole message. The parsed fields are null if it could not be read.",
    ),
    "MessageList": _object(
        {
            "messages": {"type": "array", "items": _ref("Summary")},
            "cursor": {
                **_nullable("string"),
                "description": "Pass as cursor= for the next, older page; null on the last.",
            },
            "total": {**_nullable("integer"), "description": "How many match, if known."},
        },
        "One page of messages, newest first.",
    ),
    "SeenRequest": _object(
        {"ids": {"type": "array", "items": {"type": "string"}}, "seen": {"type": "boolean"}},
        "Mark messages read (seen: true) or unread.",
    ),
    "Deleted": _object({"deleted": {"type": "integer"}}, "How many messages were deleted."),
    "ReleaseRequest": {
        "type": "object",
        "description": "Send the stored message on, as received, to the configured server.",
        "properties": {"to": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
        "required": ["to"],
        "additionalProperties": False,
    },
    "ReleaseResult": _object(
        {
            "delivered": {"type": "array", "items": {"type": "string"}},
            "refused": {
                "type": "array",
                "items": _object(
                    {"address": {"type": "string"}, "reply": {"type": "string"}},
                    "A recipient the server refused, with its reply.",
                ),
            },
        },
        "What the server said to each recipient.",
    ),
    "FaultRule": {
        "type": "object",
        "description": "Answer a command with an error, late, or not at all.",
        "properties": {
            "command": {"type": "string", "enum": ["MAIL", "RCPT", "DATA", "AUTH"]},
            "code": {**_nullable("integer"), "minimum": 400, "maximum": 599},
            "text": {**_nullable("string"), "description": "The reply text; a default per code."},
            "fraction": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
            "seed": {**_nullable("integer"), "description": "Seeds the draws: replayable."},
            "match": {
                **_nullable("string"),
                "description": 'A glob the address (AUTH: the user) must match: "*@fail.example".',
            },
            "delay": {"type": "number", "minimum": 0, "default": 0, "description": "Seconds."},
            "drop": {
                "type": "boolean",
                "default": False,
                "description": "Close the connection instead of replying.",
            },
        },
        "required": ["command"],
        "additionalProperties": False,
    },
    "Faults": _object(
        {"rules": {"type": "array", "items": _ref("FaultRule")}},
        "Every rule, checked in order; the first that matches and fires answers.",
    ),
}


def _query(name: str, description: str, schema: Schema | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_QUERY = _query("query", "A search, in the store's query language; empty: everything.")
_INBOX = _query("inbox", 'Only this inbox ("" is the default one); absent: every inbox.')
_NOT_FOUND = _error("No such message.")

_PATHS: dict[str, Any] = {
    "/api/v1/messages": {
        "get": {
            "summary": "List messages, newest first",
            "parameters": [
                _QUERY,
                _INBOX,
                _query("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 1000}),
                _query("cursor", "The cursor of the previous page."),
            ],
            "responses": {
                "200": _json(_ref("MessageList"), "A page."),
                "400": _error("A malformed query or parameter."),
            },
        },
        "delete": {
            "summary": "Delete every message matching a search",
            "parameters": [_QUERY, _INBOX],
            "responses": {
                "200": _json(_ref("Deleted"), "Deleted."),
                "400": _error("A malformed query."),
            },
        },
    },
    "/api/v1/messages/wait": {
        "get": {
            "summary": "Wait for a message matching a search (long poll)",
            "description": "Answers at once if a message newer than `after` matches, else "
            "when one arrives, else 408 after `timeout` seconds.",
            "parameters": [
                _QUERY,
                _INBOX,
                _query("after", "Only messages newer than this id (a cursor)."),
                _query("timeout", "Seconds to wait.", {"type": "number", "minimum": 0}),
            ],
            "responses": {
                "200": _json(_ref("Message"), "The oldest matching message after `after`."),
                "400": _error("A malformed query or parameter."),
                "408": _error("No message came in time."),
            },
        },
    },
    "/api/v1/messages/seen": {
        "post": {
            "summary": "Mark messages read or unread",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("SeenRequest")}},
            },
            "responses": {"204": {"description": "Done."}, "400": _error("A malformed body.")},
        },
    },
    "/api/v1/messages/{id}": {
        "parameters": [_ID],
        "get": {
            "summary": "A whole message, parsed",
            "responses": {"200": _json(_ref("Message"), "The message."), "404": _NOT_FOUND},
        },
        "delete": {
            "summary": "Delete a message",
            "responses": {"204": {"description": "Deleted."}, "404": _NOT_FOUND},
        },
    },
    "/api/v1/messages/{id}/raw": {
        "parameters": [_ID],
        "get": {
            "summary": "The message exactly as received",
            "responses": {
                "200": {
                    "description": "The octets.",
                    "content": {"message/rfc822": {"schema": {"type": "string"}}},
                },
                "404": _NOT_FOUND,
            },
        },
    },
    "/api/v1/messages/{id}/parts/{n}": {
        "parameters": [
            _ID,
            {"name": "n", "in": "path", "required": True, "schema": {"type": "integer"}},
        ],
        "get": {
            "summary": "One MIME part, decoded, with its own content type",
            "description": "Served sandboxed (Content-Security-Policy: sandbox), so an HTML "
            "or SVG part cannot run scripts.",
            "parameters": [
                _query("download", "1: as an attachment (Content-Disposition).", {"enum": ["1"]})
            ],
            "responses": {
                "200": {
                    "description": "The part's octets.",
                    "content": {"application/octet-stream": {"schema": {"type": "string"}}},
                },
                "404": _error("No such message or part."),
            },
        },
    },
    "/api/v1/messages/{id}/release": {
        "parameters": [_ID],
        "post": {
            "summary": "Send the message on to the configured SMTP server",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("ReleaseRequest")}},
            },
            "responses": {
                "200": _json(_ref("ReleaseResult"), "The server took it for some recipients."),
                "400": _error("A malformed body, or no server to release to is configured."),
                "404": _NOT_FOUND,
                "502": _error("The server could not be reached or refused every recipient."),
            },
        },
    },
    "/api/v1/events": {
        "get": {
            "summary": "New messages, as server-sent events",
            "description": "Each new message is `event: message` with a Summary as JSON data. "
            "Clients ignore event types they do not know.",
            "parameters": [_INBOX],
            "responses": {
                "200": {
                    "description": "An endless event stream.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
            },
        },
    },
    "/api/v1/faults": {
        "get": {
            "summary": "The fault injection rules in force",
            "responses": {"200": _json(_ref("Faults"), "The rules.")},
        },
        "put": {
            "summary": "Replace the fault injection rules (an empty list: no faults)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("Faults")}},
            },
            "responses": {
                "200": _json(_ref("Faults"), "The rules now in force."),
                "400": _error("A malformed rule."),
            },
        },
    },
    "/metrics": {
        "get": {
            "summary": "Metrics in the Prometheus text format",
            "responses": {
                "200": {
                    "description": "The metrics.",
                    "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
                },
            },
        },
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "smtpx inbox",
        "version": "1",
        "description": "Read, search, wait for, release and delete the messages smtpx "
        "received; inject SMTP faults.",
    },
    "paths": _PATHS,
    "components": {"schemas": _SCHEMAS},
}

"""The JSON API's contract: summary_json and message_json produce exactly what the
OpenAPI document says, and the document holds together (every $ref resolves, every
operation has responses, every path parameter is declared)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from tests.web import samples

from smtpx.server import FaultRule
from smtpx.web._json import message_json, summary_json, timestamp_json
from smtpx.web._openapi import OPENAPI
from smtpx.web._render import parse_message

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def resolve(reference: str) -> Any:
    assert reference.startswith("#/"), reference
    node: Any = OPENAPI
    for key in reference[2:].split("/"):
        assert isinstance(node, dict)
        assert key in node, f"{reference} does not resolve"
        node = node[key]
    return node


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in references(value)]
    if isinstance(node, list):
        return [r for value in node for r in references(value)]
    return []


def check(value: Any, schema: dict[str, Any], where: str = "$") -> None:
    """A small JSON Schema check: the keywords the document uses, no more."""
    if "$ref" in schema:
        check(value, resolve(schema["$ref"]), where)
        return
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        matches = [k for k in kinds if isinstance(value, _TYPES[k])]
        # bool is an int in Python, not in JSON
        assert matches, f"{where}: {value!r} is not {kinds}"
        assert not (isinstance(value, bool) and "boolean" not in kinds), where
    if "enum" in schema:
        assert value in schema["enum"], where
    if isinstance(value, str) and "pattern" in schema:
        assert re.search(schema["pattern"], value), where
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(item, schema["items"], f"{where}[{i}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        missing = set(schema.get("required", ())) - set(value)
        assert not missing, f"{where}: missing {sorted(missing)}"
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                check(item, properties[key], f"{where}.{key}")
            elif extra is False:
                raise AssertionError(f"{where}: {key!r} is not in the schema")
            elif isinstance(extra, dict):
                check(item, extra, f"{where}.{key}")


# The document


def test_openapi_is_json_and_version_3_1() -> None:
    assert json.loads(json.dumps(OPENAPI)) == OPENAPI
    assert OPENAPI["openapi"].startswith("3.1.")
    assert {"title", "version"} <= set(OPENAPI["info"])


def test_every_reference_resolves() -> None:
    found = references(OPENAPI)
    assert found
    for reference in found:
        resolve(reference)


def test_every_schema_is_used() -> None:
    used = {r.rsplit("/", 1)[-1] for r in references(OPENAPI)}
    assert set(OPENAPI["components"]["schemas"]) - used == set()


def test_every_operation_has_responses_and_declares_its_path_parameters() -> None:
    for path, item in OPENAPI["paths"].items():
        operations = {m: op for m, op in item.items() if m in METHODS}
        assert operations, path
        in_path = set(re.findall(r"{(\w+)}", path))
        for method, operation in operations.items():
            assert operation["responses"], f"{method} {path}"
            for code, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code), f"{method} {path} {code}"
                assert response["description"], f"{method} {path} {code}"
            parameters = item.get("parameters", []) + operation.get("parameters", [])
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == in_path, f"{method} {path}"
            assert all(p["required"] for p in parameters if p["in"] == "path")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/messages"),
        ("delete", "/api/v1/messages"),
        ("get", "/api/v1/messages/{id}"),
        ("delete", "/api/v1/messages/{id}"),
        ("get", "/api/v1/messages/{id}/raw"),
        ("get", "/api/v1/messages/{id}/parts/{n}"),
        ("post", "/api/v1/messages/{id}/release"),
        ("post", "/api/v1/messages/seen"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/messages/wait"),
        ("get", "/metrics"),
        ("get", "/api/v1/faults"),
        ("put", "/api/v1/faults"),
    ],
)
def test_the_documented_operations(method: str, path: str) -> None:
    assert method in OPENAPI["paths"][path]


def test_wait_answers_408_on_timeout() -> None:
    responses = OPENAPI["paths"]["/api/v1/messages/wait"]["get"]["responses"]
    assert {"200", "408"} <= set(responses)


def test_a_fault_rule_example_fits_its_schema() -> None:
    rule = FaultRule.parse("RCPT 451 match=*@flaky.example fraction=0.25 seed=7 delay=1.5")
    dropped = FaultRule.parse("DATA drop")
    rules = [rule.describe(), dropped.describe()]
    check({"rules": rules}, {"$ref": "#/components/schemas/Faults"})
    with pytest.raises(AssertionError):
        check({"command": "HELO"}, {"$ref": "#/components/schemas/FaultRule"})


# The shapes


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = OPENAPI["components"]["schemas"][name]
    return found


def test_summary_json_is_the_summary_schema() -> None:
    document = summary_json(samples.stored(attachments=("a.pdf", ""), inbox="dev"))
    assert list(document) == list(schema("Summary")["properties"])
    check(json.loads(json.dumps(document)), schema("Summary"))
    assert document["received_at"] == "2025-07-01T10:00:00.123Z"
    assert document["from"] == "Ann Example <ann@example.org>"
    assert document["envelope"] == {
        "sender": "ann@example.org",
        "params": {"SIZE": "2345", "SMTPUTF8": ""},
        "recipients": [{"address": "bob@example.net", "params": {"NOTIFY": "SUCCESS,FAILURE"}}],
    }
    assert (document["seen"], document["inbox"]) == (False, "dev")


def test_summary_json_of_a_seen_message_in_the_default_inbox() -> None:
    document = summary_json(samples.stored(seen=True))
    assert (document["seen"], document["inbox"]) == (True, "")
    check(document, schema("Summary"))


@pytest.mark.parametrize(
    "raw", [samples.inline_image(), samples.forwarded(), *samples.BROKEN], ids=repr
)
def test_message_json_is_the_message_schema(raw: bytes) -> None:
    message = samples.headed()
    message["Received"] = "from a.example by b.example; Tue, 1 Jul 2025 10:00:00 +0000"
    message.set_content("x\n")
    for source in (raw, samples.as_bytes(message)):
        document = message_json(samples.stored(), parse_message(source))
        assert set(document) == set(schema("Message")["properties"])
        check(json.loads(json.dumps(document)), schema("Message"))


def test_message_json_parts_and_trace() -> None:
    document = message_json(samples.stored(), parse_message(samples.inline_image()))
    assert document["parts"][2] == {
        "index": 2,
        "content_type": "image/png",
        "filename": None,
        "size": len(samples.PNG),
        "content_id": "logo@example.org",
        "disposition": "inline",
        "depth": 0,
        "attachment": False,
    }
    assert document["origin"]["auth_user"] == "ann"
    assert document["headers"][0] == {"name": "From", "value": "Ann Example <ann@example.org>"}


def test_message_json_unparsed_has_every_key_null() -> None:
    document = message_json(samples.stored(), None)
    check(document, schema("Message"))
    assert document["text"] is None
    assert document["parts"] is None


def test_timestamps_are_utc_with_a_z() -> None:
    moment = datetime(2025, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert timestamp_json(moment) == "2025-07-01T10:00:00.000Z"
    assert timestamp_json(datetime(2025, 7, 1, 10, 0)) == "2025-07-01T10:00:00.000Z"

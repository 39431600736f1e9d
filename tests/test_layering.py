"""DESIGN.md's layering, checked on the source: imports only go down.

Every module under src/smtpx is parsed (never imported) and each import is resolved
to the smtpx package it reaches, relative imports included. The rules:

- layers, low to high: protocol < store < client < server < relay < web < testing < cli; a
  package imports only itself and lower layers;
- protocol/ does no I/O: no asyncio, socket, ssl, selectors, sqlite3, threading or
  subprocess, and nothing from any other smtpx package;
- store/ knows no SMTP: nothing from any other smtpx package;
- the root modules (smtpx/__init__.py, smtpx/__main__.py) sit on top and may import
  any layer, so no layer imports them (that would be an import going up);
- every package belongs to a layer: a new one is added here and in DESIGN.md.

Packages that do not exist yet are simply absent: only what is on disk is checked.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = "smtpx"

LAYERS = ("protocol", "store", "client", "server", "relay", "web", "testing", "cli")
LAYER_ORDER = " < ".join(LAYERS)
ENTRY_POINT = "__main__"

# The engine does no I/O, so it may not import the modules that do (DESIGN.md, Layers).
PROTOCOL_FORBIDDEN = frozenset(
    {"asyncio", "socket", "ssl", "selectors", "sqlite3", "threading", "subprocess"}
)
SELF_CONTAINED = {
    "protocol": "protocol/ imports nothing from any other smtpx package",
    "store": "store/ knows no SMTP and imports nothing from any other smtpx package",
}


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    statement: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: `{self.statement}`: {self.reason}"


def owner_of(module: str) -> str:
    """The layer a module belongs to: a LAYERS name, "" for the root, or "__main__"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def resolve_relative(module: str, *, is_package: bool, level: int, name: str | None) -> str | None:
    """The absolute module a `from <dots><name> import ...` names, or None past the top."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 >= len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imported_modules(
    node: ast.Import | ast.ImportFrom, module: str, *, is_package: bool
) -> list[str] | None:
    """The absolute modules one import statement reaches; None if it leaves the top package."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = resolve_relative(module, is_package=is_package, level=node.level, name=node.module)
        if base is None:
            return None
    else:
        base = node.module or ""
    if base != ROOT:
        return [base]
    # `from smtpx import client` reaches a package; `from smtpx import __version__` the root.
    return [
        f"{ROOT}.{alias.name}" if alias.name in (*LAYERS, ENTRY_POINT) else ROOT
        for alias in node.names
    ]


def import_reason(owner: str, target: str) -> str | None:
    """Why a module of layer `owner` may not import `target`, or None if it may."""
    parts = target.split(".")
    if parts[0] != ROOT:
        if owner == "protocol" and parts[0] in PROTOCOL_FORBIDDEN:
            return f"protocol/ does no I/O, so it imports no {parts[0]}"
        return None
    if owner in ("", ENTRY_POINT):
        return None  # the root modules sit on top of every layer
    if len(parts) == 1 or parts[1] == ENTRY_POINT:
        return (
            f"{owner}/ imports {target}: no layer imports the smtpx root modules, they sit on top"
        )
    layer = parts[1]
    if layer == owner:
        return None
    if layer not in LAYERS:
        return f"{ROOT}.{layer} is in no layer ({LAYER_ORDER}); add it to DESIGN.md and this test"
    if owner in SELF_CONTAINED:
        return SELF_CONTAINED[owner]
    if LAYERS.index(layer) > LAYERS.index(owner):
        return f"imports go down only: {owner}/ may not import {layer}/ ({LAYER_ORDER})"
    return None


def find_violations(
    source: str, module: str, *, is_package: bool, path: str = "<string>"
) -> list[Violation]:
    """Every layering violation in the source of `module` (e.g. "smtpx.protocol._events")."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return [Violation(path, exc.lineno or 0, "", f"cannot parse: {exc.msg}")]
    owner = owner_of(module)
    if owner not in ("", ENTRY_POINT, *LAYERS):
        return [
            Violation(
                path,
                1,
                "",
                f"{ROOT}.{owner} is in no layer ({LAYER_ORDER}); "
                "add it to DESIGN.md and this test, or move the module into a package",
            )
        ]
    violations = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        statement = ast.unparse(node)
        targets = imported_modules(node, module, is_package=is_package)
        if targets is None:
            violations.append(
                Violation(path, node.lineno, statement, "relative import beyond the smtpx package")
            )
            continue
        for target in targets:
            reason = import_reason(owner, target)
            if reason is not None:
                violations.append(Violation(path, node.lineno, statement, reason))
    return violations


def module_of(path: Path) -> tuple[str, bool]:
    """("smtpx.client._pool", False) for src/smtpx/client/_pool.py; is_package for __init__."""
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def test_every_module_imports_only_down_the_layers() -> None:
    files = sorted((SRC / ROOT).rglob("*.py"))
    assert SRC / ROOT / "__init__.py" in files, f"no sources found under {SRC / ROOT}"
    violations = []
    for file in files:
        module, is_package = module_of(file)
        shown = str(file.relative_to(SRC.parent))
        source = file.read_text(encoding="utf-8")
        violations += find_violations(source, module, is_package=is_package, path=shown)
    assert not violations, "layering violations (DESIGN.md, Layers):\n" + "\n".join(
        map(str, violations)
    )


# The checker itself, on synthetic sources, so the test above cannot pass vacuously.


@pytest.mark.parametrize(
    ("module", "is_package", "source", "reason"),
    [
        ("smtpx.protocol._connection", False, "import socket", "imports no socket"),
        ("smtpx.protocol", True, "from asyncio import Protocol", "imports no asyncio"),
        ("smtpx.protocol._x", False, "import ssl as _ssl", "imports no ssl"),
        ("smtpx.protocol._x", False, "from smtpx.store import Store", "nothing from any other"),
        ("smtpx.protocol._x", False, "from .. import store", "nothing from any other"),
        ("smtpx.protocol._x", False, "from ..client import Client", "nothing from any other"),
        ("smtpx.protocol", True, "from ..store._db import Db", "nothing from any other"),
        ("smtpx.store._db", False, "from smtpx.protocol import Reply", "knows no SMTP"),
        ("smtpx.client._pool", False, "from ..server import Server", "go down only"),
        ("smtpx.server", True, "import smtpx.relay.queue", "go down only"),
        ("smtpx.relay._queue", False, "from smtpx import cli", "go down only"),
        ("smtpx.cli", True, "from smtpx import __version__", "sit on top"),
        ("smtpx.cli._send", False, "from .. import __version__", "sit on top"),
        ("smtpx.client", True, "import smtpx", "sit on top"),
        ("smtpx.client", True, "from smtpx.mailer import X", "smtpx.mailer is in no layer"),
        ("smtpx.utils", False, "import os", "smtpx.utils is in no layer"),
        ("smtpx.protocol._x", False, "from .... import x", "beyond the smtpx package"),
        (
            "smtpx.server._driver",
            False,
            "def f():\n    import sqlite3\n    from ..web import ui",
            "go down only",
        ),
    ],
)
def test_checker_reports_a_forbidden_import(
    module: str, is_package: bool, source: str, reason: str
) -> None:
    violations = find_violations(source, module, is_package=is_package)
    assert len(violations) == 1, violations
    assert reason in violations[0].reason


def test_checker_names_the_file_and_the_import() -> None:
    source = "from __future__ import annotations\n\nimport socket\n"
    [violation] = find_violations(
        source, "smtpx.protocol._events", is_package=False, path="src/smtpx/protocol/_events.py"
    )
    assert str(violation) == (
        "src/smtpx/protocol/_events.py:3: `import socket`: protocol/ does no I/O, "
        "so it imports no socket"
    )


@pytest.mark.parametrize(
    ("module", "is_package", "source"),
    [
        ("smtpx.protocol", True, "from ._connection import Connection\nfrom . import _events"),
        (
            "smtpx.protocol._connection",
            False,
            "from ._events import Reply\nimport enum, dataclasses",
        ),
        ("smtpx.protocol._x", False, "from smtpx.protocol._events import Reply"),
        ("smtpx.store._db", False, "import sqlite3\nimport asyncio\nfrom . import _schema"),
        ("smtpx.client._pool", False, "import ssl\nfrom ..protocol import Connection"),
        ("smtpx.server", True, "from .. import protocol\nimport smtpx.store"),
        ("smtpx.relay._queue", False, "from smtpx.client import Client\nfrom ..store import Store"),
        ("smtpx.cli", True, "import click\nfrom smtpx import relay, server, web"),
        ("smtpx", True, "from importlib.metadata import version\nfrom smtpx import cli"),
        ("smtpx.__main__", False, "from smtpx.cli import main"),
    ],
)
def test_checker_allows_imports_that_go_down(module: str, is_package: bool, source: str) -> None:
    assert find_violations(source, module, is_package=is_package) == []

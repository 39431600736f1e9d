"""Fixtures of the protocol tests, and the import path of their shared harness.

The tests import the harness as ``tests.protocol.dialogue``, the name mypy gives it
(pyproject.toml: the repository root is a package base). pytest puts only the
test directories on sys.path, so the root is added here, before any test module
of this directory is imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.protocol.dialogue import Feed  # noqa: E402


@pytest.fixture(params=list(Feed), ids=[feed.value for feed in Feed])
def feed(request: pytest.FixtureRequest) -> Feed:
    """Each test that takes ``feed`` runs with its bytes fed whole and byte by byte."""
    value = request.param
    assert isinstance(value, Feed)
    return value

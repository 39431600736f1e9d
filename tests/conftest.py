"""Suite-wide settings: the import path, the real-peer fixtures, the Hypothesis profile.

The repository root goes on sys.path so tests import shared modules by the names
mypy gives them (pyproject.toml: the root is a package base), e.g. ``tests.peers``.
That module's fixtures (smtp_sink, postfix, aiosmtpd_server, tls_certs...) are
registered for every test as a plugin.

Hypothesis: "ci" when $CI is set, "dev" otherwise. Both drop the per-example deadline: a
shared CI machine's timing noise is not a property of the code. Neither is
derandomized, so every run explores new examples (Hypothesis's built-in "ci"
profile would derandomize; registering our own "ci" replaces it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

pytest_plugins = ["tests.peers"]

settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

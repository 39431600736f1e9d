"""A pytest plugin: ``smtpx_server``, an in-process SMTP server keeping what it receives.

    def test_signup_sends_a_code(smtpx_server):
        app.config["SMTP"] = (smtpx_server.host, smtpx_server.port)
        app.sign_up("user@example.org")
        (message,) = smtpx_server.wait_for(1)
        assert message.recipients == ["user@example.org"]
        assert "Your code" in message.as_email()["Subject"]

Registered through the ``pytest11`` entry point, so installing smtpx is enough.
The server is imported only when a test asks for the fixture: a plugin loaded
at pytest's start must not import the library ahead of the suite's own tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .server.capture import CapturingServer

__all__ = ["smtpx_server"]


@pytest.fixture
def smtpx_server() -> Iterator[CapturingServer]:
    """An SMTP server on 127.0.0.1 and a free port, keeping every message it gets."""
    from .server.capture import CapturingServer  # noqa: PLC0415 - see the docstring

    server = CapturingServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()

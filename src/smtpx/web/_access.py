"""Basic authentication for the inbox (``--http-auth-file``, RFC 7617).

The users file is the one ``smtpx serve --auth-file`` reads (``smtpx passwd``
writes it). A scrypt check costs tens of milliseconds (in a thread), so a
credential that passed is remembered (by its SHA-256) for the life of the process.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib

from starlette.types import ASGIApp, Receive, Scope, Send

from ..server import PasswordClaim, Users, Verdict

_CHALLENGE = [(b"www-authenticate", b'Basic realm="smtpx inbox", charset="UTF-8"')]


class BasicAuth:
    """ASGI middleware: 401 unless the request carries a user's name and password."""

    def __init__(self, app: ASGIApp, users: Users) -> None:
        self.app = app
        self.users = users
        self._passed: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = dict(scope["headers"]).get(b"authorization") if scope["type"] == "http" else None
        if scope["type"] != "http" or await self._allowed(header):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 401, "headers": _CHALLENGE})
        await send({"type": "http.response.body", "body": b"authentication required\n"})

    async def _allowed(self, header: bytes | None) -> bool:
        if header is None or header[:6].lower() != b"basic ":
            return False
        fingerprint = hashlib.sha256(header).digest()
        if fingerprint in self._passed:
            return True
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, colon, password = decoded.partition(":")
        if not colon:
            return False
        # Off the event loop: scrypt takes its time by design.
        verdict = await asyncio.to_thread(self.users.check, PasswordClaim(user, password))
        if verdict is not Verdict.ACCEPTED:
            return False
        self._passed.add(fingerprint)
        return True

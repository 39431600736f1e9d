"""SASL mechanisms for AUTH (RFC 4954), without I/O.

Theory of operation: a mechanism is a generator. Its first value is the initial
response sent with ``AUTH name`` (None for none); each 334 challenge's text is
then sent into it, and it gives the next response. The drivers run it against
the protocol engine; nothing here touches a socket.

Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5
(RFC 2195), XOAUTH2 (Google's and Microsoft's bearer-token form).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Generator

Exchange = Generator[str | None, str, None]

# Strongest first, when the caller lets smtpx choose: CRAM-MD5 never sends the
# password itself; PLAIN and LOGIN do, and only ever inside TLS.
PREFERENCE = ("CRAM-MD5", "PLAIN", "LOGIN")


def _b64(data: str | bytes) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def _plain(username: str, password: str) -> Exchange:
    # RFC 4616 §2: [authzid] NUL authcid NUL passwd
    yield _b64(f"\0{username}\0{password}")


def _login(username: str, password: str) -> Exchange:
    yield None
    yield _b64(username)  # answers "Username:"
    yield _b64(password)  # answers "Password:"


def _cram_md5(username: str, password: str) -> Exchange:
    challenge = yield None
    # RFC 2195 §2: the user name, a space, and the HMAC-MD5 digest in hex.
    digest = hmac.new(password.encode(), base64.b64decode(challenge), hashlib.md5)
    yield _b64(f"{username} {digest.hexdigest()}")


def _xoauth2(username: str, token: str) -> Exchange:
    yield _b64(f"user={username}\x01auth=Bearer {token}\x01\x01")
    # A 334 here carries an error description; the empty answer ends it (535).
    yield ""


MECHANISMS: dict[str, Callable[[str, str], Exchange]] = {
    "PLAIN": _plain,
    "LOGIN": _login,
    "CRAM-MD5": _cram_md5,
    "XOAUTH2": _xoauth2,
}


def choose(offered: tuple[str, ...], wanted: str | None) -> str | None:
    """The mechanism to use: ``wanted`` if offered, else the strongest we know."""
    if wanted is not None:
        name = wanted.upper()
        return name if name in offered and name in MECHANISMS else None
    return next((name for name in PREFERENCE if name in offered), None)

"""AUTH for the receiver (RFC 4954): SASL exchanges, and the users they check.

Theory of operation: a mechanism is a generator, the mirror of the client's.
It is started with the initial response of ``AUTH name [initial-response]``
(None when there is none), yields each 334 challenge's text, is sent each
answer, and returns a claim: who the client says it is, and its proof. No
I/O: the connection runs the exchange, then checks the claim off the event
loop (a password hash costs tens of milliseconds by design).

Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login) and
CRAM-MD5 (RFC 2195). CRAM-MD5 proves knowledge of the password without
sending it, so the server must hold the password itself: users whose file
entry is a hash cannot use it (534, RFC 4954 §6), only those stored in clear.

The users file: one ``name:secret`` per line, ``#`` comments. A secret is
``$scrypt$ln=14,r=8,p=1$SALT$HASH`` (``smtpx passwd`` writes them) or
``{PLAIN}password`` for users of CRAM-MD5.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

# Challenges (334 texts) are base64; these two are LOGIN's "Username:" and "Password:".
_USERNAME = base64.b64encode(b"Username:").decode("ascii")
_PASSWORD = base64.b64encode(b"Password:").decode("ascii")

_SCRYPT = "$scrypt$"
_CLEAR = "{PLAIN}"
# scrypt with N = 2**14, r = 8, p = 1: 16 MiB and some 50 ms per check.
_LOG_N, _R, _P = 14, 8, 1
_SALT_BYTES, _HASH_BYTES = 16, 32


class SaslError(ValueError):
    """The client's answer does not decode as its mechanism says (501 5.5.2)."""


class AuthFileError(ValueError):
    """A users file that cannot be read, with the line that is wrong."""


@dataclass(frozen=True, slots=True)
class PasswordClaim:
    """PLAIN and LOGIN: a user name and the password itself."""

    user: str
    password: str
    authzid: str = ""  # RFC 4616 §2: acting for another identity (not supported)


@dataclass(frozen=True, slots=True)
class DigestClaim:
    """CRAM-MD5: a user name and HMAC-MD5(password, challenge) in hex."""

    user: str
    challenge: bytes
    digest: str


Claim: TypeAlias = PasswordClaim | DigestClaim
Exchange: TypeAlias = Generator[str, str, Claim]


class Verdict(enum.Enum):
    """What checking a claim found."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # 535 5.7.8
    TOO_WEAK = "too weak"  # 534 5.7.9: CRAM-MD5 for a user whose password is hashed


def _decode(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise SaslError("not base64-encoded UTF-8") from None


def _plain(initial: str | None, hostname: str) -> Exchange:
    # RFC 4954 §4: with no initial response the server sends an empty challenge.
    response = initial if initial is not None else (yield "")
    parts = _decode(response).split("\0")
    if len(parts) != 3 or not parts[1]:
        raise SaslError("PLAIN wants authzid NUL authcid NUL password (RFC 4616 §2)")
    authzid, user, password = parts
    return PasswordClaim(user, password, authzid)


def _login(initial: str | None, hostname: str) -> Exchange:
    user = _decode(initial if initial is not None else (yield _USERNAME))
    password = _decode((yield _PASSWORD))
    return PasswordClaim(user, password)


def _cram_md5(initial: str | None, hostname: str) -> Exchange:
    if initial is not None:
        raise SaslError("CRAM-MD5 takes no initial response (RFC 2195 §2)")
    # RFC 2195 §2: a unique, msg-id-like challenge.
    challenge = f"<{secrets.randbelow(2**63)}.{int(time.time())}@{hostname}>".encode()
    answer = _decode((yield base64.b64encode(challenge).decode("ascii")))
    user, _, digest = answer.rpartition(" ")
    if not user or len(digest) != 32:
        raise SaslError("CRAM-MD5 wants the user name, a space and 32 hex digits")
    return DigestClaim(user, challenge, digest.lower())


MECHANISMS: dict[str, Callable[[str | None, str], Exchange]] = {
    "PLAIN": _plain,
    "LOGIN": _login,
    "CRAM-MD5": _cram_md5,
}


def start(mechanism: str, initial: str | None, hostname: str) -> Exchange:
    """The exchange for ``AUTH mechanism [initial]``; ``"="`` is an empty initial response."""
    if initial == "=":
        initial = ""
    return MECHANISMS[mechanism](initial, hostname)


# --- the users and their secrets ---------------------------------------------------


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A secret for the users file: scrypt with a random salt."""
    salt = salt if salt is not None else os.urandom(_SALT_BYTES)
    digest = _scrypt(password, salt, (_LOG_N, _R, _P), _HASH_BYTES)
    params = f"ln={_LOG_N},r={_R},p={_P}"
    return f"{_SCRYPT}{params}${_b64(salt)}${_b64(digest)}"


def _scrypt(password: str, salt: bytes, cost: tuple[int, int, int], size: int) -> bytes:
    log_n, r, p = cost
    n = 1 << log_n
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=size, maxmem=256 * n * r
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@dataclass(frozen=True, slots=True)
class _Hashed:
    log_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def matches(self, password: str) -> bool:
        cost = (self.log_n, self.r, self.p)
        found = _scrypt(password, self.salt, cost, len(self.digest))
        return hmac.compare_digest(found, self.digest)


def _parse_secret(secret: str) -> str | _Hashed:
    if secret.startswith(_CLEAR):
        return secret[len(_CLEAR) :]
    if not secret.startswith(_SCRYPT):
        raise ValueError(f"a secret is {_SCRYPT}... (smtpx passwd) or {_CLEAR}password")
    try:
        params, salt, digest = secret[len(_SCRYPT) :].split("$")
        values = dict(item.split("=", 1) for item in params.split(","))
        log_n, r, p = int(values["ln"]), int(values["r"]), int(values["p"])
        hashed = _Hashed(log_n, r, p, _unb64(salt), _unb64(digest))
    except (ValueError, KeyError, binascii.Error):
        raise ValueError("a malformed $scrypt$ secret") from None
    if not (1 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16 and len(hashed.digest) >= 16):
        raise ValueError("scrypt parameters out of range")
    return hashed


def users_file_lines(text: str) -> list[str]:
    """The lines of a users file: split at LF only (``str.splitlines`` would also
    split at CR, VT, FF, U+2028 and others, which a password may hold)."""
    lines = text.split("\n")
    return lines[:-1] if lines and not lines[-1] else lines


def check_user_name(name: str) -> None:
    """ValueError (one line) unless ``name`` fits a users file line and reads back the
    same: no colon, no spaces at its ends, nothing unprintable."""
    if not name or ":" in name or name != name.strip():
        raise ValueError("a user name has no colon and no spaces at its ends")
    if not name.isprintable():
        raise ValueError("a user name has no control characters or line breaks")


def check_password(password: str, *, clear: bool) -> None:
    """ValueError (one line) for a password that cannot be kept: not UTF-8, empty, a
    NUL or line feed in it, or (kept in clear) any control character or line break."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the password is not valid UTF-8") from None
    if not password:
        raise ValueError("an empty password is not allowed")
    if "\0" in password or "\n" in password:
        raise ValueError("a password has no NUL or line feed")  # RFC 4616 §2: no NUL
    if clear and not password.isprintable():
        raise ValueError("a password kept in clear has no control characters or line breaks")


class Users:
    """Who may authenticate, and how to check them."""

    def __init__(self, entries: dict[str, str | _Hashed]) -> None:
        self._entries = entries
        # Checked when the user is unknown, so that time does not tell names apart.
        self._decoy = _Hashed(_LOG_N, _R, _P, os.urandom(_SALT_BYTES), bytes(_HASH_BYTES))

    @classmethod
    def from_lines(cls, lines: Iterable[str], source: str = "users") -> Users:
        entries: dict[str, str | _Hashed] = {}
        first: dict[str, int] = {}
        for number, text in enumerate(lines, 1):
            line = text.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, colon, secret = line.partition(":")
            if not colon or not name:
                raise AuthFileError(f"{source} line {number}: expected name:secret")
            if name in first:
                raise AuthFileError(
                    f"{source} line {number}: {name} is already given on line {first[name]}"
                )
            first[name] = number
            try:
                entries[name] = _parse_secret(secret)
            except ValueError as error:
                raise AuthFileError(f"{source} line {number}: {error}") from None
        return cls(entries)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Users:
        try:
            text = Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise AuthFileError(f"cannot read the users file {os.fspath(path)}: {error}") from None
        return cls.from_lines(users_file_lines(text), os.fspath(path))

    @property
    def mechanisms(self) -> tuple[str, ...]:
        """What EHLO offers: CRAM-MD5 only when some user's password is held in clear."""
        clear = any(isinstance(secret, str) for secret in self._entries.values())
        return ("PLAIN", "LOGIN", "CRAM-MD5") if clear else ("PLAIN", "LOGIN")

    def check(self, claim: Claim) -> Verdict:
        """Blocking (scrypt): call it off the event loop."""
        secret = self._entries.get(claim.user)
        if isinstance(claim, DigestClaim):
            if isinstance(secret, _Hashed):
                return Verdict.TOO_WEAK
            key = (secret if secret is not None else os.urandom(16).hex()).encode("utf-8")
            expected = hmac.new(key, claim.challenge, hashlib.md5).hexdigest()
            ok = hmac.compare_digest(expected, claim.digest) and secret is not None
            return Verdict.ACCEPTED if ok else Verdict.REFUSED
        if isinstance(secret, str):
            ok = hmac.compare_digest(secret.encode("utf-8"), claim.password.encode("utf-8"))
        else:
            ok = (secret or self._decoy).matches(claim.password) and secret is not None
        # RFC 4616 §2: acting as someone else is not something we grant.
        ok = ok and claim.authzid in ("", claim.user)
        return Verdict.ACCEPTED if ok else Verdict.REFUSED

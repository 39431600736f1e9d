"""How the inbox is set up: inbox names, who may look, where released mail goes."""

from __future__ import annotations

from dataclasses import dataclass

from ..client import TLSMode
from ..server import Users


@dataclass(frozen=True, slots=True)
class ReleaseTarget:
    """The real SMTP server stored mail may be sent on to (``--release-to``).

    ``allow`` are shell-style patterns (fnmatch, case-insensitive) a recipient
    must match: releasing is for the addresses the user chose, not for anyone.
    """

    host: str
    port: int
    allow: tuple[str, ...] = ("*",)
    tls: TLSMode = TLSMode.AUTO
    verify: bool = True
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class InboxConfig:
    """Everything the inbox's routes need besides the store."""

    inboxes: tuple[str, ...] = ()  # the names to choose from, besides the default ""
    users: Users | None = None  # basic auth (--http-auth-file); None: open
    release: ReleaseTarget | None = None

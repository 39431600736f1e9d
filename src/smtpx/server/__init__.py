"""smtpx.server: an asyncio SMTP receiver on the protocol engine.

    from smtpx.server import Server, ServerConfig, StoringHandler
    from smtpx.store import SQLiteStore

    store = await SQLiteStore.open("./smtpx-data")
    server = Server(StoringHandler(store), ServerConfig(hostname="mx.example"))
    await server.start([("127.0.0.1", 2525)])

Each connection is an ``asyncio.Protocol`` (no task per command); replies are
written in batches; a 250 after the message is sent only once the handler has
kept it (the store's fsync'd commit).
"""

from __future__ import annotations

from ._auth import (
    AuthFileError,
    PasswordClaim,
    Users,
    Verdict,
    check_password,
    check_user_name,
    hash_password,
    users_file_lines,
)
from ._config import ServerConfig
from ._faults import Fault, FaultError, FaultRule, Faults
from ._handler import (
    BaseHandler,
    Content,
    Discarded,
    Handler,
    SessionInfo,
    SinkHandler,
    StoringHandler,
)
from ._inboxes import InboxRule, InboxRuleError, inbox_for
from ._server import Server
from ._stats import Stats

__all__ = [
    "AuthFileError",
    "BaseHandler",
    "Content",
    "Discarded",
    "Fault",
    "FaultError",
    "FaultRule",
    "Faults",
    "Handler",
    "InboxRule",
    "InboxRuleError",
    "PasswordClaim",
    "Server",
    "ServerConfig",
    "SessionInfo",
    "SinkHandler",
    "Stats",
    "StoringHandler",
    "Users",
    "Verdict",
    "check_password",
    "check_user_name",
    "hash_password",
    "inbox_for",
    "users_file_lines",
]

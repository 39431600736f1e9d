"""smtpx.protocol: a sans-IO SMTP engine for both roles.

Bytes in, events out; events in, bytes out. No sockets, no event loop: the
client and server drivers of smtpx (and yours) do the I/O.

    from smtpx.protocol import SERVER, Connection, Reply, NEED_DATA

    server = Connection(SERVER)
    wire = server.send(Reply(220, None, "mx.example ESMTP"))
    server.receive_data(b"EHLO client.example\\r\\n")
    event = server.next_event()          # Ehlo(domain='client.example')
    wire = server.send(Extensions(pipelining=True).ehlo_reply("mx.example"))
"""

from __future__ import annotations

from ._address import ip_literal, is_mailbox, mailbox_problem
from ._connection import CLIENT, SERVER, Connection, Role
from ._data import BareLineEndings
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import (
    NEED_DATA,
    PAUSED,
    Auth,
    AuthResponse,
    Bdat,
    Command,
    ConnectionClosed,
    Data,
    Ehlo,
    EndOfChunk,
    EndOfMessage,
    Event,
    Expn,
    Helo,
    Help,
    MailFrom,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    Rejected,
    Reply,
    Rset,
    Sentinel,
    StartTls,
    Vrfy,
)
from ._extensions import Extensions
from ._limits import Limits
from ._params import xtext_decode, xtext_encode
from ._replies import STANDARD_REPLIES, format_reply, standard_reply
from ._state import State

__all__ = [
    "CLIENT",
    "NEED_DATA",
    "PAUSED",
    "SERVER",
    "STANDARD_REPLIES",
    "Auth",
    "AuthResponse",
    "BareLineEndings",
    "Bdat",
    "Command",
    "Connection",
    "ConnectionClosed",
    "Data",
    "Ehlo",
    "EndOfChunk",
    "EndOfMessage",
    "Event",
    "Expn",
    "Extensions",
    "Helo",
    "Help",
    "Limits",
    "LocalProtocolError",
    "MailFrom",
    "MessageData",
    "Noop",
    "ProtocolError",
    "Quit",
    "RcptTo",
    "Rejected",
    "RemoteProtocolError",
    "Reply",
    "Role",
    "Rset",
    "Sentinel",
    "StartTls",
    "State",
    "Vrfy",
    "format_reply",
    "ip_literal",
    "is_mailbox",
    "mailbox_problem",
    "standard_reply",
    "xtext_decode",
    "xtext_encode",
]

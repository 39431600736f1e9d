"""Properties of the engine, checked by Hypothesis.

Round trips: whatever one role writes, the other reads back equal (commands,
replies, addresses, EHLO keywords, xtext, message content). Robustness: in every
state, any bytes from the peer end in events or smtpx's own errors, never in
another exception and never in a loop without progress.
"""

from __future__ import annotations

import base64
import itertools
import re
import string
from collections.abc import Callable
from dataclasses import replace

from hypothesis import assume, example, given
from hypothesis import strategies as st
from tests.protocol.dialogue import EXTENSIONS as ALL_EXTENSIONS

from smtpx.protocol import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    SERVER,
    Auth,
    AuthResponse,
    BareLineEndings,
    Bdat,
    Command,
    Connection,
    ConnectionClosed,
    Data,
    Ehlo,
    EndOfChunk,
    EndOfMessage,
    Event,
    Expn,
    Extensions,
    Helo,
    Help,
    Limits,
    MailFrom,
    MessageData,
    Noop,
    ProtocolError,
    Quit,
    RcptTo,
    Rejected,
    RemoteProtocolError,
    Reply,
    Rset,
    Sentinel,
    StartTls,
    State,
    Vrfy,
    is_mailbox,
    xtext_decode,
    xtext_encode,
)
from smtpx.protocol._address import parse_path
from smtpx.protocol._data import DotReader, DotWriter
from smtpx.protocol._receivebuffer import ReceiveBuffer
from smtpx.protocol._replies import format_reply, split_status

# Every extension smtpx knows, with one more AUTH mechanism for these tests.
EVERYTHING = replace(ALL_EXTENSIONS, auth=("PLAIN", "LOGIN", "EXTERNAL"))
EHLO_REPLY = EVERYTHING.ehlo_reply("mx.example", "ESMTP")
# RFC 5321 §4.5.3.1.4: what one command line may hold, CRLF included.
COMMAND_LINE = 512


# --- strategies ---------------------------------------------------------------

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
# RFC 5321 §4.1.2 qtextSMTP, and the characters a backslash may quote.
QTEXT = "".join(chr(c) for c in (0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)))
QUOTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
# RFC 6531 §3.3: any non-ASCII character may appear in an SMTPUTF8 address.
NON_ASCII = st.characters(min_codepoint=0x80, exclude_categories=["Cs"])
# Text that never holds a lone surrogate (it has no UTF-8 form).
TEXT = st.characters(exclude_categories=["Cs"])


def dot_strings(*, utf8: bool) -> st.SearchStrategy[str]:
    alphabet = st.one_of(st.sampled_from(ATEXT), NON_ASCII) if utf8 else st.sampled_from(ATEXT)
    atom = st.text(alphabet, min_size=1, max_size=10)
    return st.lists(atom, min_size=1, max_size=4).map(".".join)


def quoted_strings(*, utf8: bool) -> st.SearchStrategy[str]:
    qtext = st.one_of(st.sampled_from(QTEXT), NON_ASCII) if utf8 else st.sampled_from(QTEXT)
    pair = st.sampled_from(QUOTABLE).map(lambda c: "\\" + c)
    return st.lists(st.one_of(qtext, pair), max_size=12).map(lambda p: '"' + "".join(p) + '"')


LABEL = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True)
DOMAIN_NAMES = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
UTF8_LABEL = st.text(NON_ASCII, min_size=1, max_size=8)
UTF8_DOMAIN_NAMES = st.lists(st.one_of(LABEL, UTF8_LABEL), min_size=1, max_size=3).map(".".join)
# RFC 5321 §4.1.3 address literals: IPv4, IPv6 and general (tag ":" content).
IPV4_LITERALS = st.ip_addresses(v=4).map(lambda a: f"[{a}]")
IPV6_LITERALS = st.ip_addresses(v=6).map(lambda a: f"[IPv6:{a}]")
GENERAL_LITERALS = st.builds(
    lambda tag, content: f"[X-{tag}:{content}]",
    st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True),
    st.text(
        st.sampled_from([chr(c) for c in (*range(0x21, 0x5B), *range(0x5E, 0x7F))]), min_size=1
    ),
)
LITERALS = st.one_of(IPV4_LITERALS, IPV6_LITERALS, GENERAL_LITERALS)


def _fits_path(mailbox: str) -> bool:
    """RFC 5321 §4.5.3.1: local part 64 octets, path (with brackets) 256 octets."""
    local = mailbox.rpartition("@")[0]
    return len(local.encode()) <= 64 and len(mailbox.encode()) + 2 <= 256


def mailboxes(*, utf8: bool = False) -> st.SearchStrategy[str]:
    local = st.one_of(dot_strings(utf8=utf8), quoted_strings(utf8=utf8))
    domain = st.one_of(UTF8_DOMAIN_NAMES if utf8 else DOMAIN_NAMES, LITERALS)
    return st.builds(lambda lp, d: f"{lp}@{d}", local, domain).filter(_fits_path)


def _fit_xtext(text: str, size: int) -> str:
    """``text`` cut short until its xtext form is at most ``size`` characters."""
    while len(xtext_encode(text)) > size:
        text = text[:-1]
    return text


def xtext_values(size: int, *, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(TEXT, min_size=min_size, max_size=size).map(lambda t: _fit_xtext(t, size))


# Built once: building strategies inside a composite costs more than drawing from them.
ASCII_MAILBOXES = mailboxes()
UTF8_MAILBOXES = mailboxes(utf8=True)
# ENVID and AUTH= fit one 512-octet line with the longest path and every other
# parameter; neither may be empty (RFC 5321 §4.1.2: esmtp-value is 1*char).
MAIL_XTEXT = xtext_values(90, min_size=1)


@st.composite
def mail_froms(draw: st.DrawFn) -> MailFrom:
    smtputf8 = draw(st.booleans())
    path = draw(st.one_of(st.just(""), UTF8_MAILBOXES if smtputf8 else ASCII_MAILBOXES))
    return MailFrom(
        path,
        size=draw(st.none() | st.integers(0, EVERYTHING.size or 0)),
        body=draw(st.none() | st.sampled_from(["7BIT", "8BITMIME", "BINARYMIME"])),
        smtputf8=smtputf8,
        ret=draw(st.none() | st.sampled_from(["FULL", "HDRS"])),
        envid=draw(st.none() | MAIL_XTEXT),
        auth=draw(st.none() | st.just("<>") | MAIL_XTEXT),
    )


NOTIFY = st.one_of(
    st.just(("NEVER",)),
    st.lists(st.sampled_from(["SUCCESS", "FAILURE", "DELAY"]), min_size=1, unique=True).map(tuple),
)
ADDR_TYPES = st.one_of(
    st.just("rfc822"), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,10}", fullmatch=True)
)


def rcpt_tos(*, utf8: bool) -> st.SearchStrategy[RcptTo]:
    return st.builds(
        RcptTo,
        st.one_of(
            UTF8_MAILBOXES if utf8 else ASCII_MAILBOXES,
            st.sampled_from(["Postmaster", "postmaster", "POSTMASTER"]),
        ),
        notify=st.none() | NOTIFY,
        orcpt=st.none() | st.builds(lambda t, a: f"{t};{a}", ADDR_TYPES, xtext_values(150)),
    )


RCPT_TOS = {False: rcpt_tos(utf8=False), True: rcpt_tos(utf8=True)}


# VRFY/EXPN/HELP/NOOP arguments: printable text with no space at either end.
ARGUMENTS = st.text(
    st.characters(exclude_categories=["Cs", "Cc", "Z"]) | st.just(" "), max_size=60
).map(str.strip)
HOSTNAMES = st.one_of(DOMAIN_NAMES, LITERALS)
SESSION_COMMANDS: st.SearchStrategy[Command] = st.one_of(
    st.builds(Ehlo, HOSTNAMES),
    st.builds(Helo, HOSTNAMES),
    st.builds(Vrfy, ARGUMENTS.filter(bool)),
    st.builds(Expn, ARGUMENTS.filter(bool)),
    st.builds(Help, ARGUMENTS),
    st.builds(Noop, ARGUMENTS),
    st.just(Rset()),
)
MECHANISMS = st.from_regex(r"[A-Z0-9_-]{1,20}", fullmatch=True)
INITIAL_RESPONSES = st.one_of(
    st.none(),
    st.just("="),
    st.binary(min_size=1, max_size=300).map(lambda b: base64.b64encode(b).decode()),
)


# --- helpers ------------------------------------------------------------------


def feed(connection: Connection, data: bytes, piece: int) -> None:
    for start in range(0, len(data), piece):
        connection.receive_data(data[start : start + piece])


class Pair:
    """A client engine wired to a server engine; the server always advertised everything."""

    def __init__(self, piece: int = 1 << 20) -> None:
        self.client = Connection(CLIENT)
        self.server = Connection(SERVER)
        self.piece = piece
        self.reply(Reply(220, None, "mx.example ESMTP"))

    def command(self, event: Event) -> Event | Sentinel:
        """Send ``event`` from the client; the first event the server reads back."""
        feed(self.server, self.client.send(event), self.piece)
        return self.server.next_event()

    def reply(self, reply: Reply) -> None:
        self.client.receive_data(self.server.send(reply))
        assert self.client.next_event() == reply

    def ready(self) -> Pair:
        assert self.command(Ehlo("client.example")) == Ehlo("client.example")
        self.reply(EHLO_REPLY)
        assert self.client.extensions == self.server.extensions == EVERYTHING
        return self

    def content(self) -> tuple[bytes, list[Event]]:
        """Message content the server reads until the end of its message or chunk."""
        data = b""
        while True:
            event = self.server.next_event()
            if isinstance(event, MessageData):
                data += event.data
            else:
                assert isinstance(event, EndOfMessage | EndOfChunk | Rejected), event
                return data, [event]


def normalized(content: bytes) -> bytes:
    """What the receiver stores: every line ending CRLF, a final CRLF added (RFC 5321 §4.1.1.4)."""
    content = re.sub(rb"\r\n|\r|\n", b"\r\n", content)
    if content and not content.endswith(b"\r\n"):
        content += b"\r\n"
    return content


PIECES = st.sampled_from([1, 2, 3, 7, 64, 1 << 20])


# --- commands -------------------------------------------------------------------


@given(commands=st.lists(SESSION_COMMANDS, max_size=6), piece=PIECES)
def test_session_commands_read_back_equal(commands: list[Command], piece: int) -> None:
    pair = Pair(piece).ready()
    for command in commands:
        assert pair.command(command) == command
        pair.reply(EHLO_REPLY if isinstance(command, Ehlo) else Reply(250, "2.0.0", "OK"))
        assert pair.server.next_event() is NEED_DATA
    assert pair.client.state is pair.server.state is State.READY


@st.composite
def transactions(draw: st.DrawFn) -> tuple[MailFrom, list[RcptTo]]:
    mail = draw(mail_froms())
    return mail, draw(st.lists(RCPT_TOS[mail.smtputf8], min_size=1, max_size=3))


@given(transaction=transactions(), piece=PIECES)
def test_mail_and_rcpt_commands_read_back_equal(
    transaction: tuple[MailFrom, list[RcptTo]], piece: int
) -> None:
    mail, rcpts = transaction
    pair = Pair(piece).ready()
    assert pair.command(mail) == mail
    pair.reply(Reply(250, "2.1.0", "Sender OK"))
    for rcpt in rcpts:
        assert pair.command(rcpt) == rcpt
        pair.reply(Reply(250, "2.1.5", "Recipient OK"))
    assert pair.client.state is pair.server.state is State.RCPT


@given(
    content=st.binary(max_size=300),
    pieces=st.lists(st.integers(0, 300), max_size=5),
    piece=PIECES,
)
def test_data_content_reads_back_normalized(content: bytes, pieces: list[int], piece: int) -> None:
    pair = Pair(piece).ready()
    pair.command(MailFrom("a@example.com"))
    pair.reply(Reply(250))
    pair.command(RcptTo("b@example.com"))
    pair.reply(Reply(250))
    assert pair.command(Data()) == Data()
    pair.reply(Reply(354, None, "Go ahead"))
    cuts = sorted({0, len(content), *(c for c in pieces if c <= len(content))})
    for start, end in itertools.pairwise(cuts):
        feed(pair.server, pair.client.send(MessageData(content[start:end])), piece)
    feed(pair.server, pair.client.send(EndOfMessage()), piece)
    assert pair.content() == (normalized(content), [EndOfMessage()])
    pair.reply(Reply(250, "2.0.0", "Queued"))
    assert pair.client.state is pair.server.state is State.READY


@given(chunks=st.lists(st.binary(max_size=100), min_size=1, max_size=4), piece=PIECES)
def test_bdat_chunks_read_back_equal(chunks: list[bytes], piece: int) -> None:
    pair = Pair(piece).ready()
    pair.command(MailFrom("a@example.com", body="BINARYMIME"))
    pair.reply(Reply(250))
    pair.command(RcptTo("b@example.com"))
    pair.reply(Reply(250))
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        bdat = Bdat(len(chunk), last=last)
        assert pair.command(bdat) == bdat
        if chunk:
            feed(pair.server, pair.client.send(MessageData(chunk)), piece)
        end = EndOfMessage() if last else EndOfChunk()
        assert pair.content() == (chunk, [end])
        pair.reply(Reply(250, "2.0.0", "OK"))
    assert pair.client.state is pair.server.state is State.READY


@given(
    # RFC 4954 §4: a mechanism the server did not offer gets 504, so none is sent.
    mechanism=st.sampled_from(EVERYTHING.auth or ()),
    initial=INITIAL_RESPONSES,
    responses=st.lists(INITIAL_RESPONSES.filter(lambda r: r not in (None, "=")), max_size=3),
)
def test_auth_command_and_responses_read_back_equal(
    mechanism: str, initial: str | None, responses: list[str]
) -> None:
    pair = Pair().ready()
    auth = Auth(mechanism, initial)
    assert pair.command(auth) == auth
    for response in responses:
        pair.reply(Reply(334, None, "VXNlcm5hbWU6"))
        assert pair.command(AuthResponse(response)) == AuthResponse(response)
    pair.reply(Reply(235, "2.7.0", "Authentication successful"))
    assert pair.client.authenticated
    assert pair.server.authenticated


@given(last=st.sampled_from([Quit(), StartTls()]))
def test_quit_and_starttls_read_back_equal(last: Command) -> None:
    pair = Pair().ready()
    assert pair.command(last) == last


# --- replies ------------------------------------------------------------------------

ENHANCED_PREFIX = re.compile(r"[245]\.\d{1,3}\.\d{1,3}( |\Z)")
REPLY_LINES = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\0"), max_size=40
)


@st.composite
def replies(draw: st.DrawFn) -> Reply:
    code = draw(st.integers(200, 599))
    status = None
    if code // 100 != 3 and draw(st.booleans()):
        detail = draw(st.integers(0, 999)), draw(st.integers(0, 999))
        status = f"{code // 100}.{detail[0]}.{detail[1]}"
    lines = draw(st.lists(REPLY_LINES, min_size=1, max_size=5))
    if status is None:
        # Such a line would be read as this reply's enhanced status.
        assume(not any(ENHANCED_PREFIX.match(line) for line in lines))
    return Reply(code, status, "\n".join(lines))


def _reply_texts(wire: bytes) -> tuple[int, list[str]]:
    """The code and per-line texts of one reply on the wire (RFC 5321 §4.2)."""
    lines = wire.split(b"\r\n")
    assert lines.pop() == b""
    code = int(lines[0][:3])
    for line in lines[:-1]:
        assert line[:3] == lines[0][:3]
        assert line[3:4] == b"-"
    assert lines[-1][:3] == lines[0][:3]
    assert lines[-1][3:4] in (b" ", b"")  # the code alone when the line has no text
    return code, [line[4:].decode("utf-8", "surrogateescape") for line in lines]


@given(reply=replies(), piece=PIECES)
def test_replies_read_back_equal(reply: Reply, piece: int) -> None:
    wire = format_reply(reply)
    assert wire.count(b"\r\n") == len(reply.lines)
    assert b"\0" not in wire
    assert split_status(*_reply_texts(wire)) == reply
    if reply.code // 100 != 3:
        client = Connection(CLIENT)  # expecting the greeting, which may be any final reply
        feed(client, wire, piece)
        assert client.next_event() == reply
        assert client.next_event() in (NEED_DATA, ConnectionClosed())


# --- addresses, EHLO keywords, xtext ----------------------------------------------


@given(mailbox=st.one_of(ASCII_MAILBOXES, UTF8_MAILBOXES), params=st.sampled_from(["", "SIZE=1"]))
def test_addresses_read_back_as_written(mailbox: str, params: str) -> None:
    assert is_mailbox(mailbox)
    argument = f"<{mailbox}> {params}" if params else f"<{mailbox}>"
    assert parse_path(argument, Limits(), sender=True) == (mailbox, params)
    assert parse_path(argument, Limits(), sender=False) == (mailbox, params)


_KNOWN_KEYWORDS = {
    "SIZE",
    "AUTH",
    "8BITMIME",
    "PIPELINING",
    "SMTPUTF8",
    "ENHANCEDSTATUSCODES",
    "STARTTLS",
    "CHUNKING",
    "BINARYMIME",
    "DSN",
}
OTHER_KEYWORDS = st.from_regex(r"[A-Z0-9][A-Z0-9-]{0,15}", fullmatch=True).filter(
    lambda k: k not in _KNOWN_KEYWORDS
)
OTHER_PARAMS = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=20).filter(
    lambda p: p == p.rstrip()
)
EXTENSIONS = st.builds(
    Extensions,
    size=st.none() | st.integers(0, 10**12),
    eightbitmime=st.booleans(),
    pipelining=st.booleans(),
    smtputf8=st.booleans(),
    enhancedstatuscodes=st.booleans(),
    starttls=st.booleans(),
    auth=st.none() | st.lists(MECHANISMS, unique=True, max_size=4).map(tuple),
    chunking=st.booleans(),
    binarymime=st.booleans(),
    dsn=st.booleans(),
    other=st.lists(st.tuples(OTHER_KEYWORDS, OTHER_PARAMS), max_size=3).map(tuple),
)


@given(extensions=EXTENSIONS)
def test_extensions_read_back_equal(extensions: Extensions) -> None:
    assert Extensions.parse(extensions.lines()) == extensions
    # And through both engines: what the server offers is what the client learns.
    pair = Pair()
    pair.command(Ehlo("client.example"))
    pair.reply(extensions.ehlo_reply("mx.example"))
    assert pair.client.extensions == pair.server.extensions == extensions


@given(text=st.text(TEXT))
def test_xtext_round_trip(text: str) -> None:
    encoded = xtext_encode(text)
    # RFC 3461 §4: printable ASCII but "+" and "=", and "+XX" hex pairs.
    assert re.fullmatch(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*", encoded)
    assert xtext_decode(encoded) == text


# --- dot-stuffing -------------------------------------------------------------------


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(
    content=st.one_of(
        st.binary(max_size=400),
        # Dense in the bytes that matter: CR, LF and dots.
        st.lists(
            st.sampled_from([b"\r", b"\n", b".", b"\r\n", b"\r\n.", b"x", b"\0"]), max_size=60
        ).map(b"".join),
    ),
    writer_cuts=st.lists(st.integers(0, 400), max_size=8),
    reader_cuts=st.lists(st.integers(0, 2000), max_size=8),
)
def test_dot_stuffing_round_trip(
    content: bytes, writer_cuts: list[int], reader_cuts: list[int]
) -> None:
    writer = DotWriter()
    wire = b"".join(writer.write(piece) for piece in _split(content, writer_cuts)) + writer.end()
    # The wire is strict: every CR and every LF belongs to a CRLF.
    assert wire.count(b"\r") == wire.count(b"\n") == wire.count(b"\r\n")
    assert wire.endswith(b".\r\n")
    reader = DotReader(BareLineEndings.REJECT, None, None)
    buffer = ReceiveBuffer()
    received = b""
    pieces = _split(wire, reader_cuts)
    for i, piece in enumerate(pieces):
        buffer.feed(piece)
        while (result := reader.read(buffer)) is not None:
            data, ended = result
            received += data
            if ended:
                # Never early: the end marker is the last thing on the wire.
                assert i == len(pieces) - 1
                assert len(buffer) == 0
                break
        else:
            continue
        break
    else:
        raise AssertionError("the end of the content was never seen")
    assert reader.refusal is None
    assert received == normalized(content)


def _read_dot(
    wire: bytes, cuts: list[int], policy: BareLineEndings, text_line: int | None, size: int | None
) -> tuple[bytes, bool, bytes]:
    """Content, whether refused, and the bytes after the end marker; fed in pieces."""
    reader = DotReader(policy, text_line, size)
    buffer = ReceiveBuffer()
    content = b""
    fed = 0
    for piece in _split(wire, cuts):
        buffer.feed(piece)
        fed += len(piece)
        while (result := reader.read(buffer)) is not None:
            content += result[0]
            if result[1]:
                return content, reader.refusal is not None, bytes(buffer.data) + wire[fed:]
    raise AssertionError("the end of the content was never seen")


@given(
    body=st.lists(
        st.sampled_from([b"\r", b"\n", b".", b"..", b"\r\n", b"\r\n.", b"x", b"yy", b"\0"]),
        max_size=40,
    ).map(b"".join),
    policy=st.sampled_from(BareLineEndings),
    limits=st.one_of(
        st.just((None, None)),
        st.tuples(st.sampled_from([None, 4, 12]), st.sampled_from([None, 8, 40])),
    ),
    cuts=st.lists(st.integers(0, 400), max_size=10),
)
# A dot-stuffed line after a bare LF: the first piece may end with that LF.
@example(body=b"x\n..y", policy=BareLineEndings.NORMALIZE, limits=(None, None), cuts=[2])
def test_dot_reader_result_does_not_depend_on_segmentation(
    body: bytes,
    policy: BareLineEndings,
    limits: tuple[int | None, int | None],
    cuts: list[int],
) -> None:
    wire = body + b"\r\n.\r\nNOOP\r\n"
    content, refused, rest = _read_dot(wire, [], policy, *limits)
    for split in (cuts, list(range(len(wire)))):  # random pieces, then byte by byte
        got = _read_dot(wire, split, policy, *limits)
        # The same end and the same verdict, however the bytes arrived...
        assert got[1:] == (refused, rest)
        if not refused:  # ... and, when accepted, the same content.
            assert got[0] == content


def test_empty_message_round_trip() -> None:
    writer = DotWriter()
    assert writer.write(b"") == b""
    wire = writer.end()
    assert wire == b".\r\n"
    buffer = ReceiveBuffer()
    buffer.feed(wire)
    reader = DotReader(BareLineEndings.REJECT, 1000, 100)
    assert reader.read(buffer) == (b"", True)
    assert reader.refusal is None
    assert len(buffer) == 0


# --- robustness -----------------------------------------------------------------------

VERBS = [
    "EHLO",
    "HELO",
    "MAIL",
    "RCPT",
    "DATA",
    "BDAT",
    "RSET",
    "NOOP",
    "QUIT",
    "VRFY",
    "EXPN",
    "HELP",
    "STARTTLS",
    "AUTH",
    "ehlo",
    "mail",
    "Data",
    "XYZZY",
    "",
    "*",
]
COMMAND_ARGUMENTS = st.one_of(
    st.sampled_from(
        [
            "",
            "client.example",
            "FROM:<a@example.com>",
            "FROM:<>",
            "TO:<b@example.com>",
            "TO:<Postmaster>",
            "FROM:<a@example.com> SIZE=100 BODY=8BITMIME",
            "FROM:<a@example.com> BODY=BINARYMIME",
            "FROM:<é@example.com> SMTPUTF8",
            "TO:<b@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2B@example.com",
            "FROM:<a@example.com> ENVID=x+2By RET=HDRS AUTH=<>",
            "TO:<@a.example,@b.example:c@d.example>",
            "FROM:<a@[IPv6:::1]>",
            "PLAIN",
            "PLAIN AGFsaWNlAHNlY3JldA==",
            "LOGIN =",
            "3",
            "0 LAST",
            "5 last",
            "x",
            "=",
            "*",
        ]
    ),
    st.text(max_size=30),
)
LINE_ENDINGS = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b""])


@st.composite
def command_lines(draw: st.DrawFn) -> bytes:
    verb = draw(st.sampled_from(VERBS))
    argument = draw(COMMAND_ARGUMENTS)
    line = f"{verb} {argument}" if argument else verb
    return line.encode("utf-8", "surrogatepass") + draw(LINE_ENDINGS)


CLIENT_INPUT = st.lists(
    st.one_of(command_lines(), command_lines(), st.binary(max_size=40)), max_size=12
).map(b"".join)
FUZZ_LIMITS = st.sampled_from(
    [
        Limits(),
        Limits(
            line_hard_cap=700,
            message_size=60,
            text_line=20,
            recipients=2,
            bad_commands=1000,
        ),
    ]
)


def _answer(owed: Event, draw: Callable[[st.SearchStrategy[bool]], bool]) -> Reply:
    """A reply a real application might give to ``owed``."""
    if isinstance(owed, Rejected):
        return owed.reply
    ok = draw(st.booleans())
    if isinstance(owed, Ehlo):
        return EHLO_REPLY if ok else Reply(550, "5.7.1", "Go away")
    if isinstance(owed, Data):
        return Reply(354, None, "Go ahead") if ok else Reply(554, "5.5.1", "No valid recipients")
    if isinstance(owed, Auth | AuthResponse):
        if draw(st.booleans()):
            return Reply(334, None, "")
        return Reply(235, "2.7.0", "OK") if ok else Reply(535, "5.7.8", "Bad credentials")
    if isinstance(owed, StartTls):
        return Reply(220, "2.0.0", "Ready to start TLS") if ok else Reply(454, "4.7.0", "No TLS")
    if isinstance(owed, Quit):
        return Reply(221, "2.0.0", "Bye")
    return Reply(250, "2.0.0", "OK") if ok else Reply(550, "5.0.0", "No")


def _server_in(state: State, limits: Limits, policy: BareLineEndings) -> Connection:
    """A server engine driven into ``state`` by a scripted client."""
    server = Connection(SERVER, limits, bare_line_endings=policy)
    steps: list[tuple[bytes, Reply]] = []
    if state is State.NO_SERVICE:
        server.send(Reply(554, "5.3.2", "No service"))
        assert server.state is State.NO_SERVICE
        return server
    server.send(Reply(220, None, "mx.example ESMTP"))
    if state is not State.GREETED:
        steps.append((b"EHLO c.example\r\n", EHLO_REPLY))
    if state is State.AUTH:
        steps.append((b"AUTH PLAIN\r\n", Reply(334, None, "")))
    if state in (State.MAIL, State.RCPT, State.DATA, State.CHUNKING):
        steps.append((b"MAIL FROM:<a@example.com>\r\n", Reply(250)))
    if state in (State.RCPT, State.DATA, State.CHUNKING):
        steps.append((b"RCPT TO:<b@example.com>\r\n", Reply(250)))
    if state is State.DATA:
        steps.append((b"DATA\r\n", Reply(354)))
    if state is State.CHUNKING:
        steps.append((b"BDAT 3\r\nabc", Reply(250)))
    for data, reply in steps:
        server.receive_data(data)
        while (event := server.next_event()) is not PAUSED:
            assert not isinstance(event, Rejected), event
        server.send(reply)
    assert server.state is state
    return server


SERVER_STATES = [
    State.GREETED,
    State.READY,
    State.MAIL,
    State.RCPT,
    State.DATA,
    State.CHUNKING,
    State.AUTH,
    State.NO_SERVICE,
]


@given(
    state=st.sampled_from(SERVER_STATES),
    setup=st.tuples(FUZZ_LIMITS, st.sampled_from(BareLineEndings)),
    data=CLIENT_INPUT,
    cuts=st.lists(st.integers(0, 1000), max_size=6),
    draws=st.data(),
)
def test_server_survives_any_input_in_every_state(
    state: State,
    setup: tuple[Limits, BareLineEndings],
    data: bytes,
    cuts: list[int],
    draws: st.DataObject,
) -> None:
    server = _server_in(state, *setup)
    eof = draws.draw(st.booleans())
    pieces = [*_split(data, cuts), *([b""] if eof else [])]
    budget = 4 * len(data) + 50  # events per input byte are bounded: no spinning
    owed: Event | None = None
    failure: RemoteProtocolError | None = None
    try:
        for piece in pieces:
            server.receive_data(piece)
            while True:
                budget -= 1
                assert budget > 0, "the engine makes no progress"
                event = server.next_event()
                if event is NEED_DATA:
                    break
                if isinstance(event, ConnectionClosed):
                    return
                if event is PAUSED:
                    if server.state is State.STARTTLS:
                        server.start_tls()
                        continue
                    assert owed is not None, "paused with no reply owed"
                    server.send(_answer(owed, draws.draw))
                    owed = None
                    continue
                assert isinstance(event, Event)
                if not isinstance(event, MessageData | Bdat):
                    owed = event
    except RemoteProtocolError as error:
        # The peer broke the framing. Nothing else may escape: a LocalProtocolError
        # here would mean the engine refused a plausible reply.
        failure = error
    if failure is not None:
        assert server.state is State.ERROR
        assert failure.reply is None or isinstance(failure.reply, Reply)


REPLY_CODES = st.one_of(
    st.sampled_from([220, 221, 235, 250, 251, 334, 354, 421, 450, 451, 500, 503, 550, 554]),
    st.integers(0, 999),
)


@st.composite
def reply_lines(draw: st.DrawFn) -> bytes:
    code = draw(REPLY_CODES)
    sep = draw(st.sampled_from(["-", " ", " ", "", "x"]))
    status = draw(st.sampled_from(["", "2.0.0 ", "5.1.1 ", "4.7.0 "]))
    text = draw(st.text(max_size=20))
    line = f"{code:03d}{sep}{status}{text}" if draw(st.booleans()) else f"{code}{sep}{text}"
    return line.encode("utf-8", "surrogatepass") + draw(LINE_ENDINGS)


SERVER_INPUT = st.lists(
    st.one_of(reply_lines(), reply_lines(), st.binary(max_size=30)), max_size=12
).map(b"".join)


def _client_sent(step: str) -> Connection:
    """A client engine that has just sent a command (or content) and awaits replies."""
    client = Connection(CLIENT, Limits(reply_lines=15, line_hard_cap=700))
    if step == "GREETING":
        return client
    client.receive_data(b"220 mx.example ESMTP\r\n")
    assert isinstance(client.next_event(), Reply)
    client.send(Ehlo("c.example"))
    if step == "EHLO":
        return client
    client.receive_data(format_reply(EHLO_REPLY))
    assert client.next_event() == EHLO_REPLY
    if step == "STARTTLS":
        client.send(StartTls())
    elif step == "AUTH":
        client.send(Auth("PLAIN"))
    elif step == "PIPELINE":
        client.send(MailFrom("a@example.com"))
        client.send(RcptTo("b@example.com"))
        client.send(Data())
    elif step == "EOM":
        client.send(MailFrom("a@example.com"))
        client.send(RcptTo("b@example.com"))
        client.send(Data())
        client.receive_data(b"250 ok\r\n250 ok\r\n354 go\r\n")
        for _ in range(3):
            assert isinstance(client.next_event(), Reply)
        client.send(MessageData(b"Subject: x\r\n\r\nhi\r\n"))
        client.send(EndOfMessage())
    elif step == "BDAT":
        client.send(MailFrom("a@example.com"))
        client.send(RcptTo("b@example.com"))
        client.send(Bdat(2))
        client.send(MessageData(b"hi"))
        client.send(Bdat(0, last=True))
    return client


@given(
    step=st.sampled_from(["GREETING", "EHLO", "STARTTLS", "AUTH", "PIPELINE", "EOM", "BDAT"]),
    data=SERVER_INPUT,
    cuts=st.lists(st.integers(0, 1000), max_size=6),
    eof=st.booleans(),
)
def test_client_survives_any_input_after_every_command(
    step: str, data: bytes, cuts: list[int], eof: bool
) -> None:
    client = _client_sent(step)
    pieces = [*_split(data, cuts), *([b""] if eof else [])]
    budget = 4 * len(data) + 50
    for piece in pieces:
        try:
            client.receive_data(piece)
        except ProtocolError:
            return
        while True:
            budget -= 1
            assert budget > 0, "the engine makes no progress"
            try:
                event = client.next_event()
            except RemoteProtocolError:
                assert client.state is State.ERROR
                return
            except ProtocolError:
                return
            if event is NEED_DATA:
                break
            if isinstance(event, ConnectionClosed):
                return
            if event is PAUSED:
                assert client.state is State.STARTTLS
                client.start_tls()
                continue
            assert isinstance(event, Reply)
            _react(client)


def _react(client: Connection) -> None:
    """What a driver does after a reply: go on with the message, or keep talking."""
    try:
        if client.state is State.DATA:
            client.send(MessageData(b"hi\r\n"))
            client.send(EndOfMessage())
        elif client.state is State.AUTH:
            client.send(AuthResponse("="))
        else:
            client.send(Noop())
    except ProtocolError:
        pass  # not allowed now (a reply still due, or out of sequence): fine

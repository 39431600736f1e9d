"""The server's rules of sequence and syntax, fed as raw bytes (no client engine).

A command the engine refuses on its own comes out as a Rejected event with the
reply to send, and leaves the state as it was (RFC 5321 §4.1.4). Broken framing
raises RemoteProtocolError. Every test runs with its bytes fed whole and one
byte at a time (the ``feed`` fixture).
"""

from __future__ import annotations

import base64

import pytest
from tests.protocol.dialogue import (
    AUTH_OK,
    EXTENSIONS,
    NO_SUCH_USER,
    Feed,
    exchange,
    rejections,
    server_after,
    state,
)

from smtpx.protocol import (
    NEED_DATA,
    PAUSED,
    SERVER,
    Auth,
    Bdat,
    Connection,
    ConnectionClosed,
    Data,
    Ehlo,
    EndOfMessage,
    Event,
    Expn,
    Extensions,
    Help,
    Limits,
    LocalProtocolError,
    MailFrom,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    Rejected,
    RemoteProtocolError,
    Reply,
    Rset,
    State,
    Vrfy,
)

EHLO = b"EHLO client.example\r\n"
MAIL = b"MAIL FROM:<alice@example.org>\r\n"
RCPT = b"RCPT TO:<bob@example.net>\r\n"
DATA = b"DATA\r\n"
PLAIN_TOKEN = base64.b64encode(b"\0alice\0secret")
AUTH_PLAIN = b"AUTH PLAIN " + PLAIN_TOKEN + b"\r\n"

BAD_SEQUENCE = (503, "5.5.1")
UNRECOGNIZED = (500, "5.5.2")
UNSUPPORTED_PARAMETER = (555, "5.5.4")
MALFORMED_PARAMETER = (501, "5.5.4")
NOT_OFFERED = (502, "5.5.1")


def ehlo_offering(extensions: Extensions) -> dict[type[Event], Reply]:
    """Answers for a server whose EHLO reply advertises ``extensions``."""
    return {Ehlo: extensions.ehlo_reply("mx.example")}


def refused(server: Connection, line: bytes, feed: Feed) -> tuple[int, str | None]:
    """Feed one command; it must be Rejected, state unchanged. Its (code, status)."""
    before = state(server)
    events = exchange(server, line, feed)
    assert len(events) == 1, events
    assert isinstance(events[0], Rejected), events
    assert state(server) is before
    return events[0].reply.code, events[0].reply.status


def accepted(server: Connection, line: bytes, feed: Feed) -> Event:
    """Feed one command; it must come out as its event. The event."""
    events = exchange(server, line, feed)
    assert len(events) == 1, events
    assert not isinstance(events[0], Rejected), events
    return events[0]


# --- before EHLO ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [MAIL, RCPT, DATA, b"STARTTLS\r\n", AUTH_PLAIN],
    ids=["MAIL", "RCPT", "DATA", "STARTTLS", "AUTH"],
)
def test_commands_before_ehlo_get_503(line: bytes, feed: Feed) -> None:
    server = server_after()
    assert state(server) is State.GREETED
    assert refused(server, line, feed) == BAD_SEQUENCE


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (b"NOOP\r\n", Noop()),
        (b"HELP\r\n", Help()),
        (b"VRFY bob\r\n", Vrfy("bob")),
        (b"EXPN staff\r\n", Expn("staff")),
        (b"RSET\r\n", Rset()),
    ],
    ids=["NOOP", "HELP", "VRFY", "EXPN", "RSET"],
)
def test_anytime_commands_are_accepted_before_ehlo(line: bytes, event: Event, feed: Feed) -> None:
    # RFC 5321 §4.1.4: NOOP, HELP, EXPN, VRFY and RSET may be used at any time.
    server = server_after()
    assert accepted(server, line, feed) == event
    assert state(server) is State.GREETED


def test_quit_is_accepted_before_ehlo(feed: Feed) -> None:
    server = server_after()
    assert exchange(server, b"QUIT\r\n", feed) == [Quit(), ConnectionClosed()]
    assert state(server) is State.CLOSED


# --- inside and outside a transaction -------------------------------------------------


@pytest.mark.parametrize(
    "setup", [(EHLO, MAIL), (EHLO, MAIL, RCPT)], ids=["after-MAIL", "after-RCPT"]
)
def test_mail_inside_a_transaction_gets_503(setup: tuple[bytes, ...], feed: Feed) -> None:
    server = server_after(*setup)
    assert refused(server, b"MAIL FROM:<carol@example.org>\r\n", feed) == BAD_SEQUENCE


def test_rcpt_before_mail_gets_503(feed: Feed) -> None:
    server = server_after(EHLO)
    assert refused(server, RCPT, feed) == BAD_SEQUENCE
    assert state(server) is State.READY


def test_data_without_recipient_gets_503(feed: Feed) -> None:
    server = server_after(EHLO, MAIL)
    assert refused(server, DATA, feed) == BAD_SEQUENCE
    assert state(server) is State.MAIL


def test_data_before_mail_gets_503(feed: Feed) -> None:
    server = server_after(EHLO)
    assert refused(server, DATA, feed) == BAD_SEQUENCE


def test_data_when_every_recipient_was_refused_gets_554(feed: Feed) -> None:
    # RFC 5321 §3.3: "554 No valid recipients" (RFC 2920 §3.1 pipelined case).
    server = server_after(EHLO, MAIL, RCPT, RCPT, answers={RcptTo: NO_SUCH_USER})
    assert state(server) is State.MAIL
    assert refused(server, DATA, feed) == (554, "5.5.1")


def test_data_after_one_recipient_accepted_is_accepted(feed: Feed) -> None:
    server = server_after(EHLO, MAIL, RCPT, answers={RcptTo: NO_SUCH_USER})
    assert exchange(server, RCPT, feed) == [RcptTo("bob@example.net")]
    assert state(server) is State.RCPT
    assert accepted(server, DATA, feed) == Data()
    assert state(server) is State.DATA


@pytest.mark.parametrize("reset", [EHLO, b"RSET\r\n"], ids=["EHLO", "RSET"])
def test_ehlo_and_rset_reset_the_transaction(reset: bytes, feed: Feed) -> None:
    # RFC 5321 §4.1.4 (EHLO) and §4.1.1.5 (RSET): the envelope is cleared.
    server = server_after(EHLO, MAIL, RCPT)
    assert state(server) is State.RCPT
    exchange(server, reset, feed)
    assert state(server) is State.READY
    assert refused(server, RCPT, feed) == BAD_SEQUENCE
    assert refused(server, DATA, feed) == BAD_SEQUENCE
    assert accepted(server, MAIL, feed) == MailFrom("alice@example.org")


def test_rset_forgets_refused_recipients(feed: Feed) -> None:
    # After RSET the "all recipients refused" of the old transaction is gone.
    server = server_after(EHLO, MAIL, RCPT, b"RSET\r\n", MAIL, answers={RcptTo: NO_SUCH_USER})
    assert state(server) is State.MAIL
    assert refused(server, DATA, feed) == BAD_SEQUENCE


def test_rset_before_ehlo_stays_greeted(feed: Feed) -> None:
    server = server_after()
    exchange(server, b"RSET\r\n", feed)
    assert state(server) is State.GREETED
    assert refused(server, MAIL, feed) == BAD_SEQUENCE


# --- syntax ---------------------------------------------------------------------------


@pytest.mark.parametrize("setup", [(), (EHLO,), (EHLO, MAIL)], ids=["GREETED", "READY", "MAIL"])
@pytest.mark.parametrize("line", [b"FROB\r\n", b"MAILX FROM:<a@b.example>\r\n", b"\r\n"])
def test_unknown_verb_gets_500(setup: tuple[bytes, ...], line: bytes, feed: Feed) -> None:
    server = server_after(*setup)
    assert refused(server, line, feed) == UNRECOGNIZED


@pytest.mark.parametrize(
    ("setup", "line", "event"),
    [
        ((), b"ehlo client.example\r\n", Ehlo("client.example")),
        ((EHLO,), b"mail from:<a@b.example>\r\n", MailFrom("a@b.example")),
        ((EHLO,), b"Mail From:<a@b.example>\r\n", MailFrom("a@b.example")),
        ((EHLO, MAIL), b"rcpt to:<c@d.example>\r\n", RcptTo("c@d.example")),
        ((EHLO, MAIL, RCPT), b"data\r\n", Data()),
        ((EHLO,), b"nOoP\r\n", Noop()),
        ((EHLO,), b"quit\r\n", Quit()),
    ],
    ids=["ehlo", "mail", "Mail", "rcpt", "data", "nOoP", "quit"],
)
def test_verbs_are_case_insensitive(
    setup: tuple[bytes, ...], line: bytes, event: Event, feed: Feed
) -> None:
    # RFC 5321 §2.4: verbs and argument keywords are not case sensitive.
    server = server_after(*setup)
    assert exchange(server, line, feed)[0] == event


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"MAIL FROM:alice@example.org\r\n", "5.1.7"),  # no angle brackets
        (b"MAIL FROM:<alice>\r\n", "5.1.7"),  # no domain
        (b"MAIL FROM:<alice@example.org\r\n", "5.1.7"),  # unclosed
        (b"MAIL FROM:<alice@example.org>junk\r\n", "5.1.7"),  # no space before params
        (b"MAIL FROM:<alice@@example.org>\r\n", "5.1.7"),
        (b"MAIL alice@example.org\r\n", "5.5.4"),  # no FROM:
        (b"MAIL\r\n", "5.5.4"),
    ],
    ids=["no-brackets", "no-domain", "unclosed", "junk", "double-at", "no-from", "bare"],
)
def test_mail_with_bad_syntax_gets_501(line: bytes, status: str, feed: Feed) -> None:
    server = server_after(EHLO)
    assert refused(server, line, feed) == (501, status)


@pytest.mark.parametrize(
    "line",
    [b"RCPT TO:bob@example.net\r\n", b"RCPT bob@example.net\r\n", b"RCPT TO:<>\r\n"],
    ids=["no-brackets", "no-to", "null-path"],
)
def test_rcpt_with_bad_syntax_gets_501(line: bytes, feed: Feed) -> None:
    server = server_after(EHLO, MAIL)
    code, _ = refused(server, line, feed)
    assert code == 501


# --- ESMTP parameters (RFC 5321 §4.1.1.11) --------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"MAIL FROM:<alice@example.org> FROB=1\r\n",
        b"MAIL FROM:<alice@example.org> XYZZY\r\n",
    ],
    ids=["FROB=1", "XYZZY"],
)
def test_unknown_parameter_gets_555(line: bytes, feed: Feed) -> None:
    server = server_after(EHLO)
    assert refused(server, line, feed) == UNSUPPORTED_PARAMETER


def test_unknown_rcpt_parameter_gets_555(feed: Feed) -> None:
    server = server_after(EHLO, MAIL)
    line = b"RCPT TO:<bob@example.net> FROB=1\r\n"
    assert refused(server, line, feed) == UNSUPPORTED_PARAMETER


@pytest.mark.parametrize(
    "params",
    [
        b"SIZE=100",
        b"BODY=8BITMIME",
        b"BODY=BINARYMIME",
        b"SMTPUTF8",
        b"RET=FULL",
        b"ENVID=abc",
        b"AUTH=<>",
    ],
)
def test_unadvertised_mail_parameter_gets_555(params: bytes, feed: Feed) -> None:
    # The server's EHLO reply offered PIPELINING only.
    server = server_after(EHLO, answers=ehlo_offering(Extensions(pipelining=True)))
    line = b"MAIL FROM:<alice@example.org> " + params + b"\r\n"
    assert refused(server, line, feed) == UNSUPPORTED_PARAMETER


@pytest.mark.parametrize("params", [b"NOTIFY=NEVER", b"ORCPT=rfc822;bob@example.net"])
def test_unadvertised_rcpt_parameter_gets_555(params: bytes, feed: Feed) -> None:
    server = server_after(EHLO, MAIL, answers=ehlo_offering(Extensions(pipelining=True)))
    line = b"RCPT TO:<bob@example.net> " + params + b"\r\n"
    assert refused(server, line, feed) == UNSUPPORTED_PARAMETER


def test_binarymime_needs_its_own_offer(feed: Feed) -> None:
    # RFC 3030 §3: BODY=BINARYMIME only when BINARYMIME was advertised.
    offer = Extensions(eightbitmime=True, chunking=True)
    server = server_after(EHLO, answers=ehlo_offering(offer))
    line = b"MAIL FROM:<alice@example.org> BODY=BINARYMIME\r\n"
    assert refused(server, line, feed) == UNSUPPORTED_PARAMETER


@pytest.mark.parametrize(
    "params",
    [
        b"SIZE=abc",
        b"SIZE",
        b"SIZE=-1",
        b"BODY=9BIT",
        b"SMTPUTF8=yes",
        b"RET=ALL",
        b"ENVID=a+zz",
        b"SIZE==1",
    ],
)
def test_malformed_mail_parameter_gets_501(params: bytes, feed: Feed) -> None:
    server = server_after(EHLO)
    line = b"MAIL FROM:<alice@example.org> " + params + b"\r\n"
    assert refused(server, line, feed) == MALFORMED_PARAMETER


@pytest.mark.parametrize("params", [b"NOTIFY=SOMETIMES", b"NOTIFY=NEVER,SUCCESS", b"ORCPT=rfc822"])
def test_malformed_rcpt_parameter_gets_501(params: bytes, feed: Feed) -> None:
    server = server_after(EHLO, MAIL)
    line = b"RCPT TO:<bob@example.net> " + params + b"\r\n"
    assert refused(server, line, feed) == MALFORMED_PARAMETER


@pytest.mark.parametrize(
    "params",
    [b"SIZE=1 SIZE=2", b"size=1 SIZE=1", b"BODY=7BIT BODY=8BITMIME", b"SMTPUTF8 SMTPUTF8"],
)
def test_duplicate_parameter_gets_501(params: bytes, feed: Feed) -> None:
    server = server_after(EHLO)
    line = b"MAIL FROM:<alice@example.org> " + params + b"\r\n"
    assert refused(server, line, feed) == MALFORMED_PARAMETER


def test_size_above_the_advertised_limit_gets_552(feed: Feed) -> None:
    # RFC 1870 §6: a declared size over the fixed maximum is refused at MAIL.
    assert EXTENSIONS.size == 10_485_760
    server = server_after(EHLO)
    line = b"MAIL FROM:<alice@example.org> SIZE=10485761\r\n"
    assert refused(server, line, feed) == (552, "5.3.4")
    assert accepted(server, line.replace(b"10485761", b"10485760"), feed) == MailFrom(
        "alice@example.org", size=10_485_760
    )


def test_size_above_the_engine_limit_gets_552(feed: Feed) -> None:
    # SIZE advertised with no number; the engine's own Limits.message_size still holds.
    server = server_after(
        EHLO, answers=ehlo_offering(Extensions(size=0)), limits=Limits(message_size=1000)
    )
    assert refused(server, b"MAIL FROM:<a@b.example> SIZE=1001\r\n", feed) == (552, "5.3.4")
    assert accepted(server, b"MAIL FROM:<a@b.example> SIZE=1000\r\n", feed) == MailFrom(
        "a@b.example", size=1000
    )


# --- SMTPUTF8 (RFC 6531) --------------------------------------------------------------

UTF8_SENDER = "jösé@exämple.org"
UTF8_RECIPIENT = "日本@例え.jp"


@pytest.mark.parametrize(
    "offer", [EXTENSIONS, Extensions(pipelining=True)], ids=["offered", "not-offered"]
)
def test_utf8_sender_without_smtputf8_gets_553(offer: Extensions, feed: Feed) -> None:
    # RFC 6531 §3.5: 553 5.6.7 for a non-ASCII address outside an SMTPUTF8 transaction.
    server = server_after(EHLO, answers=ehlo_offering(offer))
    line = f"MAIL FROM:<{UTF8_SENDER}>\r\n".encode()
    assert refused(server, line, feed) == (553, "5.6.7")


def test_utf8_recipient_without_smtputf8_gets_553(feed: Feed) -> None:
    server = server_after(EHLO, MAIL)
    line = f"RCPT TO:<{UTF8_RECIPIENT}>\r\n".encode()
    assert refused(server, line, feed) == (553, "5.6.7")


def test_utf8_addresses_are_accepted_with_smtputf8(feed: Feed) -> None:
    server = server_after(EHLO)
    mail = f"MAIL FROM:<{UTF8_SENDER}> SMTPUTF8\r\n".encode()
    assert accepted(server, mail, feed) == MailFrom(UTF8_SENDER, smtputf8=True)
    rcpt = f"RCPT TO:<{UTF8_RECIPIENT}>\r\n".encode()
    assert accepted(server, rcpt, feed) == RcptTo(UTF8_RECIPIENT)
    assert state(server) is State.RCPT


def test_smtputf8_ends_with_its_transaction(feed: Feed) -> None:
    server = server_after(EHLO, f"MAIL FROM:<{UTF8_SENDER}> SMTPUTF8\r\n".encode(), b"RSET\r\n")
    exchange(server, MAIL, feed)
    line = f"RCPT TO:<{UTF8_RECIPIENT}>\r\n".encode()
    assert refused(server, line, feed) == (553, "5.6.7")


# --- recipients limit (RFC 5321 §4.5.3.1.10) ------------------------------------------


def test_too_many_recipients_gets_452(feed: Feed) -> None:
    server = server_after(EHLO, MAIL, limits=Limits(recipients=2))
    assert accepted(server, b"RCPT TO:<one@example.net>\r\n", feed) == RcptTo("one@example.net")
    assert accepted(server, b"RCPT TO:<two@example.net>\r\n", feed) == RcptTo("two@example.net")
    assert refused(server, b"RCPT TO:<three@example.net>\r\n", feed) == (452, "4.5.3")
    assert state(server) is State.RCPT
    # The two accepted recipients still make a transaction.
    assert accepted(server, DATA, feed) == Data()


# --- no service (RFC 5321 §3.1) -------------------------------------------------------

NO_SERVICE_GREETING = Reply(554, "5.3.2", "mx.example no SMTP service here")


@pytest.mark.parametrize(
    "line",
    [
        EHLO,
        b"HELO client.example\r\n",
        MAIL,
        b"NOOP\r\n",
        b"RSET\r\n",
        b"HELP\r\n",
        b"STARTTLS\r\n",
    ],
    ids=["EHLO", "HELO", "MAIL", "NOOP", "RSET", "HELP", "STARTTLS"],
)
def test_after_554_greeting_only_quit_is_accepted(line: bytes, feed: Feed) -> None:
    # RFC 5321 §3.1: the server waits for QUIT and answers 503 to anything else.
    server = server_after(greeting=NO_SERVICE_GREETING)
    assert state(server) is State.NO_SERVICE
    assert refused(server, line, feed) == BAD_SEQUENCE
    assert exchange(server, b"QUIT\r\n", feed) == [Quit(), ConnectionClosed()]
    assert state(server) is State.CLOSED


# --- STARTTLS and AUTH offers (RFC 3207, RFC 4954) ------------------------------------


def test_starttls_when_not_advertised_gets_502(feed: Feed) -> None:
    server = server_after(EHLO, answers=ehlo_offering(Extensions(pipelining=True)))
    assert refused(server, b"STARTTLS\r\n", feed) == NOT_OFFERED


def test_auth_when_not_advertised_gets_502(feed: Feed) -> None:
    server = server_after(EHLO, answers=ehlo_offering(Extensions(pipelining=True)))
    assert refused(server, AUTH_PLAIN, feed) == NOT_OFFERED


def test_auth_with_unadvertised_mechanism_gets_504(feed: Feed) -> None:
    # RFC 4954 §4: "504 5.5.4" for a mechanism the server does not support.
    assert EXTENSIONS.auth == ("PLAIN", "LOGIN", "CRAM-MD5")
    server = server_after(EHLO)
    assert refused(server, b"AUTH GSSAPI\r\n", feed) == (504, "5.5.4")


def test_auth_mechanism_is_case_insensitive(feed: Feed) -> None:
    server = server_after(EHLO)
    assert accepted(server, b"auth plain " + PLAIN_TOKEN + b"\r\n", feed) == Auth(
        "PLAIN", PLAIN_TOKEN.decode()
    )


@pytest.mark.parametrize("setup", [(EHLO, MAIL), (EHLO, MAIL, RCPT)], ids=["MAIL", "RCPT"])
def test_auth_inside_a_transaction_gets_503(setup: tuple[bytes, ...], feed: Feed) -> None:
    # RFC 4954 §4: AUTH is not permitted during a mail transaction.
    server = server_after(*setup)
    assert refused(server, AUTH_PLAIN, feed) == BAD_SEQUENCE


def test_auth_after_success_gets_503(feed: Feed) -> None:
    # RFC 4954 §4: once authenticated, a further AUTH gets 503.
    server = server_after(EHLO, AUTH_PLAIN, answers={Auth: AUTH_OK})
    assert server.authenticated is True
    assert refused(server, AUTH_PLAIN, feed) == BAD_SEQUENCE
    assert refused(server, b"AUTH LOGIN\r\n", feed) == BAD_SEQUENCE


def test_auth_with_bad_initial_response_gets_501(feed: Feed) -> None:
    server = server_after(EHLO)
    assert refused(server, b"AUTH PLAIN not*base64\r\n", feed) == (501, "5.5.2")


# --- BDAT (RFC 3030) ------------------------------------------------------------------


def test_data_after_binarymime_gets_503(feed: Feed) -> None:
    # RFC 3030 §3: BINARYMIME content can only travel by BDAT.
    server = server_after(EHLO, b"MAIL FROM:<alice@example.org> BODY=BINARYMIME\r\n", RCPT)
    assert state(server) is State.RCPT
    assert refused(server, DATA, feed) == BAD_SEQUENCE


@pytest.mark.parametrize("setup", [(), (EHLO,), (EHLO, MAIL)], ids=["GREETED", "READY", "MAIL"])
def test_bdat_out_of_sequence_consumes_its_chunk_then_gets_503(
    setup: tuple[bytes, ...], feed: Feed
) -> None:
    # RFC 3030 §2: the chunk is read whatever the answer; its bytes are never commands.
    server = server_after(*setup)
    before = state(server)
    events = exchange(server, b"BDAT 6\r\nQUIT\r\nNOOP\r\n", feed)
    assert rejections(events) == [BAD_SEQUENCE]
    assert events[1:] == [Noop()]
    assert state(server) is before


def test_bdat_last_out_of_sequence_consumes_its_chunk(feed: Feed) -> None:
    server = server_after(EHLO)
    events = exchange(server, b"BDAT 18 LAST\r\nRSET\r\nRCPT TO:<>\r\nNOOP x\r\n", feed)
    assert rejections(events) == [BAD_SEQUENCE]
    assert events[1:] == [Noop("x")]
    assert state(server) is State.READY


def test_bdat_when_chunking_not_advertised_consumes_its_chunk_then_gets_502(feed: Feed) -> None:
    server = server_after(EHLO, MAIL, RCPT, answers=ehlo_offering(Extensions(pipelining=True)))
    events = exchange(server, b"BDAT 6\r\nQUIT\r\nNOOP\r\n", feed)
    assert rejections(events) == [NOT_OFFERED]
    assert events[1:] == [Noop()]


@pytest.mark.parametrize(
    "line",
    [
        b"BDAT ten\r\n",
        b"BDAT\r\n",
        b"BDAT 10 FIRST\r\n",
        b"BDAT -1\r\n",
        b"BDAT 3 LASTX\r\n",
        "BDAT 3 LA\u017fT\r\n".encode(),  # long s: Unicode upper-cases it to S
    ],
)
def test_bdat_without_a_valid_size_is_fatal(line: bytes, feed: Feed) -> None:
    # Without its size nobody can tell where the chunk ends: the framing is lost,
    # and a server that closes says 421 (RFC 5321 §3.8).
    server = server_after(EHLO, MAIL, RCPT)
    with pytest.raises(RemoteProtocolError) as raised:
        exchange(server, line, feed)
    assert raised.value.reply is not None
    assert (raised.value.reply.code, raised.value.reply.status) == (421, "4.5.4")
    assert state(server) is State.ERROR


def test_bdat_chunk_arrives_as_message_data(feed: Feed) -> None:
    server = server_after(EHLO, MAIL, RCPT)
    events = exchange(server, b"BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n", feed)
    assert events == [Bdat(6, last=True), MessageData(b"QUIT\r\n"), EndOfMessage(), Noop()]
    assert state(server) is State.READY


# --- the bad-command budget -----------------------------------------------------------


def test_bad_command_budget_ends_the_session_with_421(feed: Feed) -> None:
    server = server_after(limits=Limits(bad_commands=3))
    for _ in range(3):
        assert refused(server, b"FROB\r\n", feed) == UNRECOGNIZED
    with pytest.raises(RemoteProtocolError) as error:
        exchange(server, b"FROB\r\n", feed)
    assert error.value.reply is not None
    assert (error.value.reply.code, error.value.reply.status) == (421, "4.7.0")
    assert state(server) is State.ERROR


def test_transient_refusals_do_not_count_against_the_budget(feed: Feed) -> None:
    server = server_after(EHLO, MAIL, RCPT, limits=Limits(recipients=1, bad_commands=1))
    for _ in range(3):
        assert refused(server, RCPT, feed) == (452, "4.5.3")
    assert refused(server, b"FROB\r\n", feed) == UNRECOGNIZED


# --- what the application may send ----------------------------------------------------


def test_reply_when_none_is_owed_is_a_local_error() -> None:
    server = server_after(EHLO)
    with pytest.raises(LocalProtocolError):
        server.send(Reply(250, "2.0.0", "OK"))
    assert state(server) is State.READY


def test_second_reply_to_one_command_is_a_local_error() -> None:
    server = server_after(EHLO)
    server.receive_data(b"NOOP\r\n")
    assert server.next_event() == Noop()
    server.send(Reply(250, "2.0.0", "OK"))
    with pytest.raises(LocalProtocolError):
        server.send(Reply(250, "2.0.0", "OK"))


def test_421_may_be_sent_unasked_and_closes() -> None:
    # RFC 5321 §3.8: a server may say 421 at any time, then closes.
    server = server_after(EHLO, MAIL)
    assert server.send(Reply(421, "4.3.0", "Shutting down")) == b"421 4.3.0 Shutting down\r\n"
    assert state(server) is State.CLOSED
    assert server.next_event() == ConnectionClosed()


def test_421_may_answer_any_command_and_closes() -> None:
    server = server_after(EHLO)
    server.receive_data(MAIL)
    assert server.next_event() == MailFrom("alice@example.org")
    server.send(Reply(421, "4.7.0", "Too busy"))
    assert state(server) is State.CLOSED


@pytest.mark.parametrize(
    ("setup", "line", "reply"),
    [
        ((EHLO,), MAIL, Reply(354, None, "Go ahead")),
        ((EHLO, MAIL), RCPT, Reply(334, None, "")),
        ((), EHLO, Reply(354, None, "Go ahead")),
        ((EHLO, MAIL, RCPT), DATA, Reply(250, "2.0.0", "OK")),
        ((EHLO,), b"NOOP\r\n", Reply(354, None, "Go ahead")),
    ],
    ids=["354-to-MAIL", "334-to-RCPT", "354-to-EHLO", "250-to-DATA", "354-to-NOOP"],
)
def test_reply_that_does_not_fit_the_command_is_a_local_error(
    setup: tuple[bytes, ...], line: bytes, reply: Reply
) -> None:
    server = server_after(*setup)
    before = state(server)
    server.receive_data(line)
    command = server.next_event()
    assert not isinstance(command, Rejected)
    with pytest.raises(LocalProtocolError):
        server.send(reply)
    assert state(server) is before
    # The reply is still owed, and a fitting one may still be sent.
    assert server.next_event() is PAUSED
    server.send(Reply(451, "4.3.0", "Try again later"))
    assert state(server) is before


def test_paused_until_the_reply_is_sent() -> None:
    server = server_after(EHLO)
    server.receive_data(MAIL + RCPT)
    assert server.next_event() == MailFrom("alice@example.org")
    assert server.next_event() is PAUSED
    assert server.next_event() is PAUSED
    server.send(Reply(250, "2.1.0", "OK"))
    assert server.next_event() == RcptTo("bob@example.net")


# --- end of file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup", [(), (EHLO,), (EHLO, MAIL, RCPT)], ids=["GREETED", "READY", "RCPT"]
)
def test_eof_between_commands_is_connection_closed(setup: tuple[bytes, ...]) -> None:
    server = server_after(*setup)
    server.receive_data(b"")
    assert server.next_event() == ConnectionClosed()
    assert state(server) is State.CLOSED


def test_eof_waits_for_the_commands_already_received() -> None:
    server = server_after(EHLO)
    server.receive_data(b"NOOP\r\n")
    server.receive_data(b"")
    assert server.next_event() == Noop()
    server.send(Reply(250, "2.0.0", "OK"))
    assert server.next_event() == ConnectionClosed()


def test_eof_inside_data_is_fatal(feed: Feed) -> None:
    server = server_after(EHLO, MAIL, RCPT, DATA)
    assert state(server) is State.DATA
    assert exchange(server, b"Subject: x\r\n\r\ncut short", feed) == [
        MessageData(b"Subject: x\r\n\r\ncut short")
    ]
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    assert state(server) is State.ERROR


def test_eof_inside_data_after_partial_end_marker_is_fatal() -> None:
    server = server_after(EHLO, MAIL, RCPT, DATA)
    server.receive_data(b"body\r\n.")
    assert server.next_event() == MessageData(b"body")
    assert server.next_event() is NEED_DATA
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    assert state(server) is State.ERROR


def test_eof_inside_bdat_chunk_is_fatal() -> None:
    server = server_after(EHLO, MAIL, RCPT)
    server.receive_data(b"BDAT 100 LAST\r\nonly part")
    assert server.next_event() == Bdat(100, last=True)
    assert server.next_event() == MessageData(b"only part")
    server.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    assert state(server) is State.ERROR


@pytest.mark.parametrize(
    "greeting",
    [Reply(250, "2.0.0", "OK"), Reply(550, "5.0.0", "Go away")],
    ids=["250", "550"],
)
def test_greeting_other_than_220_or_554_is_a_local_error(greeting: Reply) -> None:
    # RFC 5321 §3.1 and §4.3.2: CONNECTION ESTABLISHMENT S: 220, E: 554.
    server = Connection(SERVER)
    with pytest.raises(LocalProtocolError):
        server.send(greeting)
    assert state(server) is State.CONNECTED


def test_nothing_is_read_before_the_greeting() -> None:
    server = Connection(SERVER)
    server.receive_data(EHLO)
    assert server.next_event() is PAUSED
    server.send(Reply(220, None, "mx.example ESMTP"))
    assert server.next_event() == Ehlo("client.example")


def test_421_may_be_the_greeting() -> None:
    # RFC 5321 §3.8: 421 at any time, connection opening included.
    server = Connection(SERVER)
    server.send(Reply(421, "4.3.2", "Too busy, try later"))
    assert state(server) is State.CLOSED


# --- verbs and keywords are ASCII (RFC 5321 §2.4) -------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "MA\u0131L FROM:<alice@example.org>\r\n",  # dotless i: "I" to str.upper()
        "R\u017fET\r\n",  # long s: "S" to str.upper()
        "QU\u0131T\r\n",
        "\u017fTARTTLS\r\n",
    ],
)
def test_a_verb_with_a_letter_only_unicode_upper_cases_to_ascii_is_unrecognized(
    line: str, feed: Feed
) -> None:
    server = server_after(EHLO, answers=ehlo_offering(Extensions(starttls=True)))
    assert refused(server, line.encode(), feed) == UNRECOGNIZED


@pytest.mark.parametrize(
    "line",
    [
        "MAIL FROM:<alice@example.org> BODY=8B\u0131TMIME\r\n",
        "MAIL FROM:<alice@example.org> RET=HDR\u017f\r\n",
    ],
)
def test_mail_parameter_values_match_ascii_letters_only(line: str, feed: Feed) -> None:
    offered = Extensions(eightbitmime=True, dsn=True, smtputf8=True)
    server = server_after(EHLO, answers=ehlo_offering(offered))
    assert refused(server, line.encode(), feed) == MALFORMED_PARAMETER


def test_rcpt_notify_matches_ascii_letters_only(feed: Feed) -> None:
    server = server_after(EHLO, MAIL, answers=ehlo_offering(Extensions(dsn=True)))
    line = "RCPT TO:<bob@example.net> NOTIFY=\u017fUCCESS\r\n".encode()
    assert refused(server, line, feed) == MALFORMED_PARAMETER

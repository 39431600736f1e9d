"""The receiver against real clients: each delivers, and the store holds its bytes exactly.

Every client here sends :data:`MESSAGE` (a dot-led line, 8-bit text, CRLF line ends)
to ``Server(StoringHandler(SQLiteStore))``, which offers STARTTLS with the trustme
test certificate. What the store keeps must be the server's one ``Received:``
header followed by the client's bytes, byte for byte (dot-unstuffed), with the
envelope and the session's TLS as the client gave them. The clients: smtplib,
aiosmtplib, smtpx's Client and AsyncClient (BDAT LAST, and pipelined DATA when
CHUNKING is withheld), swaks, msmtp, curl, and Postfix's smtp-source as load.
A program that is not installed fails its test (tests/peers/, ``require_binary``).

Not here: relaying through a real Postfix to this server. The machine's one
Postfix may be in use by another run, so the ``postfix`` fixtures are not used.
"""

from __future__ import annotations

import asyncio
import smtplib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest
from tests.peers import TlsCerts, require_binary
from tests.server.receiver import (
    MESSAGE,
    RECIPIENT,
    SENDER,
    StoringServer,
    message,
    split_received,
    storing_server,
    without_received,
)

from smtpx.client import AsyncClient, Client
from smtpx.protocol import Extensions
from smtpx.server import ServerConfig
from smtpx.store import Recipient, StoredMessage

SWAKS = Path("/usr/bin/swaks")
MSMTP = Path("/usr/bin/msmtp")
CURL = Path("/usr/bin/curl")
SMTP_SOURCE = Path("/usr/sbin/smtp-source")
# Seconds for one run of a client program, and for each step of a Python client: each
# takes milliseconds here, so a client left waiting fails its test quickly.
RUN_TIMEOUT = 10.0
STARTTLS_RUN_TIMEOUT = 5.0
CLIENT_TIMEOUT = 3.0


@pytest.fixture
def mx(tmp_path: Path, tls_certs: TlsCerts) -> Iterator[StoringServer]:
    config = ServerConfig(hostname="mx.test", tls=tls_certs.server_ssl_context())
    with storing_server(tmp_path / "store", config) as server:
        yield server


@pytest.fixture
def message_file(tmp_path: Path) -> Path:
    path = tmp_path / "message.eml"
    path.write_bytes(MESSAGE)
    return path


def run(
    *args: str | Path, stdin: bytes | None = None, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(
            [str(arg) for arg in args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"{args[0]} still waiting after {timeout} s; stderr: {expired.stderr!r}")
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return done


def kept(mx: StoringServer, *, tls: bool, protocol: str = "ESMTP") -> tuple[StoredMessage, bytes]:
    """The one stored message, checked: envelope, the TLS it came over, the Received
    header's protocol name (RFC 3848); returns it and its bytes without the header."""
    stored, raw = mx.only()
    assert stored.envelope.sender == SENDER
    assert stored.envelope.recipients[0].address == RECIPIENT
    assert stored.origin.client_address == "127.0.0.1"
    assert (stored.origin.tls is not None) is tls, stored.origin
    header, rest = split_received(raw)
    assert f" by mx.test (smtpx) with {protocol} id " in header, header
    assert stored.size == len(raw)
    return stored, rest


# --- Python's smtplib ---------------------------------------------------------------------


def test_smtplib_in_plain_text_is_stored_byte_for_byte(mx: StoringServer) -> None:
    with smtplib.SMTP(
        mx.host, mx.port, local_hostname="client.example", timeout=CLIENT_TIMEOUT
    ) as smtp:
        assert smtp.sendmail(SENDER, [RECIPIENT], MESSAGE) == {}
    stored, rest = kept(mx, tls=False)
    assert rest == MESSAGE
    assert stored.origin.helo == "client.example"
    # RFC 1870: smtplib declares the size, and the server keeps the parameter.
    assert ("SIZE", str(len(MESSAGE))) in stored.envelope.params


def test_smtplib_after_starttls_is_stored_with_the_tls_session(
    mx: StoringServer, tls_certs: TlsCerts
) -> None:
    with smtplib.SMTP(
        mx.host, mx.port, local_hostname="client.example", timeout=CLIENT_TIMEOUT
    ) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        code, _ = smtp.starttls(context=tls_certs.client_ssl_context())
        assert code == 220
        smtp.ehlo()
        assert not smtp.has_extn("starttls")  # RFC 3207 §4.2: not offered twice
        assert smtp.sendmail(SENDER, [RECIPIENT], MESSAGE) == {}
    stored, rest = kept(mx, tls=True, protocol="ESMTPS")
    assert rest == MESSAGE
    assert stored.origin.tls is not None
    assert stored.origin.tls.startswith("TLSv1.")


def test_smtplib_helo_is_plain_smtp_and_two_recipients_leave_out_for(mx: StoringServer) -> None:
    other = "carol@example.org"
    with smtplib.SMTP(mx.host, mx.port, timeout=CLIENT_TIMEOUT) as smtp:
        assert smtp.helo("old.example")[0] == 250
        assert smtp.sendmail(SENDER, [RECIPIENT, other], MESSAGE) == {}
    stored, raw = mx.only()
    header, rest = split_received(raw)
    assert rest == MESSAGE
    # RFC 5321 §4.4: "for" only with exactly one recipient; RFC 3848: SMTP after HELO.
    assert header.startswith("Received: from old.example ([127.0.0.1]) by mx.test"), header
    assert " with SMTP id " in header, header
    assert " for <" not in header, header
    assert stored.envelope.recipients == (Recipient(RECIPIENT), Recipient(other))
    assert stored.envelope.params == ()


# --- aiosmtplib ------------------------------------------------------------------------------


@pytest.mark.parametrize("starttls", [False, True], ids=["plain", "starttls"])
def test_aiosmtplib_message_is_stored_byte_for_byte(
    mx: StoringServer, tls_certs: TlsCerts, starttls: bool
) -> None:
    async def send() -> None:
        errors, reply = await aiosmtplib.send(
            MESSAGE,
            sender=SENDER,
            recipients=[RECIPIENT],
            hostname=mx.host,
            port=mx.port,
            local_hostname="client.example",
            start_tls=starttls,
            tls_context=tls_certs.client_ssl_context(),
            timeout=CLIENT_TIMEOUT,
        )
        assert errors == {}
        assert "queued as" in reply

    asyncio.run(send())
    _, rest = kept(mx, tls=starttls, protocol="ESMTPS" if starttls else "ESMTP")
    assert rest == MESSAGE


# --- smtpx's own clients -------------------------------------------------------------------


def verbs(transcript: list[str]) -> list[str]:
    return [line[3:].split(" ")[0].split(":")[0] for line in transcript if line.startswith("-> ")]


def test_smtpx_client_sends_one_bdat_last_with_chunking(mx: StoringServer) -> None:
    with Client(mx.host, mx.port, tls="none", timeout=CLIENT_TIMEOUT) as smtp:
        assert smtp.extensions.chunking
        result = smtp.send_message(MESSAGE, SENDER, [RECIPIENT])
        transcript = list(smtp.transcript)
    assert list(result.accepted) == [RECIPIENT]
    assert any(line.startswith(f"-> BDAT {len(MESSAGE)} LAST") for line in transcript), transcript
    assert "DATA" not in verbs(transcript)
    _, rest = kept(mx, tls=False)
    assert rest == MESSAGE


def test_smtpx_async_client_with_starttls_sends_bdat_last(
    mx: StoringServer, tls_certs: TlsCerts
) -> None:
    async def send() -> list[str]:
        client = AsyncClient(
            mx.host, mx.port, tls="starttls", ca_file=str(tls_certs.ca_pem), timeout=CLIENT_TIMEOUT
        )
        async with client as smtp:
            result = await smtp.send_message(MESSAGE, SENDER, [RECIPIENT])
            assert list(result.accepted) == [RECIPIENT]
            assert smtp.tls_info is not None
            return list(smtp.transcript)

    transcript = asyncio.run(send())
    assert "STARTTLS" in verbs(transcript)
    assert any(line.startswith(f"-> BDAT {len(MESSAGE)} LAST") for line in transcript), transcript
    _, rest = kept(mx, tls=True, protocol="ESMTPS")
    assert rest == MESSAGE


def test_smtpx_client_batch_of_bdat_messages_arrives_in_order(mx: StoringServer) -> None:
    messages = [message(f"batch {index}", "." * index) for index in range(5)]
    with Client(mx.host, mx.port, tls="none", timeout=CLIENT_TIMEOUT) as smtp:
        outcomes = smtp.send_messages((data, SENDER, [RECIPIENT]) for data in messages)
    assert [type(outcome).__name__ for outcome in outcomes] == ["SendResult"] * 5
    assert [without_received(raw) for raw in mx.raws()] == messages


def test_smtpx_client_pipelines_data_when_chunking_is_not_offered(mx: StoringServer) -> None:
    """RFC 2920: MAIL, RCPT, DATA in one write; in a batch the next message's commands
    follow the end of data in the same write."""
    mx.offer(Extensions(size=1_000_000, eightbitmime=True, pipelining=True, smtputf8=True))
    messages = [MESSAGE, *(message(f"pipelined {index}") for index in range(4))]
    with Client(mx.host, mx.port, tls="none", timeout=CLIENT_TIMEOUT) as smtp:
        assert not smtp.extensions.chunking
        outcomes = smtp.send_messages((data, SENDER, [RECIPIENT]) for data in messages)
        transcript = list(smtp.transcript)
    assert [type(outcome).__name__ for outcome in outcomes] == ["SendResult"] * 5
    sent = verbs(transcript)
    assert sent.count("DATA") == 5
    assert "BDAT" not in sent
    assert [without_received(raw) for raw in mx.raws()] == messages


def test_smtpx_async_client_pipelines_data_when_chunking_is_not_offered(
    mx: StoringServer,
) -> None:
    mx.offer(Extensions(size=1_000_000, eightbitmime=True, pipelining=True))

    async def send() -> None:
        async with AsyncClient(mx.host, mx.port, tls="none", timeout=CLIENT_TIMEOUT) as smtp:
            result = await smtp.send_message(MESSAGE, SENDER, [RECIPIENT])
            assert list(result.accepted) == [RECIPIENT]
            assert "DATA" in verbs(smtp.transcript)

    asyncio.run(send())
    _, rest = kept(mx, tls=False)
    assert rest == MESSAGE


# --- command-line clients -------------------------------------------------------------------


def swaks(mx: StoringServer, tmp_path: Path, *options: str) -> None:
    require_binary(SWAKS, "swaks")
    # swaks always ends the data with CRLF "." CRLF: give it the message without its
    # last CRLF, or the store would rightly keep one empty line more.
    data = tmp_path / "swaks.eml"
    data.write_bytes(MESSAGE.removesuffix(b"\r\n"))
    server = f"{mx.host}:{mx.port}"
    run(SWAKS, "--server", server, "--from", SENDER, "--to", RECIPIENT, "--data", f"@{data}",
        "--helo", "swaks.example", "--timeout", "10", *options)  # fmt: skip


def test_swaks_in_plain_text(mx: StoringServer, tmp_path: Path) -> None:
    swaks(mx, tmp_path)
    stored, rest = kept(mx, tls=False)
    assert rest == MESSAGE
    assert stored.origin.helo == "swaks.example"


def test_swaks_pipelined(mx: StoringServer, tmp_path: Path) -> None:
    swaks(mx, tmp_path, "--pipeline")
    _, rest = kept(mx, tls=False)
    assert rest == MESSAGE


def test_swaks_starttls_verifying_the_certificate(
    mx: StoringServer, tmp_path: Path, tls_certs: TlsCerts
) -> None:
    swaks(mx, tmp_path, "--tls", "--tls-verify", "--tls-ca-path", str(tls_certs.ca_pem))
    _, rest = kept(mx, tls=True, protocol="ESMTPS")
    assert rest == MESSAGE


def test_msmtp_with_starttls(mx: StoringServer, tls_certs: TlsCerts) -> None:
    require_binary(MSMTP, "msmtp")
    run(MSMTP, f"--host={mx.host}", f"--port={mx.port}", "--auth=off", "--tls=on",
        "--tls-starttls=on", f"--tls-trust-file={tls_certs.ca_pem}", "--domain=msmtp.example",
        f"--from={SENDER}", "--timeout=3", RECIPIENT, stdin=MESSAGE,
        timeout=STARTTLS_RUN_TIMEOUT)  # fmt: skip
    stored, rest = kept(mx, tls=True, protocol="ESMTPS")
    assert rest == MESSAGE
    assert stored.origin.helo == "msmtp.example"


def test_msmtp_in_plain_text(mx: StoringServer) -> None:
    require_binary(MSMTP, "msmtp")
    run(MSMTP, f"--host={mx.host}", f"--port={mx.port}", "--auth=off", "--tls=off",
        f"--from={SENDER}", "--timeout=3", RECIPIENT, stdin=MESSAGE)  # fmt: skip
    _, rest = kept(mx, tls=False)
    assert rest == MESSAGE


@pytest.mark.parametrize("starttls", [False, True], ids=["plain", "ssl-reqd"])
def test_curl(mx: StoringServer, message_file: Path, tls_certs: TlsCerts, starttls: bool) -> None:
    require_binary(CURL, "curl")
    tls = ["--ssl-reqd", "--cacert", str(tls_certs.ca_pem)] if starttls else []
    # The certificate names "localhost": curl checks the host name it connected to.
    host = "localhost" if starttls else mx.host
    run(CURL, "-sS", "--max-time", "5", f"smtp://{host}:{mx.port}/curl.example",
        "--mail-from", SENDER, "--mail-rcpt", RECIPIENT, "-T", message_file, *tls)  # fmt: skip
    stored, rest = kept(mx, tls=starttls, protocol="ESMTPS" if starttls else "ESMTP")
    assert rest == MESSAGE
    assert stored.origin.helo == "curl.example"


def test_smtp_source_200_messages_on_10_sessions_are_all_stored(mx: StoringServer) -> None:
    require_binary(SMTP_SOURCE, "postfix")
    run(SMTP_SOURCE, "-s", "10", "-m", "200", "-l", "1024", "-f", "a@example.org",
        "-t", "b@example.org", f"{mx.host}:{mx.port}")  # fmt: skip
    assert mx.count() == 200
    stored = mx.stored()
    assert {message.envelope.sender for message in stored} == {"a@example.org"}
    sizes = {len(without_received(mx.raw(message.id))) for message in stored[:10]}
    (size,) = sizes
    assert size >= 1024

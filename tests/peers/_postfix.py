"""The ``postfix``, ``fresh_postfix`` and ``postfix_relay`` fixtures: a real Postfix.

``postfix`` (session) starts the machine's default instance with a configuration
written for the session and restored after it; ``fresh_postfix`` is the same
server with its delivered mail cleared first. See :class:`Postfix` for its
configuration and :func:`strip_trace_headers` for the headers it adds. AUTH goes
through Cyrus SASL to a saslauthd that this process serves itself.
``postfix_relay`` makes that Postfix relay RELAY_DOMAIN to a server the test
names, for one test (main.cf changed, ``postfix reload``, put back after); see
:class:`PostfixRelay`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import select
import shutil
import smtplib
import socketserver
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from ._ports import (
    AUTH_PASSWORD,
    AUTH_USER,
    INSTALL_HINT,
    LOOPBACK,
    MX_HOSTNAME,
    POLL_INTERVAL,
    STARTUP_TIMEOUT,
    STOP_TIMEOUT,
    PeerUnavailable,
    _nobody,
    free_port,
    require_binary,
    wait_for_port,
)
from ._tls import TlsCerts

POSTFIX = Path("/usr/sbin/postfix")
POSTSUPER = Path("/usr/sbin/postsuper")
PIPE_DAEMON = Path("/usr/lib/postfix/sbin/pipe")

# Mail for these domains (and their subdomains) is accepted and captured; any other
# recipient is refused at RCPT with 554 5.7.1 Relay access denied.
TEST_DOMAINS = ("example.com", "example.org", "example.net")
# Refused like any other domain, except while a test holds ``postfix_relay``: then
# Postfix relays it over SMTP to the server that test names.
RELAY_DOMAIN = "relay.test"
# The mark still names the single module this package once was: a left-over
# configuration is recognised by it, so it stays as it was.
_CONFIG_MARK = "# Written by the smtpx test suite (tests/peers/)"
_POSTFIX_ETC = Path("/etc/postfix")
_CYRUS_SMTPD_CONF = _POSTFIX_ETC / "sasl" / "smtpd.conf"  # Debian's Postfix looks only here
_MASTER_CF_DIST = Path("/usr/share/postfix/master.cf.dist")
# Under /var: Postfix writes maillog_file only below maillog_file_prefixes.
_RUN_DIR_PARENT, _RUN_DIR_PREFIX = "/var/tmp", "smtpx-postfix-"

_MAIN_CF = """\
{mark}: a throwaway Postfix for one test session.
# Restored to what was here before when the session ends.
compatibility_level = 3.6
myhostname = {hostname}
myorigin = $myhostname
mydestination =
inet_interfaces = {host}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Test domains go to the "capture" pipe(8) service (master.cf); nothing else is accepted.
relay_domains = {domains}
relay_transport = capture
default_transport = error:5.1.2 not a test domain
smtpd_relay_restrictions = reject_unauth_destination
# One delivery per recipient, so X-Original-To names it.
capture_destination_recipient_limit = 1
# Keep the message as sent: no header rewriting or added From/Date/Message-ID for
# loopback clients, and no dropped headers (the default drops Bcc, Content-Length,
# Resent-Bcc and Return-Path).
local_header_rewrite_clients =
message_drop_headers =
# A strict peer: a bare LF anywhere gets 550 5.5.2 (and so every delivered line
# ended in CRLF on the wire).
smtpd_forbid_bare_newline = reject
smtpd_forbid_bare_newline_exclusions =
smtpd_error_sleep_time = 0
in_flow_delay = 0
alias_maps =
alias_database =
biff = no
maillog_file = {maillog}
smtpd_tls_cert_file = {cert_chain}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
# AUTH PLAIN/LOGIN through Cyrus SASL, which asks a saslauthd (the test process).
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_tls_auth_only = no
"""

# Added to the session's main.cf by ``postfix_relay`` (and RELAY_DOMAIN to relay_domains).
_RELAY_MAIN_CF = """\
{mark}: relaying {domain} to {host}:{port} (postfix_relay).
# Taken off again, and Postfix reloaded, when the test ends.
transport_maps = inline:{{ {domain}=smtp:[{host}]:{port} }}
# "encrypt": TLS or no delivery (the certificate is not checked); "none": never TLS.
smtp_tls_security_level = {tls_level}
smtp_tls_loglevel = 1
"""

_MASTER_CF_SERVICES = """\
{mark}: the port-{port} smtpd above, and:
# RFC 6409-style submission: STARTTLS before AUTH, AUTH before any recipient.
{submission_port} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
# Every accepted message, once per recipient, into {mail_dir}.
capture unix - n n - - pipe
  flags=ORX null_sender= user=nobody:{group} argv={deliver} {mail_dir} ${{queue_id}}
"""

_CYRUS_CONF = """\
pwcheck_method: saslauthd
mech_list: PLAIN LOGIN
saslauthd_path: {socket}
"""

# pipe(8) runs this as nobody with the message on stdin. It writes under a dot name
# and renames, so a reader never sees half a message; 75 (EX_TEMPFAIL) defers.
_DELIVER_SH = """\
#!/bin/sh
tmp="$1/.incoming.$2.$$"
umask 022
cat > "$tmp" && mv "$tmp" "$1/$2.$$" || exit 75
"""


def _postfix_command(*args: str, timeout: float = 30.0) -> tuple[int, str]:
    """Run a Postfix command; return its exit status and what it printed.

    Postfix commands print their diagnostics only when stderr is a terminal (else
    they go to syslog, which this machine lacks), so the command gets a pty.
    """
    controller, terminal = os.openpty()
    env = {**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    try:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=env
        )
    finally:
        os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        # Read until the command exits, not until EOF: a daemon it starts may keep the pty.
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise PeerUnavailable(f"{' '.join(args)} still running after {timeout} s")
            output += _read_ready(controller, wait=0.05)
        output += _read_ready(controller, wait=0.0)
    finally:
        os.close(controller)
    text = output.decode("utf-8", "replace").replace("\r\n", "\n").strip()
    return process.returncode, text


def _read_ready(fd: int, wait: float) -> bytes:
    """What can be read from ``fd`` now (after up to ``wait`` seconds for the first byte)."""
    data = bytearray()
    for _ in range(1024):  # bounded: a command's output is a few lines
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        data += chunk
        wait = 0.0
    return bytes(data)


class _SaslauthdHandler(socketserver.StreamRequestHandler):
    """Cyrus saslauthd's wire protocol: four counted strings in, one counted reply out.

    The client (libsasl2, inside Postfix's smtpd) sends login, password, service and
    realm, each as a 2-byte big-endian length and the bytes; the reply is "OK" or
    "NO reason", framed the same way.
    """

    timeout = 5.0

    def handle(self) -> None:
        fields = []
        for _ in range(4):
            (length,) = struct.unpack(">H", self.rfile.read(2))
            fields.append(self.rfile.read(length))
        login, password = fields[0], fields[1]
        ok = (login, password) == (AUTH_USER.encode(), AUTH_PASSWORD.encode())
        reply = b"OK" if ok else b"NO authentication failed"
        self.wfile.write(struct.pack(">H", len(reply)) + reply)


class _Saslauthd(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@dataclass
class Postfix:
    """A real Postfix 3.7 smtpd on ``host:port``, configured by the test suite.

    The machine's default instance (/etc/postfix) is rewritten for the session and
    restored after it. ``port`` offers STARTTLS (the trustme certificate) and AUTH
    PLAIN/LOGIN (user ``alice``, password ``wonderland``) without requiring either;
    loopback clients may send without AUTH. ``submission_port`` requires STARTTLS
    before AUTH and AUTH before RCPT. EHLO on ``port``::

        250-mx.example  250-PIPELINING  250-SIZE 10240000  250-VRFY  250-ETRN
        250-STARTTLS  250-AUTH PLAIN LOGIN  250-ENHANCEDSTATUSCODES  250-8BITMIME
        250-DSN  250-SMTPUTF8  250 CHUNKING

    Recipients in TEST_DOMAINS are accepted, others get 554 5.7.1 at RCPT. Each
    accepted message is delivered once per recipient by pipe(8) into ``mail_dir``;
    :meth:`wait_for_delivery` reads them. What Postfix does to a message on the way
    (see :func:`strip_trace_headers` for the added headers):

    - it stores lines, not line ends; the files end lines in LF and
      :meth:`wait_for_delivery` puts CRLF back, which is exact since this smtpd
      refuses bare LF (550 5.5.2);
    - a bare CR inside a line arrives as a space;
    - a message whose first line is not a header gets an empty line before it;
    - nothing else: no header is dropped or rewritten, none added but the trace
      (within message_size_limit, 10240000 bytes, and header_size_limit, 102400).

    A DSN asked for with NOTIFY=SUCCESS is itself delivered (to the sender, when
    that is in a test domain): one more file. Delivery is asynchronous: a few tens
    of milliseconds after the reply to the end of data.
    """

    host: str
    port: int
    submission_port: int
    run_dir: Path
    mail_dir: Path
    maillog: Path

    def delivered(self) -> list[bytes]:
        """The messages delivered so far, oldest first, with CRLF line ends."""
        found: list[tuple[int, str, bytes]] = []
        for path in self.mail_dir.iterdir():
            if not path.name.startswith("."):
                found.append((path.stat().st_mtime_ns, path.name, path.read_bytes()))
        return [data.replace(b"\n", b"\r\n") for _, _, data in sorted(found)]

    def wait_for_delivery(self, n: int, timeout: float = 10.0) -> list[bytes]:
        """All delivered messages once there are at least ``n`` (one per recipient)."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.delivered()
            if len(messages) >= n:
                return messages
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Postfix delivered {len(messages)} of {n} messages in {timeout} s; "
                    f"the end of {self.maillog}:\n{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL)

    def clear(self) -> None:
        """Drop queued and delivered mail, so the next test starts from nothing."""
        status, output = _postfix_command(str(POSTSUPER), "-d", "ALL")
        if status != 0:
            raise PeerUnavailable(f"`postsuper -d ALL` failed: {output}")
        for path in self.mail_dir.iterdir():
            path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.maillog.read_text("utf-8", "replace")
        except FileNotFoundError:
            return "(no maillog yet)"
        return "\n".join(text.splitlines()[-lines:])


def strip_trace_headers(delivered: bytes) -> bytes:
    """The message as the client sent it: ``delivered`` without what Postfix added.

    A delivered message starts with exactly these fields, in this order, then the
    message as sent (whatever trace fields it carried itself are kept)::

        Return-Path: <a@example.com>         (pipe flag R: the envelope sender; <> for the null one)
        X-Original-To: b@example.org         (pipe flag O: this delivery's envelope recipient)
        Received: from client.example (localhost [127.0.0.1])
        \tby mx.example (Postfix) with ESMTP id 3B2F81601F4
        \tfor <b@example.org>; Sat, 28 Nov 2026 04:19:56 +0000 (UTC)

    The Received field has the "for <...>" clause only when the transaction had
    one recipient; "with" is ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA, SMTP
    (HELO), or UTF8SMTP... when the client sent SMTPUTF8. Delivered-To is not
    added: the pipe D flag would also bounce a message that already has one.
    """
    match = _POSTFIX_TRACE.match(delivered)
    if match is None:
        raise ValueError(f"no Postfix trace headers at the top of {delivered[:300]!r}")
    return delivered[match.end() :]


_POSTFIX_TRACE = re.compile(
    rb"Return-Path: [^\r\n]*\r\nX-Original-To: [^\r\n]*\r\n"
    rb"Received: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*"
)


def _saved(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def _restore(path: Path, content: bytes | None) -> None:
    if content is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(content)


def _postfix_running() -> bool:
    if not (_POSTFIX_ETC / "main.cf").exists():
        return False  # postfix(1) cannot even ask without a main.cf
    status, _ = _postfix_command(str(POSTFIX), "status")
    return status == 0


def _stop_postfix() -> None:
    """Stop the default instance; ``postfix abort`` does not sleep 1 s as ``stop`` does."""
    _postfix_command(str(POSTFIX), "abort")
    deadline = time.monotonic() + STOP_TIMEOUT
    while _postfix_running():
        if time.monotonic() > deadline:
            _postfix_command(str(POSTFIX), "stop")  # waits 5 s, then kill -9
            break
        time.sleep(POLL_INTERVAL)


def _write_main_cf(path: Path, text: str) -> None:
    """Write main.cf dated 10 s ago: Postfix waits until a main.cf written less than
    2 s ago "cools down" (dict_load_file_xt), which would cost 2 s per command."""
    path.write_text(text)
    cooled = time.time() - 10
    os.utime(path, (cooled, cooled))


def _master_cf(port: int, extra_services: str) -> str:
    """Debian's master.cf.dist, smtpd on ``port``, nothing chrooted, plus ``extra_services``.

    Nothing is chrooted so smtpd needs no copy of /etc files in the queue directory and
    reaches the saslauthd socket by its real path.
    """
    lines = []
    found = 0
    for dist_line in _MASTER_CF_DIST.read_text().splitlines():
        line = dist_line
        if re.match(r"smtp\s+inet\s", line):
            line = re.sub(r"^smtp(\s+)", f"{port}\\1", line)
            found += 1
        if line[:1] not in ("", "#", " ", "\t"):
            line = re.sub(r"^((?:\S+\s+){4})y(?=\s)", r"\1n", line)  # 5th column: chroot
        lines.append(line)
    if found != 1:
        raise PeerUnavailable("master.cf.dist has no single 'smtp inet' service to move")
    return "\n".join(lines) + "\n" + extra_services


@contextlib.contextmanager
def _postfix_session(certs: TlsCerts) -> Iterator[Postfix]:
    main_cf, master_cf = _POSTFIX_ETC / "main.cf", _POSTFIX_ETC / "master.cf"
    originals = {path: _saved(path) for path in (main_cf, master_cf, _CYRUS_SMTPD_CONF)}
    left_over = _CONFIG_MARK.encode() in (originals[main_cf] or b"")
    if left_over:  # by a run that could not clean up: put back what Debian installs
        originals[main_cf] = originals[_CYRUS_SMTPD_CONF] = None
        originals[master_cf] = _MASTER_CF_DIST.read_bytes()
    if _postfix_running():
        if not left_over:
            pytest.fail(f"a Postfix the test suite did not configure is running ({main_cf})")
        _stop_postfix()
    if left_over:
        for stale in Path(_RUN_DIR_PARENT).glob(f"{_RUN_DIR_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
    with contextlib.ExitStack() as cleanup:
        for path, content in originals.items():
            cleanup.callback(_restore, path, content)
        run_dir = Path(tempfile.mkdtemp(prefix=_RUN_DIR_PREFIX, dir=_RUN_DIR_PARENT))
        cleanup.callback(shutil.rmtree, run_dir, ignore_errors=True)
        run_dir.chmod(0o755)
        mail_dir = run_dir / "mail"
        mail_dir.mkdir()
        uid, gid, group = _nobody()
        os.chown(mail_dir, uid, gid)
        deliver = run_dir / "deliver.sh"
        deliver.write_text(_DELIVER_SH)
        deliver.chmod(0o755)
        shutil.copyfile(certs.cert_chain_pem, run_dir / "server-chain.pem")
        shutil.copyfile(certs.key_pem, run_dir / "server-key.pem")
        (run_dir / "server-key.pem").chmod(0o600)  # smtpd reads it as root, before dropping
        socket_path = run_dir / "saslauthd.sock"
        saslauthd = _Saslauthd(str(socket_path), _SaslauthdHandler)
        socket_path.chmod(0o666)  # smtpd connects as user postfix
        threading.Thread(target=saslauthd.serve_forever, args=(0.05,), daemon=True).start()
        cleanup.callback(saslauthd.server_close)
        cleanup.callback(saslauthd.shutdown)

        server = Postfix(LOOPBACK, free_port(), free_port(), run_dir, mail_dir, run_dir / "maillog")
        while server.submission_port == server.port:
            server.submission_port = free_port()
        _write_main_cf(
            main_cf,
            _MAIN_CF.format(
                mark=_CONFIG_MARK,
                hostname=MX_HOSTNAME,
                host=LOOPBACK,
                domains=", ".join(TEST_DOMAINS),
                maillog=server.maillog,
                cert_chain=run_dir / "server-chain.pem",
                key=run_dir / "server-key.pem",
            ),
        )
        services = _MASTER_CF_SERVICES.format(
            mark=_CONFIG_MARK,
            port=server.port,
            submission_port=server.submission_port,
            group=group,
            deliver=deliver,
            mail_dir=mail_dir,
        )
        (_POSTFIX_ETC / "master.cf").write_text(_master_cf(server.port, services))
        _CYRUS_SMTPD_CONF.parent.mkdir(exist_ok=True)
        _CYRUS_SMTPD_CONF.write_text(_CYRUS_CONF.format(socket=socket_path))

        # Before postlogd runs, postsuper writes the log itself, as user postfix.
        server.maillog.touch(0o644)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(server.maillog, postfix_user.pw_uid, postfix_user.pw_gid)

        status, output = _postfix_command(str(POSTFIX), "check")
        if status != 0 or output:
            pytest.fail(f"`postfix check` is not clean (status {status}):\n{output}")
        status, output = _postfix_command(str(POSTSUPER), "-d", "ALL")  # from an earlier run
        if status != 0:
            pytest.fail(f"`postsuper -d ALL` failed:\n{output}")
        status, output = _postfix_command(str(POSTFIX), "start")
        cleanup.callback(_stop_postfix)
        if status != 0:
            pytest.fail(f"`postfix start` failed:\n{output}\n{server.log_tail()}")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        try:
            wait_for_port(server.host, server.port, deadline)
            wait_for_port(server.host, server.submission_port, deadline)
        except PeerUnavailable as error:
            pytest.fail(f"Postfix: {error}; the end of its maillog:\n{server.log_tail()}")
        yield server


@dataclass(frozen=True)
class PostfixRelay:
    """The session's Postfix relaying ``domain`` over SMTP to ``host:port``.

    Only mail for ``domain`` (RELAY_DOMAIN) goes there; the test domains are still
    captured. Postfix's smtp(8) client connects from 127.0.0.1 (several connections
    at once when several messages are queued) and greets with EHLO MX_HOSTNAME. Per
    message it sends MAIL FROM with SIZE (and BODY=8BITMIME, SMTPUTF8 when the
    submission had them), every recipient in ``domain`` in one transaction, each RCPT
    with ``ORCPT=rfc822;<address>`` when the server offers DSN, then DATA (never BDAT).
    With ``tls`` it delivers only after STARTTLS, without checking the certificate;
    without, it never starts TLS.

    On the way it adds exactly one header, its Received field, on top of the message
    as submitted (the session's configuration adds nothing else and rewrites nothing,
    see :class:`Postfix`)::

        Received: from client.example (localhost [127.0.0.1])
        \tby mx.example (Postfix) with ESMTP id 3B2F81601F4
        \tfor <b@relay.test>; Sat, 28 Nov 2026 04:19:56 +0000 (UTC)

    (with several recipients: no "for", and "id 3B2F81601F4;" then the date alone).
    The server there must not greet as MX_HOSTNAME: Postfix would take that for a
    loop back to itself and bounce the mail. A message it cannot deliver stays in
    Postfix's queue, retried minutes later; ``postfix.log_tail()`` says why.
    """

    postfix: Postfix
    domain: str
    host: str
    port: int
    tls: bool


class RelayTo(Protocol):
    def __call__(self, port: int, *, tls: bool = False, host: str = LOOPBACK) -> PostfixRelay: ...


def _accepts_recipient(server: Postfix, domain: str) -> bool | None:
    """Whether Postfix takes a recipient in ``domain`` now (None: no clear answer)."""
    try:
        with smtplib.SMTP(server.host, server.port, "probe.example", timeout=5) as smtp:
            smtp.mail("probe@example.com")
            code, _ = smtp.rcpt(f"probe@{domain}")
            smtp.rset()
    except (smtplib.SMTPException, OSError):
        return None
    if code not in (250, 554):
        return None
    return code == 250


def _reload(server: Postfix, main_cf: str, *, relaying: bool) -> None:
    """Write ``main_cf``, reload Postfix, and return once it relays RELAY_DOMAIN or not.

    ``postfix reload`` only signals the master; old smtpd and trivial-rewrite
    processes may answer with the old configuration for a moment. The relay check
    at RCPT is trivial-rewrite's (the same process that reads transport_maps), so
    a probe that gets the expected answer at RCPT has seen the new configuration.
    """
    _write_main_cf(_POSTFIX_ETC / "main.cf", main_cf)
    status, output = _postfix_command(str(POSTFIX), "reload")
    if status != 0:
        pytest.fail(f"`postfix reload` failed:\n{output}\n{server.log_tail()}")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while _accepts_recipient(server, RELAY_DOMAIN) is not relaying:
        if time.monotonic() > deadline:
            change = "start" if relaying else "stop"
            pytest.fail(
                f"Postfix did not {change} relaying {RELAY_DOMAIN} within {STARTUP_TIMEOUT} s "
                f"of `postfix reload`; the end of its maillog:\n{server.log_tail()}"
            )
        time.sleep(POLL_INTERVAL)


def _relaying_main_cf(main_cf: str, host: str, port: int, *, tls: bool) -> str:
    text, found = re.subn(
        r"^relay_domains = (.*)$", rf"relay_domains = \1, {RELAY_DOMAIN}", main_cf, flags=re.M
    )
    if found != 1:
        raise PeerUnavailable("the session's main.cf has no single relay_domains line")
    return text + _RELAY_MAIN_CF.format(
        mark=_CONFIG_MARK,
        domain=RELAY_DOMAIN,
        host=host,
        port=port,
        tls_level="encrypt" if tls else "none",
    )


@pytest.fixture(scope="session")
def postfix(tls_certs: TlsCerts) -> Iterator[Postfix]:
    """The session's Postfix (see :class:`Postfix`), started on first use."""
    for program in (POSTFIX, POSTSUPER, PIPE_DAEMON):
        require_binary(program, "postfix")
    if os.geteuid() != 0:
        pytest.fail(f"the Postfix peer rewrites /etc/postfix and needs root: {INSTALL_HINT}")
    with _postfix_session(tls_certs) as server:
        yield server


@pytest.fixture
def fresh_postfix(postfix: Postfix) -> Postfix:
    """The session's Postfix with no mail left from earlier tests."""
    postfix.clear()
    return postfix


@pytest.fixture
def postfix_relay(fresh_postfix: Postfix) -> Iterator[RelayTo]:
    """``relay_to(port, tls=False)``: the session's Postfix (no mail left from earlier
    tests) relays RELAY_DOMAIN to ``127.0.0.1:port`` (see :class:`PostfixRelay`).

    One relay at a time. At the end the session's configuration is put back, Postfix
    reloaded (it refuses RELAY_DOMAIN again) and its queue emptied.
    """
    main_cf = _POSTFIX_ETC / "main.cf"
    session_main_cf = main_cf.read_text()
    relays: list[PostfixRelay] = []

    def relay_to(port: int, *, tls: bool = False, host: str = LOOPBACK) -> PostfixRelay:
        if relays:
            raise ValueError(f"Postfix already relays {RELAY_DOMAIN} to port {relays[0].port}")
        relays.append(PostfixRelay(fresh_postfix, RELAY_DOMAIN, host, port, tls))
        _reload(
            fresh_postfix, _relaying_main_cf(session_main_cf, host, port, tls=tls), relaying=True
        )
        return relays[0]

    try:
        yield relay_to
    finally:
        if relays:
            _reload(fresh_postfix, session_main_cf, relaying=False)
            fresh_postfix.clear()

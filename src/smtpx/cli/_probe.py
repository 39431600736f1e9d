"""`smtpx probe`: what a server says about itself, in plain words."""

from __future__ import annotations

from typing import Any

import click

from ..client import Client, SMTPError, TLSInfo, TLSMode
from ..protocol import Extensions
from ._exits import EX_OK, exit_code
from ._options import connection_options, make_client


@click.command()
@click.argument("server", metavar="HOST[:PORT]")
@click.option("-v", "--transcript", is_flag=True, help="Show the whole dialogue.")
@connection_options
def probe(**options: Any) -> None:
    """Connect, and show the greeting, the extensions and the TLS session."""
    client = make_client(options["server"], options)
    try:
        with client:
            _describe(client)
    except SMTPError as error:
        _show_transcript(client, options["transcript"])
        click.echo(f"smtpx probe: {error}", err=True)
        raise SystemExit(exit_code(error)) from None
    _show_transcript(client, options["transcript"])
    raise SystemExit(EX_OK)


def _show_transcript(client: Client, wanted: bool) -> None:
    """-v: the dialogue, a line each; nothing at all when nothing was said."""
    if wanted:
        for line in client.transcript:
            click.echo(line)


def _describe(client: Client) -> None:
    assert client.greeting is not None
    host = f"[{client.host}]" if ":" in client.host else client.host  # IPv6
    click.echo(f"server      {host}:{client.port}")
    click.echo(f"greeting    {client.greeting}")
    if not client.esmtp:
        click.echo("extensions  none: the server only speaks HELO (no EHLO)")
    else:
        for line in _extensions(client.extensions):
            click.echo(line)
    if client.tls_info is not None and client.tls_mode is not TLSMode.IMPLICIT:
        # RFC 3207 §4.2: the EHLO after TLS no longer offers STARTTLS.
        click.echo("starttls    yes (in use)")
    elif client.esmtp:
        click.echo(f"starttls    {'yes' if client.extensions.starttls else 'no'}")
    if client.tls_info is None:
        click.echo("tls         none")
    else:
        for line in _tls(client.tls_info):
            click.echo(line)


def _extensions(ext: Extensions) -> list[str]:
    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    if ext.size is None:
        size = "not announced"
    else:
        size = f"{ext.size:,} octets" if ext.size else "no fixed limit"
    auth = " ".join(ext.auth) if ext.auth else ("offered, no mechanism" if ext.auth == () else "no")
    lines = [
        f"max size    {size}",
        f"auth        {auth}",
        f"pipelining  {yes(ext.pipelining)}",
        f"chunking    {yes(ext.chunking)} (binarymime {yes(ext.binarymime)})",
        f"8bitmime    {yes(ext.eightbitmime)}",
        f"smtputf8    {yes(ext.smtputf8)}",
        f"dsn         {yes(ext.dsn)}",
        f"enhanced    {yes(ext.enhancedstatuscodes)} (enhanced status codes)",
    ]
    lines.extend(f"other       {keyword} {params}".rstrip() for keyword, params in ext.other)
    return lines


def _tls(info: TLSInfo) -> list[str]:
    lines = [f"tls         {info.version}, {info.cipher}"]
    cert = info.certificate
    if not cert:
        return [*lines, "certificate not verified, so not shown (--insecure)"]

    def name(field: Any) -> str:
        return ", ".join(f"{key}={value}" for rdn in field for key, value in rdn)

    alt_names = ", ".join(value for _, value in cert.get("subjectAltName", ()))
    return [
        *lines,
        f"subject     {name(cert.get('subject', ()))}",
        f"issuer      {name(cert.get('issuer', ()))}",
        f"names       {alt_names or '(none)'}",
        f"expires     {cert.get('notAfter', '?')}",
    ]

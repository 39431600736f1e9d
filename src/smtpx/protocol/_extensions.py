"""Service extensions: the keywords of an EHLO reply (RFC 5321 §4.1.1.1).

Theory of operation: the server's 250 reply to EHLO lists one extension per
line after the first. Both roles read those lines with :meth:`Extensions.parse`:
the client to learn what it may use, the server engine to learn what its own
application advertised, so that a parameter that was not offered gets 555.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _ascii
from ._events import Reply

_FLAGS = {
    "8BITMIME": "eightbitmime",  # RFC 6152
    "PIPELINING": "pipelining",  # RFC 2920
    "SMTPUTF8": "smtputf8",  # RFC 6531
    "ENHANCEDSTATUSCODES": "enhancedstatuscodes",  # RFC 2034
    "STARTTLS": "starttls",  # RFC 3207
    "CHUNKING": "chunking",  # RFC 3030
    "BINARYMIME": "binarymime",  # RFC 3030
    "DSN": "dsn",  # RFC 3461
}


@dataclass(frozen=True, slots=True)
class Extensions:
    """What a server offers.

    ``size`` is None when SIZE is not offered and 0 when it is offered with no
    fixed limit (RFC 1870 §4). ``auth`` is None when AUTH is not offered, else
    its mechanisms, upper-cased. ``other`` keeps keywords smtpx does not know,
    as (KEYWORD, parameters) pairs.
    """

    size: int | None = None
    eightbitmime: bool = False
    pipelining: bool = False
    smtputf8: bool = False
    enhancedstatuscodes: bool = False
    starttls: bool = False
    auth: tuple[str, ...] | None = None
    chunking: bool = False
    binarymime: bool = False
    dsn: bool = False
    other: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, lines: list[str]) -> Extensions:
        """Read the extension lines (all lines of the EHLO reply but the first).

        Lenient, as a client must be: keywords are case-insensitive, an
        unparsable SIZE counts as "offered, no limit", and the old ``AUTH=``
        form some servers still send is read as AUTH.
        """
        flags: dict[str, bool] = {}
        size: int | None = None
        auth: tuple[str, ...] | None = None
        other: list[tuple[str, str]] = []
        for line in lines:
            keyword, _, params = line.strip().partition(" ")
            keyword = _ascii.upper(keyword)
            if keyword in _FLAGS:
                flags[_FLAGS[keyword]] = True
            elif keyword == "SIZE":
                size = int(params) if params.isdigit() and params.isascii() else 0
            elif keyword == "AUTH" or keyword.startswith("AUTH="):
                mechanisms = _ascii.upper(keyword[5:] + " " + params).split()
                auth = tuple(dict.fromkeys((auth or ()) + tuple(mechanisms)))
            elif keyword:
                other.append((keyword, params))
        return cls(size=size, auth=auth, other=tuple(other), **flags)

    def lines(self) -> list[str]:
        """The extension lines, in a fixed order, as a server advertises them."""
        out: list[str] = []
        if self.size is not None:
            out.append(f"SIZE {self.size}" if self.size else "SIZE")
        out.extend(keyword for keyword, attr in _FLAGS.items() if getattr(self, attr))
        if self.auth is not None:
            out.append(" ".join(("AUTH", *self.auth)))
        out.extend(f"{k} {p}".rstrip() for k, p in self.other)
        return out

    def ehlo_reply(self, domain: str, greeting: str = "") -> Reply:
        """The server's 250 reply to EHLO advertising these extensions."""
        first = f"{domain} {greeting}" if greeting else domain
        return Reply(250, None, "\n".join([first, *self.lines()]))

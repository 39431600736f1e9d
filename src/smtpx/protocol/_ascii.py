"""Case-insensitive matching as SMTP means it: ASCII letters only (RFC 5321 §2.4).

``str.upper()`` follows Unicode, where U+0131 (dotless i) becomes ``I`` and
U+017F (long s) becomes ``S``: upper-cased that way, QU(U+0131)T would pass
for QUIT and ``BDAT 3 LA(U+017F)T`` for LAST, lines that a filter in front of
the server reads as something else. SMTP's verbs and keywords are ASCII, so only ASCII
text is upper-cased; anything else is left as it is and matches no keyword.
"""

from __future__ import annotations

__all__ = ["upper"]


def upper(text: str) -> str:
    """``text`` in upper case if it is ASCII; unchanged (matching no keyword) if not."""
    return text.upper() if text.isascii() else text

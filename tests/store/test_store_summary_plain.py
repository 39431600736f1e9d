"""The summary's fast path gives what the email package's header registry gives.

Plain ASCII header values without encoded words are unfolded rather than parsed
(``_summary._text``, ``_addresses``): parsing them is most of a summary's cost.
Hypothesis writes such values, folded or not, and each must read the same both ways.
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.parser import BytesParser
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from smtpx.store import _summary

ATEXT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-"
atoms = st.text(ATEXT, min_size=1, max_size=8)
addresses = st.builds(lambda local, domain: f"{local}@{domain}.example", atoms, atoms)
names = st.lists(atoms, min_size=1, max_size=3).map(" ".join)
mailboxes = st.one_of(addresses, st.builds(lambda n, a: f"{n} <{a}>", names, addresses))
printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


def parsed(field: str, value: str) -> object:
    data = f"{field}: {value}\r\n\r\n".encode()
    return BytesParser(policy=policy.default).parsebytes(data, headersonly=True)


@given(st.lists(mailboxes, min_size=1, max_size=4), st.booleans())
def test_address_lists_read_the_same(mailbox_list: list[str], folded: bool) -> None:
    value = (",\r\n " if folded else ", ").join(mailbox_list)
    message = parsed("To", value)
    registry = tuple(str(address) for address in message["to"].addresses)  # type: ignore[index]
    assert _summary._addresses(message, "to") == registry  # type: ignore[arg-type]


@given(printable, printable)
def test_unstructured_values_read_the_same(first: str, second: str) -> None:
    value = f"{first}\r\n {second}" if second.strip() else first
    message = parsed("Subject", value)
    registry = str(message["subject"]).strip()  # type: ignore[index]
    assert _summary._text(message, "subject") == registry  # type: ignore[arg-type]


dates = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.timezones()
)


@given(dates, st.booleans())
def test_dates_read_the_same(moment: datetime, usual: bool) -> None:
    value = format_datetime(moment) if usual else moment.strftime("%d %b %Y %H:%M:%S %z")
    message = parsed("Date", value)
    registry = str(message["date"])  # type: ignore[index]
    assert _summary._text(message, "date") == registry  # type: ignore[arg-type]

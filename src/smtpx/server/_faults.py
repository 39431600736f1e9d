"""Fault injection: replies a test asks for, so a sender's error paths can be tried.

Theory of operation. A :class:`Faults` holds rules; the connection asks it at
MAIL (the sender), RCPT (each recipient), the end of the message (DATA or BDAT
LAST, every recipient) and AUTH (the user name, once the exchange is done).
The first rule that matches the command and the address, and whose dice say
yes, decides: a reply with its code (after an optional delay), or a dropped
connection. The dice come from one ``random.Random(seed)`` per rule, so the
same sequence of commands gets the same faults in every run.

Rules are written ``COMMAND ACTION [key=value ...]``::

    RCPT 550 match=fail-550@*          every such recipient: 550
    RCPT 451 match=defer@*             ... and 451 for these
    MAIL 421 fraction=0.1 seed=7       one MAIL in ten, repeatably
    DATA drop                          close the connection at the end of data
    AUTH 535 delay=2                   answer AUTH after two seconds

``match`` is a shell-style pattern (fnmatch, case-insensitive) on the address
(the user name for AUTH). The rules can be replaced while the server runs.
"""

from __future__ import annotations

import fnmatch
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from ..protocol import LocalProtocolError, Reply

COMMANDS = ("MAIL", "RCPT", "DATA", "AUTH")
# The text and enhanced status each code is given (RFC 3463), unless the rule says.
_TEXTS = {
    421: ("4.3.0", "Service not available (fault injected)"),
    450: ("4.2.0", "Mailbox unavailable (fault injected)"),
    451: ("4.3.0", "Local error, try again later (fault injected)"),
    452: ("4.3.1", "Insufficient storage (fault injected)"),
    454: ("4.7.0", "Temporary authentication failure (fault injected)"),
    535: ("5.7.8", "Authentication credentials invalid (fault injected)"),
    550: ("5.1.1", "Mailbox unavailable (fault injected)"),
    552: ("5.3.4", "Message too big (fault injected)"),
    553: ("5.1.3", "Mailbox name not allowed (fault injected)"),
    554: ("5.0.0", "Transaction failed (fault injected)"),
}


class FaultError(ValueError):
    """A rule that cannot be read; the message says which part."""


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do instead of the normal answer."""

    reply: Reply | None  # None: drop the connection without a reply
    delay: float = 0.0


@dataclass(slots=True)
class FaultRule:
    """One rule; see the module's docstring for its written form."""

    command: str
    code: int | None  # None: drop
    match: str | None = None
    fraction: float = 1.0
    seed: int | None = None
    delay: float = 0.0
    text: str | None = None
    _dice: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise FaultError(f"{self.command!r}: the command is one of {', '.join(COMMANDS)}")
        if self.code is not None and not (400 <= self.code <= 599):
            raise FaultError(f"{self.code}: a fault's code is 4xx or 5xx")
        if not 0.0 <= self.fraction <= 1.0:
            raise FaultError(f"fraction={self.fraction}: give a number from 0 to 1")
        if not (math.isfinite(self.delay) and self.delay >= 0):
            # nan would act as 0, and sleep(inf) never answers: neither is a delay.
            raise FaultError(f"delay={self.delay}: give seconds, 0 or more")
        if self.match == "":
            # An empty pattern matches nothing: the rule would silently never apply.
            raise FaultError("match=: give a pattern, e.g. match=fail@*")
        self._dice = random.Random(self.seed)
        try:
            self.fault()  # the reply, made once now: text it cannot carry fails here
        except LocalProtocolError as error:
            raise FaultError(f"text={self.text!r}: {error}") from None

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        words = text.split()
        if len(words) < 2:
            raise FaultError(f"{text!r}: write COMMAND CODE|drop [match=... fraction=... ...]")
        command, action, *options = words
        code = None if action.lower() == "drop" else _number(int, "code", action)
        values: dict[str, str] = {}
        for option in options:
            key, equals, value = option.partition("=")
            if not equals or key not in ("match", "fraction", "seed", "delay", "text"):
                raise FaultError(f"{option!r}: options are match=, fraction=, seed=, delay=, text=")
            values[key] = value
        return cls(
            command.upper(),
            code,
            match=values.get("match"),
            fraction=_number(float, "fraction", values.get("fraction", "1")),
            seed=_number(int, "seed", values["seed"]) if "seed" in values else None,
            delay=_number(float, "delay", values.get("delay", "0")),
            text=values.get("text", "").replace("_", " ") or None,
        )

    def applies(self, command: str, addresses: Sequence[str]) -> bool:
        if command != self.command:
            return False
        if self.match is not None:
            pattern = self.match.lower()
            if not any(fnmatch.fnmatchcase(address.lower(), pattern) for address in addresses):
                return False
        return self.fraction >= 1.0 or self._dice.random() < self.fraction

    def fault(self) -> Fault:
        if self.code is None:
            return Fault(None, self.delay)
        status, text = _TEXTS.get(self.code, (f"{self.code // 100}.0.0", "Fault injected"))
        return Fault(Reply(self.code, status, self.text or text), self.delay)

    @classmethod
    def from_description(cls, rule: object) -> FaultRule:
        """A rule from what :meth:`describe` gives (the inbox API's JSON)."""
        if not isinstance(rule, dict) or not isinstance(rule.get("command"), str):
            raise FaultError('each rule is an object with a "command"')
        code = None if rule.get("drop") else rule.get("code")
        if not rule.get("drop") and not isinstance(code, int):
            raise FaultError('give "code": a number, or "drop": true')
        for key in ("match", "text"):
            if not isinstance(rule.get(key), str | None):
                raise FaultError(f'"{key}" is a string')
        try:
            return cls(
                rule["command"].upper(),
                code,
                match=rule.get("match"),
                fraction=float(rule.get("fraction", 1.0)),
                seed=rule.get("seed"),
                delay=float(rule.get("delay", 0.0)),
                text=rule.get("text"),
            )
        except (TypeError, ValueError) as error:
            raise FaultError(str(error)) from None

    def describe(self) -> dict[str, object]:
        """The rule as the API shows it."""
        return {
            "command": self.command,
            "code": self.code,
            "drop": self.code is None,
            "match": self.match,
            "fraction": self.fraction,
            "seed": self.seed,
            "delay": self.delay,
            "text": self.text,
        }


class Faults:
    """The rules in force; replaced as a whole (``smtpx serve --fault``, the API)."""

    def __init__(self, rules: Iterable[FaultRule] = ()) -> None:
        self.rules = list(rules)

    def replace(self, rules: Iterable[FaultRule]) -> None:
        self.rules = list(rules)

    def check(self, command: str, addresses: Sequence[str]) -> Fault | None:
        """The fault for this command, if a rule says so."""
        for rule in self.rules:
            if rule.applies(command, addresses):
                return rule.fault()
        return None


N = TypeVar("N", int, float)


def _number(kind: type[N], name: str, text: str) -> N:
    try:
        return kind(text)
    except ValueError:
        raise FaultError(f"{name}={text!r}: not a number") from None

"""Which inbox a message goes to: rules on its recipients or its AUTH user.

Written ``NAME=PATTERN`` (a recipient matching the shell-style pattern, e.g.
``signup=*@signup.test``) or ``NAME=auth:USER`` (mail from a session that
authenticated as USER). The first rule that fits names the inbox; no rule, the
default inbox "".
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from ._handler import SessionInfo


class InboxRuleError(ValueError):
    """A rule that cannot be read."""


@dataclass(frozen=True, slots=True)
class InboxRule:
    name: str
    recipient: str | None = None  # a pattern, lower case
    auth_user: str | None = None

    @classmethod
    def parse(cls, text: str) -> InboxRule:
        name, equals, what = text.partition("=")
        name, what = name.strip(), what.strip()
        if not equals or not name or not what:
            raise InboxRuleError(f"{text!r}: write NAME=PATTERN or NAME=auth:USER")
        if what.lower().startswith("auth:"):
            user = what[len("auth:") :]
            if not user:
                raise InboxRuleError(f"{text!r}: auth: needs a user name")
            return cls(name, auth_user=user)
        return cls(name, recipient=what.lower())

    def fits(self, session: SessionInfo) -> bool:
        if self.auth_user is not None:
            return session.auth_user == self.auth_user
        assert self.recipient is not None
        return any(
            fnmatch.fnmatchcase(address.lower(), self.recipient)
            for address, _ in session.recipients
        )


def inbox_for(rules: Sequence[InboxRule], session: SessionInfo) -> str:
    return next((rule.name for rule in rules if rule.fits(session)), "")

"""What a sent message came to, recipient by recipient."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol import Reply


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one transaction.

    ``accepted`` and ``refused`` map each recipient to the server's reply to
    its RCPT. ``reply`` is the reply to the end of the message (its text usually
    names the queue id), or the reply that ended the transaction early.
    """

    sender: str
    accepted: dict[str, Reply] = field(default_factory=dict)
    refused: dict[str, Reply] = field(default_factory=dict)
    reply: Reply | None = None

    @property
    def ok(self) -> bool:
        """True when the message was taken for every recipient."""
        return (
            bool(self.accepted) and not self.refused and bool(self.reply and self.reply.is_positive)
        )

"""Release: send a stored message on to a real SMTP server, as it was received."""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

from ..client import AsyncClient, RecipientsRefused, SMTPError
from ..store import StoredMessage
from ._config import ReleaseTarget

log = logging.getLogger("smtpx.web")


def allowed(target: ReleaseTarget, address: str) -> bool:
    return any(fnmatch.fnmatchcase(address.lower(), pattern.lower()) for pattern in target.allow)


async def release(
    target: ReleaseTarget, stored: StoredMessage, raw: bytes, to: list[str]
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): what the server said to each recipient."""
    refused_here = [address for address in to if not allowed(target, address)]
    if refused_here:
        patterns = " ".join(target.allow)
        text = f"not allowed by --release-allow ({patterns}): {', '.join(refused_here)}"
        return 403, {"error": text}
    client = AsyncClient(
        target.host,
        target.port,
        tls=target.tls,
        verify=target.verify,
        ca_file=target.ca_file,
        timeout=target.timeout,
        username=target.username,
        password=target.password,
    )
    try:
        async with client:
            result = await client.send_message(raw, stored.envelope.sender, to)
    except RecipientsRefused as error:
        refused = error.result.refused
        return 200, {
            "delivered": [],
            "refused": [{"address": a, "reply": str(r)} for a, r in refused.items()],
        }
    except SMTPError as error:
        return 502, {"error": f"{target.host}:{target.port}: {error}"}
    log.info("released %s to %s via %s:%d", stored.id, ",".join(to), target.host, target.port)
    return 200, {
        "delivered": list(result.accepted),
        "refused": [{"address": a, "reply": str(r)} for a, r in result.refused.items()],
    }

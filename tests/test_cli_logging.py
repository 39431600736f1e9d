"""The log of `smtpx serve` (cli/_logging.py): its line format and when lines reach the file.

Each case runs in a subprocess with standard error going to a file, so that what
reached the file descriptor, and when, can be read from outside the process.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

# logging's default asctime, then the message.
LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (.*)")

PROGRAM = textwrap.dedent(
    """
    import asyncio, logging, os
    from smtpx.cli._logging import setup_logging

    setup_logging()
    log = logging.getLogger("smtpx.server")

    def written():
        return os.fstat(2).st_size

    log.info("before the loop")
    print("outside a loop:", written() > 0)

    async def main():
        start = written()
        log.info("first on the loop")
        log.info("second on the loop")
        log.debug("below the level")
        print("same turn:", written() == start)
        await asyncio.sleep(0)
        print("next turn:", written() > start)

    asyncio.run(main())
    """
)


def test_lines_on_the_loop_are_flushed_once_per_turn_and_others_at_once(tmp_path: Path) -> None:
    errors = tmp_path / "stderr.log"
    with errors.open("wb") as stderr:
        result = subprocess.run(
            [sys.executable, "-c", PROGRAM],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, errors.read_text()
    assert result.stdout.splitlines() == [
        "outside a loop: True",
        "same turn: True",
        "next turn: True",
    ]
    lines = errors.read_text().splitlines()
    messages = [match.group(1) for line in lines if (match := LINE.fullmatch(line))]
    assert messages == ["before the loop", "first on the loop", "second on the loop"]
    assert len(lines) == 3

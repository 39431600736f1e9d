"""Incoming: memory up to the limit, then a nameless spill file; discard and size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smtpx.store import Incoming, StoreError
from smtpx.store._incoming import MEMORY_LIMIT


def test_a_small_message_stays_in_memory(tmp_path: Path) -> None:
    incoming = Incoming(tmp_path)
    incoming.write(b"x" * MEMORY_LIMIT)
    assert not incoming.spilled
    assert incoming.size == MEMORY_LIMIT


def test_one_octet_past_the_limit_spills_to_a_file_without_a_name(tmp_path: Path) -> None:
    incoming = Incoming(tmp_path, memory_limit=10)
    incoming.write(b"0123456789")
    spilled = [incoming.spilled]
    incoming.write(b"a")
    spilled.append(incoming.spilled)
    assert spilled == [False, True]
    assert incoming.size == 11
    assert os.listdir(tmp_path) == []  # unlinked at once: a crash leaves nothing
    incoming.write(b"bc")
    assert incoming.size == 13
    content = incoming._seal()
    assert not isinstance(content, bytes)
    content.flush()
    content.seek(0)
    assert content.read() == b"0123456789abc"
    incoming._release()


def test_discard_drops_the_content_and_may_be_repeated(tmp_path: Path) -> None:
    incoming = Incoming(tmp_path, memory_limit=4)
    incoming.write(b"spilled content")
    incoming.discard()
    incoming.discard()
    with pytest.raises(ValueError, match="already discarded"):
        incoming.write(b"more")


def test_a_spill_that_cannot_be_made_raises_store_error(tmp_path: Path) -> None:
    incoming = Incoming(tmp_path / "gone", memory_limit=4)
    incoming.write(b"1234")
    with pytest.raises(StoreError, match=r"^cannot spill a large message to .*gone: "):
        incoming.write(b"5")

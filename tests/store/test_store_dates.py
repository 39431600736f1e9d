"""Date filters (``before:``, ``after:``) follow received_at, whatever the clock did.

Arrival times are set with ``storage.Clock``, monkeypatched into the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.store.storage import SIMPLE, Clock, add, on_store

from smtpx.store import SQLiteStore, _sqlite


def test_before_and_after_follow_received_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = datetime(2024, 1, 31, tzinfo=UTC)
    monkeypatch.setattr(_sqlite, "datetime", Clock)
    Clock.times = [day - timedelta(seconds=1), day, day + timedelta(hours=10, microseconds=5)]

    async def scenario(store: SQLiteStore) -> None:
        before, midnight, later = [await add(store, SIMPLE) for _ in range(3)]

        async def found(text: str) -> list[str]:
            return [m.id for m in await store.search(text)]

        assert await found("before:2024-01-31") == [before]  # exclusive
        assert await found("after:2024-01-31") == [later, midnight]  # inclusive
        assert await found("-before:2024-01-31") == [later, midnight]
        assert await found("-after:2024-01-31") == [before]
        assert await found("after:2024-01-30 before:2024-02-01") == [later, midnight, before]
        assert await found("after:2024-01-31T10:00:00.000005Z") == [later]
        assert await found("after:2024-01-31T10:00:00.000006Z") == []
        assert await found("before:2024-01-31T12:01+02:00") == [later, midnight, before]
        assert await found("before:2024-01-31T10:00+02:00") == [midnight, before]
        assert await found("after:2024-02-01") == []
        assert await found("before:2024-01-30") == []

    on_store(tmp_path, scenario)


def test_date_filters_stay_exact_when_the_clock_steps_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ids keep growing when the clock steps back, so they no longer say when the
    # message came: the search must still follow received_at.
    ten = datetime(2024, 1, 31, 10, tzinfo=UTC)
    monkeypatch.setattr(_sqlite, "datetime", Clock)
    Clock.times = [ten + timedelta(minutes=5), ten, ten + timedelta(minutes=10)]

    async def scenario(store: SQLiteStore) -> None:
        first, stepped_back, last = [await add(store, SIMPLE) for _ in range(3)]
        assert first < stepped_back < last

        async def found(text: str) -> list[str]:
            return [m.id for m in await store.search(text)]

        assert await found("after:2024-01-31T10:03Z") == [last, first]
        assert await found("before:2024-01-31T10:03Z") == [stepped_back]
        assert await found("before:2024-01-31T10:07Z") == [stepped_back, first]
        assert await found("after:2024-01-31T10:00Z") == [last, stepped_back, first]
        assert await found("after:2024-01-31T10:06Z") == [last]

    on_store(tmp_path, scenario)

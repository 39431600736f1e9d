"""Message ids: 20 hex digits, time first, strictly increasing even when the clock is not."""

from __future__ import annotations

from smtpx.store._ids import ID_PATTERN, MessageIds

MS = 1_700_000_000_000


def test_an_id_is_the_milliseconds_then_a_counter_in_hex() -> None:
    message_id = MessageIds().next(MS)
    assert ID_PATTERN.fullmatch(message_id)
    assert int(message_id[:12], 16) == MS


def test_ids_of_one_millisecond_count_up() -> None:
    ids = MessageIds()
    first, second, third = ids.next(MS), ids.next(MS), ids.next(MS)
    assert first < second < third
    assert int(third[12:], 16) == int(first[12:], 16) + 2


def test_a_clock_that_steps_back_cannot_make_an_older_id() -> None:
    ids = MessageIds()
    late = ids.next(MS + 5000)
    assert ids.next(MS) > late
    assert ids.next(MS + 6000) > late


def test_a_full_counter_carries_into_the_milliseconds() -> None:
    ids = MessageIds(f"{MS:012x}ffffffff")
    assert int(ids.next(MS)[:12], 16) == MS + 1


def test_the_newest_stored_id_seeds_the_next_ones() -> None:
    newest = f"{MS + 10_000:012x}00000010"
    assert MessageIds(newest).next(MS) == f"{MS + 10_000:012x}00000011"
    assert MessageIds("not an id").next(MS)[:12] == f"{MS:012x}"

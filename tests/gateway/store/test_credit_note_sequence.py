"""The credit-note sequence on PostgreSQL: a number taken stays locked until its transaction
ends; one rolled back is given to the next, so numbers have no gap and none serves twice."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.gateway.store.conftest import add_member, waiting_sessions

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


class Abandoned(Exception):
    """The request that took a number failed afterwards (an invalid reissue, say)."""


def test_a_number_given_back_by_a_rollback_goes_to_the_one_waiting(store):
    member = add_member(store)
    taken: list[int] = []

    def second():
        with store.begin() as conn:
            taken.append(store.next_credit_note_seq(conn, member, "2026"))

    with pytest.raises(Abandoned), store.begin() as first:
        assert store.next_credit_note_seq(first, member, "2026") == 1
        waiter = threading.Thread(target=second)
        waiter.start()
        deadline = time.monotonic() + 10
        while not waiting_sessions(store):
            assert time.monotonic() < deadline, "the second credit note did not wait"
        assert taken == []
        raise Abandoned
    waiter.join()
    assert taken == [1]
    assert store.credit_note_seq(member, "2026") == 1
    assert store.credit_note_seq(member, "2027") == 0  # a sequence per period


def test_concurrent_credit_notes_get_every_number_once_without_gaps(store):
    member = add_member(store)

    def take(n: int) -> int | None:
        try:
            with store.begin() as conn:
                number = store.next_credit_note_seq(conn, member, "")
                if n % 3 == 0:
                    raise Abandoned
                return number
        except Abandoned:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = [number for number in pool.map(take, range(60)) if number is not None]
    assert sorted(numbers) == list(range(1, 41))
    assert store.credit_note_seq(member, "") == 40

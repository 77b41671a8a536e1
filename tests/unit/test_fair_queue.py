"""FairQueue: round-robin between sources, a bound with fair shares, and who counts as one source."""

from __future__ import annotations

import pytest

from mqttdesk.auth.fair_queue import FairQueue, source_of


def _never(_: str) -> bool:
    return False


def _drain(queue: FairQueue[str]) -> list[str]:
    out: list[str] = []
    while (item := queue.pop()) is not None:
        out.append(item)
    return out


def test_sources_take_turns_and_each_keeps_its_own_order() -> None:
    queue: FairQueue[str] = FairQueue(100)
    for item in ("a1", "a2", "a3"):
        queue.offer("A", item, dead=_never)
    queue.offer("B", "b1", dead=_never)
    queue.offer("C", "c1", dead=_never)
    queue.offer("B", "b2", dead=_never)
    assert _drain(queue) == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert len(queue) == 0


def test_a_source_arriving_later_waits_for_at_most_one_item_of_a_long_queue() -> None:
    queue: FairQueue[str] = FairQueue(100)
    for n in range(30):
        queue.offer("flood", f"f{n}", dead=_never)
    assert queue.pop() == "f0"
    queue.offer("legit", "login", dead=_never)
    assert [queue.pop(), queue.pop()] == ["f1", "login"]


def test_full_queue_refuses_the_source_that_holds_it() -> None:
    queue: FairQueue[str] = FairQueue(3)
    for item in ("a1", "a2", "a3"):
        assert queue.offer("A", item, dead=_never).accepted
    offer = queue.offer("A", "a4", dead=_never)
    assert not offer.accepted
    assert offer.evicted is None
    assert _drain(queue) == ["a1", "a2", "a3"]


def test_full_queue_makes_room_for_another_source_at_the_expense_of_the_biggest() -> None:
    queue: FairQueue[str] = FairQueue(3)
    for item in ("a1", "a2", "a3"):
        queue.offer("A", item, dead=_never)
    offer = queue.offer("B", "b1", dead=_never)
    assert offer.accepted
    assert offer.evicted == "a3"  # the newest of the flood
    assert len(queue) == 3
    assert _drain(queue) == ["a1", "b1", "a2"]


def test_sources_at_an_equal_share_do_not_push_each_other_out() -> None:
    queue: FairQueue[str] = FairQueue(2)
    queue.offer("A", "a1", dead=_never)
    queue.offer("B", "b1", dead=_never)
    offer = queue.offer("C", "c1", dead=_never)
    assert not offer.accepted
    assert offer.evicted is None
    again = queue.offer("A", "a2", dead=_never)
    assert not again.accepted  # A would become the biggest by pushing B out


def test_items_nobody_waits_for_are_dropped_before_anything_else() -> None:
    queue: FairQueue[str] = FairQueue(3)
    for item in ("a1", "dead-a2", "a3"):
        queue.offer("A", item, dead=_never)
    offer = queue.offer("A", "a4", dead=lambda item: item.startswith("dead"))
    assert offer.accepted
    assert offer.dead == ["dead-a2"]
    assert offer.evicted is None
    assert _drain(queue) == ["a1", "a3", "a4"]


def test_remove_if_keeps_the_rotation() -> None:
    queue: FairQueue[str] = FairQueue(10)
    queue.offer("A", "x-a1", dead=_never)
    queue.offer("B", "b1", dead=_never)
    queue.offer("C", "x-c1", dead=_never)
    queue.offer("A", "a2", dead=_never)
    assert queue.remove_if(lambda item: item.startswith("x-")) == ["x-a1", "x-c1"]
    assert queue.waiting("C") == 0
    assert _drain(queue) == ["a2", "b1"]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FairQueue(0)


@pytest.mark.parametrize(("address", "source"), [
    ("127.0.0.2", "127.0.0.2"),
    ("10.1.2.3", "10.1.2.3"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same /64: one share
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:192.0.2.5", "192.0.2.5"),
    ("::1", "::/64"),
    ("not-an-address", "not-an-address"),
    (None, ""),
])
def test_source_of(address: str | None, source: str) -> None:
    assert source_of(address) == source

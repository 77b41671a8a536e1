"""Clients that all leave in the same loop turn have their sessions' books closed a bounded number per turn, and a
connection counts as finished only once its books are closed: a client that comes straight back resumes its
session.

The broker's loop is held (a callback waiting on a threading.Event) while the sockets close, so that every EOF
arrives in one turn, as when a thousand devices lose their Wi-Fi at once. Loopback only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mqttdesk.broker.desk_broker import ENDINGS_PER_TURN, DeskBroker
from tests.integration.harness import Instance
from tests.integration.raw_mqtt import PacketType, RawClient

LEAVING = ENDINGS_PER_TURN * 3 + 7
WAIT = 10.0


def _broker(instance: Instance) -> DeskBroker:
    broker = instance.service._broker
    assert broker is not None
    return broker


class _Batches:
    """How many books each `_close_books` call closed (instance attributes over the bound methods it calls)."""

    def __init__(self, broker: DeskBroker) -> None:
        self.sizes: list[int] = []
        self._current = 0
        close_books: Callable[[], None] = broker._close_books
        connection_ended: Callable[..., None] = broker._connection_ended

        def counted_close_books() -> None:
            self._current = 0
            close_books()
            self.sizes.append(self._current)

        def counted_connection_ended(*args: Any) -> None:
            self._current += 1
            connection_ended(*args)

        broker._close_books = counted_close_books  # type: ignore[method-assign]
        broker._connection_ended = counted_connection_ended  # type: ignore[method-assign]


def _connected(port: int, count: int) -> list[RawClient]:
    clients = []
    for number in range(count):
        raw = RawClient(port, name=f"leaver{number}", timeout=WAIT)
        assert raw.connect(f"leaver-{number}", username="dev", password="pw").return_code == 0
        clients.append(raw)
    return clients


def test_a_crowd_leaving_in_one_turn_is_closed_a_bounded_number_per_turn(dev_user: Instance) -> None:
    clients = _connected(dev_user.port, LEAVING)
    batches = dev_user.call(_Batches, _broker(dev_user))
    with dev_user.held():
        for number, raw in enumerate(clients):
            if number % 2:
                raw.send(bytes([PacketType.DISCONNECT << 4, 0]))  # half say goodbye, half just go
            raw.close()

    assert dev_user.until(lambda: len(dev_user.service.registry) == 0, WAIT, poll=0.02), \
        "some sessions were never closed"
    assert sum(batches.sizes) == LEAVING
    assert max(batches.sizes) == ENDINGS_PER_TURN  # the crowd did arrive in one turn, and was split
    assert all(size <= ENDINGS_PER_TURN for size in batches.sizes)
    dev_user.flush_log()
    ends = [e for e in dev_user.call(dev_user.store.auth_log.recent, 2 * LEAVING)
            if e.kind == "DISCONNECT" and e.client_id.startswith("leaver-")]
    assert len(ends) == LEAVING  # every one of them has its line in the Auth log


def test_a_client_back_before_its_books_are_closed_resumes_its_session(dev_user: Instance) -> None:
    crowd = _connected(dev_user.port, ENDINGS_PER_TURN * 2)
    keeper = RawClient(dev_user.port, name="keeper", timeout=WAIT)
    assert keeper.connect("keeper", username="dev", password="pw", clean_session=False).return_code == 0
    assert keeper.subscribe("kept/topic", qos=1) == 1
    with dev_user.held():
        for raw in crowd:
            raw.close()
        keeper.close()  # last in the queue of books to close
        back = RawClient(dev_user.port, name="keeper-back", timeout=WAIT)
        back.send_connect("keeper", username="dev", password="pw", clean_session=False)

    connack = back.expect(PacketType.CONNACK)
    assert (connack.return_code, connack.session_present) == (0, True)
    with RawClient(dev_user.port, name="publisher", timeout=WAIT) as publisher:
        assert publisher.connect("publisher", username="dev", password="pw").return_code == 0
        publisher.publish("kept/topic", b"still subscribed", qos=1)
        assert back.expect(PacketType.PUBLISH).payload == b"still subscribed"
    back.close()

"""A bounded queue served round-robin by source, so that a flood from one source waits behind itself only.

Each source (a client address, see `source_of`) has its own FIFO; `pop` takes the oldest item of the source whose
turn it is, then that source goes to the back of the rotation. A source with 300 items and one with 1 are served
alternately: the single item waits for at most one item of the flood, however long the flood's queue is.

The bound is on the total. When the queue is full, items nobody waits for any more are dropped first; if that
frees nothing, the source holding the most items gives up its newest one to a source holding fewer (each source's
share shrinks towards an equal split as more sources want room); a source that already holds the most is refused.
Pure data structure: no asyncio, no threads (the password verifier drives it from the event loop).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mqttdesk.core.addresses import address_source as source_of  # (the name the verifier and tests use)

T = TypeVar("T")

__all__ = ["FairQueue", "Offer", "source_of"]


@dataclass(slots=True)
class Offer(Generic[T]):
    """What `FairQueue.offer` did."""

    accepted: bool
    dead: list[T] = field(default_factory=list)  # dropped because nobody waits for them any more
    evicted: T | None = None  # the newest item of the biggest source, pushed out to make room


class FairQueue(Generic[T]):
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the queue needs room for at least one item")
        self.limit = limit
        self._queues: OrderedDict[str, deque[T]] = OrderedDict()  # rotation order: the first source is served next
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def waiting(self, source: str) -> int:
        queue = self._queues.get(source)
        return len(queue) if queue is not None else 0

    def offer(self, source: str, item: T, *, dead: Callable[[T], bool]) -> Offer[T]:
        """Queue `item` for `source` if there is room, or room can be made (see the module docstring)."""
        offer: Offer[T] = Offer(accepted=True)
        if self._size >= self.limit:
            offer.dead = self.remove_if(dead)
        if self._size >= self.limit:
            biggest = max(self._queues, key=lambda s: len(self._queues[s]))
            if len(self._queues[biggest]) <= self.waiting(source) + 1:
                offer.accepted = False  # this source already holds (about) the most: it waits behind itself
                return offer
            offer.evicted = self._pop_newest(biggest)
        self._queues.setdefault(source, deque()).append(item)
        self._size += 1
        return offer

    def pop(self) -> T | None:
        """The oldest item of the source whose turn it is (None when empty)."""
        if not self._queues:
            return None
        source, queue = next(iter(self._queues.items()))
        item = queue.popleft()
        self._size -= 1
        if queue:
            self._queues.move_to_end(source)
        else:
            del self._queues[source]
        return item

    def remove_if(self, predicate: Callable[[T], bool]) -> list[T]:
        """Take out every item `predicate` is true of (in queue order per source); the rotation is unchanged."""
        removed: list[T] = []
        for source in list(self._queues):
            kept: deque[T] = deque()
            for item in self._queues[source]:
                (removed if predicate(item) else kept).append(item)
            if kept:
                self._queues[source] = kept
            else:
                del self._queues[source]
        self._size = sum(len(queue) for queue in self._queues.values())
        return removed

    def _pop_newest(self, source: str) -> T:
        queue = self._queues[source]
        item = queue.pop()
        self._size -= 1
        if not queue:
            del self._queues[source]
        return item

"""The topic monitor's tree: one node per topic level, with per-topic counts and the last message of each topic.

Updates arrive in batches (`apply`), already grouped per topic by the tab, at most a few times a second. Memory
is bounded: at most `max_topics` topics keep a message (the least recently updated is evicted, its empty branch
pruned), and payloads arrive already cut to `payload_format.MAX_PAYLOAD` bytes. A branch's count is the sum of
its subtree, so "sensors (1,204)" says where the traffic is before anyone expands it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from mqttdesk.gui.models.auth_log_model import format_entry_time
from mqttdesk.gui.payload_format import format_payload

AnyIndex = QModelIndex | QPersistentModelIndex

MAX_TOPICS = 5000

(LEVEL, MESSAGES, QOS, RETAINED, LAST, PAYLOAD) = range(6)
HEADERS = ("Topic", "Messages", "QoS", "Retained", "Last message", "Last payload")


@dataclass(slots=True)
class TopicMessage:
    """What the monitor keeps of a topic: how many messages, and the last one (payload possibly cut short)."""

    count: int
    payload: bytes
    size: int  # the last payload's real length
    qos: int
    retain: bool
    time: float


class TopicNode:
    __slots__ = ("by_level", "children", "level", "message", "parent", "row", "total")

    def __init__(self, level: str, parent: TopicNode | None, row: int) -> None:
        self.level = level
        self.parent = parent
        self.row = row  # position in the parent's `children`
        self.children: list[TopicNode] = []
        self.by_level: dict[str, TopicNode] = {}
        self.message: TopicMessage | None = None
        self.total = 0  # messages of this topic and every topic below it

    @property
    def topic(self) -> str:
        levels: list[str] = []
        node: TopicNode | None = self
        while node is not None and node.parent is not None:
            levels.append(node.level)
            node = node.parent
        return "/".join(reversed(levels))


class TopicTreeModel(QAbstractItemModel):
    def __init__(self, max_topics: int = MAX_TOPICS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_topics = max_topics
        self._root = TopicNode("", None, 0)
        self._topics: OrderedDict[str, TopicNode] = OrderedDict()  # least recently updated first
        self.evicted = 0

    # -- Qt ---------------------------------------------------------------------------------------

    def _node(self, index: AnyIndex) -> TopicNode:
        node = index.internalPointer() if index.isValid() else None
        return node if isinstance(node, TopicNode) else self._root

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        node = self._node(parent)
        if row < 0 or row >= len(node.children) or column < 0 or column >= len(HEADERS):
            return QModelIndex()
        return self.createIndex(row, column, node.children[row])

    def parent(self, index: AnyIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        node = self._node(index)
        if node.parent is None:
            return QModelIndex()
        return self._index_of_node(node.parent)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self._node(index)
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(node, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == LEVEL:
            return node.topic
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (MESSAGES, QOS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(node: TopicNode, column: int) -> str:
        if column == LEVEL:
            return node.level if node.level else "''"
        if column == MESSAGES:
            return str(node.total)
        message = node.message
        if message is None:
            return ""
        if column == QOS:
            return str(message.qos)
        if column == RETAINED:
            return "retained" if message.retain else ""
        if column == LAST:
            return format_entry_time(message.time)
        return format_payload(message.payload, message.size).preview

    # -- reading ----------------------------------------------------------------------------------

    @property
    def topic_count(self) -> int:
        return len(self._topics)

    def node_of(self, topic: str) -> TopicNode | None:
        return self._topics.get(topic)

    def index_of(self, topic: str) -> QModelIndex:
        node = self._find(topic)
        return QModelIndex() if node is None else self._index_of_node(node)

    def node_at(self, index: AnyIndex) -> TopicNode | None:
        node = self._node(index)
        return None if node is self._root else node

    def _find(self, topic: str) -> TopicNode | None:
        node = self._root
        for level in topic.split("/"):
            child = node.by_level.get(level)
            if child is None:
                return None
            node = child
        return node

    # -- changing ---------------------------------------------------------------------------------

    def clear(self) -> None:
        self.beginResetModel()
        self._root = TopicNode("", None, 0)
        self._topics.clear()
        self.endResetModel()

    def apply(self, batch: dict[str, TopicMessage]) -> set[str]:
        """Merge a batch (topic → the messages since the last batch: `count` of them, the last one kept).

        Returns the topics whose row changed, so the tab can refresh the details of the selected one.
        """
        touched: set[TopicNode] = set()
        for topic, incoming in batch.items():
            node = self._ensure(topic)
            added = incoming.count
            if node.message is not None:
                incoming.count += node.message.count
            node.message = incoming
            self._topics[topic] = node
            self._topics.move_to_end(topic)
            walker: TopicNode | None = node
            while walker is not None and walker is not self._root:
                walker.total += added
                touched.add(walker)
                walker = walker.parent
        while len(self._topics) > self.max_topics:
            _topic, oldest = self._topics.popitem(last=False)
            self.evicted += 1
            touched.discard(oldest)
            self._evict(oldest, touched)
        for node in touched:
            self.dataChanged.emit(self.createIndex(node.row, MESSAGES, node), self.createIndex(node.row, PAYLOAD, node))
        return set(batch) & set(self._topics)

    def _ensure(self, topic: str) -> TopicNode:
        node = self._root
        for level in topic.split("/"):
            child = node.by_level.get(level)
            if child is None:
                row = len(node.children)
                self.beginInsertRows(self._index_of_node(node), row, row)
                child = TopicNode(level, node, row)
                node.children.append(child)
                node.by_level[level] = child
                self.endInsertRows()
            node = child
        return node

    def _evict(self, node: TopicNode, touched: set[TopicNode]) -> None:
        """Forget a topic's message; remove its node and every ancestor left with nothing to show."""
        count = node.message.count if node.message is not None else 0
        node.message = None
        walker: TopicNode | None = node
        while walker is not None and walker is not self._root:
            walker.total -= count
            walker = walker.parent
        while node is not self._root and node.parent is not None and not node.children and node.message is None:
            parent = node.parent
            touched.discard(node)
            self.beginRemoveRows(self._index_of_node(parent), node.row, node.row)
            del parent.children[node.row]
            del parent.by_level[node.level]
            for row in range(node.row, len(parent.children)):
                parent.children[row].row = row
            self.endRemoveRows()
            node = parent
        while node is not self._root and node.parent is not None:  # the counts of what is left changed
            touched.add(node)
            node = node.parent

    def _index_of_node(self, node: TopicNode) -> QModelIndex:
        return QModelIndex() if node is self._root else self.createIndex(node.row, 0, node)

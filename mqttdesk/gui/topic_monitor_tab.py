"""The Topic monitor tab: watch the messages the broker routes, as the broker itself (no client, no permissions),
and publish a test message as an identity to reproduce an ACL problem.

The monitor callback runs for every routed message, so it only records: messages are grouped per topic in a
buffer, and a single-shot timer armed by the first message of a batch hands the buffer to the tree model at most
`1000 / FLUSH_MS` times a second. Nothing runs while no message arrives (batching, not polling). The buffer holds
at most `max_topics` topics and payloads are cut to `MAX_PAYLOAD` bytes when they arrive.

A new watch first shows the retained messages already on matching topics (marked "retained"), as a new subscriber
would get them; **Clear retained** removes the selected topic's retained message (an empty retained publish by the
broker, which its subscribers see too).
"""

from __future__ import annotations

import time

import shiboken6
from PySide6.QtCore import QItemSelection, Qt, QTimer
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.core.errors import ValidationError
from mqttdesk.core.topics import topic_matches, validate_topic_filter
from mqttdesk.gui.decision_text import MUTED, escape
from mqttdesk.gui.formatting import format_time, plural
from mqttdesk.gui.models.topic_tree_model import (
    LAST,
    LEVEL,
    MESSAGES,
    PAYLOAD,
    QOS,
    RETAINED,
    TopicMessage,
    TopicTreeModel,
)
from mqttdesk.gui.payload_format import MAX_PAYLOAD, describe_size, format_payload
from mqttdesk.gui.publish_panel import PublishPanel
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError

FLUSH_MS = 100


class TopicMonitorTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.model = TopicTreeModel(parent=self)
        self.watched_filter: str | None = None
        self.messages_seen = 0
        self.dropped = 0
        self._buffer: dict[str, TopicMessage] = {}
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush)

        self.filter_edit = QLineEdit("#")
        self.filter_edit.setPlaceholderText("MQTT topic filter, e.g. home/+/temperature or #")
        self.filter_edit.returnPressed.connect(self.start)
        self.filter_error = FieldError()
        self.watch_button = QPushButton("Watch")
        self.watch_button.setToolTip("See every message the broker routes on topics matching the filter "
                                     "(as the broker: no permissions apply, nothing is subscribed)")
        self.watch_button.clicked.connect(self._toggle)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Empty this view (the broker keeps its retained messages)")
        self.clear_button.clicked.connect(self.clear)
        self.clear_retained_button = QPushButton("Clear retained")
        self.clear_retained_button.setToolTip("Remove the selected topic's retained message from the broker")
        self.clear_retained_button.setEnabled(False)
        self.clear_retained_button.clicked.connect(self.clear_retained)
        self.status = QLabel()
        self.status.setStyleSheet(f"color: {MUTED};")

        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionBehavior(QTreeView.SelectionBehavior.SelectRows)
        header = self.tree.header()
        metrics = header.fontMetrics()
        for column, width in ((LEVEL, 240), (MESSAGES, 70), (QOS, 40), (RETAINED, 70), (LAST, 80)):
            title = str(self.model.headerData(column, Qt.Orientation.Horizontal))
            self.tree.setColumnWidth(column, max(width, metrics.horizontalAdvance(title) + 24))  # never cut a header
        header.setSectionResizeMode(PAYLOAD, QHeaderView.ResizeMode.Stretch)
        self.tree.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.rowsInserted.connect(self._expand_new)

        self.payload_title = QLabel("Select a topic to see its last message.")
        self.payload_title.setWordWrap(True)
        self.payload_view = QPlainTextEdit()
        self.payload_view.setReadOnly(True)
        self.payload_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.payload_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.payload_title)
        details_layout.addWidget(self.payload_view, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tree)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.publish_panel = PublishPanel(context)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Filter"))
        filter_column = QVBoxLayout()
        filter_column.setSpacing(2)
        filter_column.addWidget(self.filter_edit)
        filter_column.addWidget(self.filter_error)
        bar.addLayout(filter_column, 2)
        bar.addWidget(self.watch_button, 0, Qt.AlignmentFlag.AlignTop)
        bar.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignTop)
        bar.addWidget(self.clear_retained_button, 0, Qt.AlignmentFlag.AlignTop)
        bar.addWidget(self.status, 3, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.publish_panel)
        self._update_status()

    # -- watching ---------------------------------------------------------------------------------

    @property
    def watching(self) -> bool:
        return self.watched_filter is not None

    def _toggle(self) -> None:
        if self.watching:
            self.stop()
        else:
            self.start()

    def start(self) -> bool:
        """Watch the filter in the field (again, if it changed while watching); False when it is not valid."""
        topic_filter = self.filter_edit.text().strip()
        try:
            validate_topic_filter(topic_filter)
        except ValidationError as exc:
            self.filter_error.show_error(str(exc))
            return False
        self.filter_error.clear_error()
        if not self.watching:
            self.context.service.add_monitor(self.on_message)
        new_watch = topic_filter != self.watched_filter
        self.watched_filter = topic_filter
        if new_watch:
            self._show_retained(topic_filter)
        self.watch_button.setText("Stop")
        self._update_status()
        return True

    def _show_retained(self, topic_filter: str) -> None:
        """The retained messages already on matching topics, at once (a new subscriber would get them first)."""
        now = time.time()
        for topic, payload, qos in self.context.service.retained_messages(topic_filter):
            if topic not in self._buffer and len(self._buffer) < self.model.max_topics:
                self._buffer[topic] = TopicMessage(1, payload[:MAX_PAYLOAD], len(payload), qos, True, now)
        self.flush()

    def clear_retained(self) -> None:
        """Remove the selected topic's retained message from the broker."""
        topic = self.selected_topic()
        if topic is None:
            return
        if self.context.service.clear_retained(topic):
            self.context.show_message(f"cleared the retained message of {topic}")
        else:
            self.context.show_message(f"{topic} has no retained message (any more)")
        self.flush()
        self._show_details(topic)

    def stop(self) -> None:
        if self.watching:
            self.context.service.remove_monitor(self.on_message)
        self.watched_filter = None
        self.flush()
        self.watch_button.setText("Watch")
        self._update_status()

    def clear(self) -> None:
        self._buffer.clear()
        self.model.clear()
        self.messages_seen = 0
        self.dropped = 0
        self._show_details(None)
        self._update_status()

    def on_message(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """The broker's monitor callback: record only (called for every routed message, on the event loop)."""
        watched = self.watched_filter
        if watched is None or not topic_matches(watched, topic) or not shiboken6.isValid(self):
            return
        if retain and not payload:
            retain = False  # an empty retained message clears the topic's: nothing is retained there now
        pending = self._buffer.get(topic)
        if pending is None:
            if len(self._buffer) >= self.model.max_topics:
                self.dropped += 1
                return
            self._buffer[topic] = TopicMessage(1, payload[:MAX_PAYLOAD], len(payload), qos, retain, time.time())
        else:
            pending.count += 1
            pending.payload, pending.size = payload[:MAX_PAYLOAD], len(payload)
            pending.qos, pending.retain, pending.time = qos, retain, time.time()
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self) -> None:
        """Hand the buffered messages to the model in one go."""
        self._flush_timer.stop()
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, {}
        self.messages_seen += sum(message.count for message in batch.values())
        changed = self.model.apply(batch)
        selected = self.selected_topic()
        if selected is not None and selected in changed:
            self._show_details(selected)
        self._update_status()

    def _update_status(self) -> None:
        if not self.watching:
            self.status.setText("not watching: enter a filter and press Watch")
            return
        evicted = self.model.evicted + self.dropped
        note = f" · {evicted} older topics dropped (at most {self.model.max_topics} kept)" if evicted else ""
        self.status.setText(f"watching '{self.watched_filter}' · {plural(self.messages_seen, 'message')} on "
                            f"{plural(self.model.topic_count, 'topic')}{note}")

    # -- the tree and the details -------------------------------------------------------------------

    def _expand_new(self, parent: object, _first: int, _last: int) -> None:
        """Keep the first levels open so new topics are visible without clicking (deeper levels stay as they are)."""
        if self.model.rowCount() <= 50:
            self.tree.expandToDepth(1)

    def selected_topic(self) -> str | None:
        rows = self.tree.selectionModel().selectedRows()
        node = self.model.node_at(rows[0]) if rows else None
        return node.topic if node is not None else None

    def select_topic(self, topic: str) -> None:
        index = self.model.index_of(topic)
        if index.isValid():
            self.tree.setCurrentIndex(index)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._show_details(self.selected_topic())

    def _show_details(self, topic: str | None) -> None:
        node = self.model.node_of(topic) if topic is not None else None
        message = node.message if node is not None else None
        self.clear_retained_button.setEnabled(message is not None and message.retain)
        if topic is None or message is None:
            self.payload_title.setText("Select a topic to see its last message." if topic is None
                                       else f"<b>{escape(topic)}</b>: no message of its own (a branch)")
            self.payload_view.setPlainText("")
            return
        view = format_payload(message.payload, message.size)
        cut = f" (first {describe_size(len(message.payload))} kept)" if message.size > len(message.payload) else ""
        retained = " · retained" if message.retain else ""
        self.payload_title.setText(
            f"<b>{escape(topic)}</b><br>{plural(message.count, 'message')} · last at "
            f"{format_time(message.time, seconds=True)} · QoS {message.qos}{retained} · {view.kind}, "
            f"{describe_size(message.size)}{cut}")
        self.payload_view.setPlainText(view.text)

"""The topic monitor's pieces without a broker: payloads read as JSON, text or hex; the topic tree counts per
branch and evicts the least recently updated topic when full."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex
from pytestqt.qtbot import QtBot

from mqttdesk.gui.models.topic_tree_model import MESSAGES, TopicMessage, TopicTreeModel
from mqttdesk.gui.payload_format import MAX_PAYLOAD, format_payload


def test_payloads_read_as_json_text_or_hex() -> None:
    as_json = format_payload(b'{"on":true,"level":3}')
    assert as_json.kind == "JSON"
    assert as_json.text == '{\n  "on": true,\n  "level": 3\n}'
    assert format_payload(b"21.5").kind == "text"
    binary = format_payload(bytes([0, 1, 2, 255]))
    assert binary.kind == "binary"
    assert binary.text.startswith("00000000  00 01 02 ff")
    assert format_payload(b"").kind == "empty"
    cut = "é".encode() * (MAX_PAYLOAD // 2 + 10)
    assert format_payload(cut[:MAX_PAYLOAD - 1], len(cut)).kind == "text"  # a character cut in half is not binary


def _message(count: int = 1, payload: bytes = b"x") -> TopicMessage:
    return TopicMessage(count, payload, len(payload), 0, False, 1000.0)


def test_topic_tree_counts_per_branch_and_evicts_the_least_recently_updated(qtbot: QtBot) -> None:
    model = TopicTreeModel(max_topics=3)
    model.apply({"home/kitchen/temp": _message(2), "home/kitchen/light": _message()})
    home = model.index(0, MESSAGES, QModelIndex())
    assert home.data() == "3"
    kitchen = model.index(0, 0, model.index(0, 0, QModelIndex()))
    assert kitchen.data() == "kitchen"
    assert model.parent(kitchen).data() == "home"
    model.apply({"garden/pump": _message(), "home/kitchen/light": _message(payload=b"on")})
    assert model.node_of("home/kitchen/light").message.count == 2  # type: ignore[union-attr]
    model.apply({"garage/door": _message()})  # a fourth topic: home/kitchen/temp is the stalest
    assert model.topic_count == 3
    assert model.node_of("home/kitchen/temp") is None
    assert model.evicted == 1
    assert model.index(0, MESSAGES, QModelIndex()).data() == "2"  # home lost temp's two messages
    model.apply({"x": _message(), "y": _message()})  # evicts garden/pump and home/kitchen/light: branches go too
    assert [model.index(row, 0, QModelIndex()).data() for row in range(model.rowCount())] == ["garage", "x", "y"]

"""The data representations of section 1.5: variable byte integers (and remaining lengths) at every size boundary."""

from __future__ import annotations

import pytest

from mqttdesk.broker.protocol import wire_format as wf

# MQTT 3.1.1 table 2.4 / MQTT 5 table 1-1: the smallest and largest value of each size, and their bytes
BOUNDARIES = [
    (0, b"\x00"), (127, b"\x7f"),
    (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"), (2_097_151, b"\xff\xff\x7f"),
    (2_097_152, b"\x80\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f"),
]


@pytest.mark.parametrize(("value", "encoded"), BOUNDARIES)
def test_variable_byte_integers_at_the_size_boundaries(value: int, encoded: bytes) -> None:
    assert wf.encode_varint(value) == encoded
    assert wf.varint_size(value) == len(encoded)
    assert wf.read_varint(encoded, 0, len(encoded)) == (value, len(encoded))
    assert wf.read_remaining_length(b"\x30" + encoded, 1, 1 + len(encoded)) == (value, 1 + len(encoded))
    assert wf.fixed_header(0x30, value) == b"\x30" + encoded


def test_an_incomplete_remaining_length_waits_for_more_bytes() -> None:
    assert wf.read_remaining_length(b"\x30\x80\x80", 1, 3) is None
    assert wf.read_remaining_length(b"\x30", 1, 1) is None

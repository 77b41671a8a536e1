"""Reading and checking the first packet of a connection, before anything else may happen.

amqtt 0.12.1 builds a `Session` from the CONNECT and *then* asks plugins; we read the packet ourselves so the
auth decision comes first and only an accepted CONNECT can touch another session.
"""

from __future__ import annotations

from dataclasses import dataclass

from amqtt.adapters import ReaderAdapter
from amqtt.mqtt.connect import ConnectPacket
from amqtt.mqtt.packet import CONNECT, MQTTFixedHeader

SUPPORTED_LEVEL = 4  # MQTT 3.1.1


class ConnectRejected(Exception):
    """The first packet is not a CONNECT we can answer; close the connection (with `connack` when set)."""

    def __init__(self, reason: str, connack: int | None = None) -> None:
        super().__init__(reason)
        self.connack = connack


@dataclass(frozen=True, slots=True)
class ConnectFields:
    client_id: str
    client_id_assigned: bool
    clean_session: bool
    keep_alive: int
    username: str | None
    password: str | None
    will_topic: str | None
    will_message: bytes | None
    will_qos: int
    will_retain: bool

    def __repr__(self) -> str:  # never show the password, not even in a debug log
        return f"ConnectFields(client_id={self.client_id!r}, username={self.username!r}, clean={self.clean_session})"


async def read_connect(reader: ReaderAdapter) -> ConnectFields:
    fixed = await MQTTFixedHeader.from_stream(reader)
    if fixed is None:
        raise ConnectRejected("the connection closed before sending CONNECT")
    if fixed.packet_type != CONNECT:
        raise ConnectRejected(f"the first packet must be CONNECT, got packet type {fixed.packet_type}")
    packet = await ConnectPacket.from_stream(reader, fixed_header=fixed)
    header, payload = packet.variable_header, packet.payload
    if header is None or payload is None:
        raise ConnectRejected("malformed CONNECT")
    if header.proto_name not in ("MQTT", "MQIsdp"):
        raise ConnectRejected(f"unknown protocol name {header.proto_name!r}")  # [MQTT-3.1.2-1]: no CONNACK
    if header.proto_level != SUPPORTED_LEVEL or header.proto_name != "MQTT":
        # [MQTT-3.1.2-2]: answer 0x01 and close
        raise ConnectRejected(
            f"protocol {header.proto_name} level {header.proto_level} is not supported (MQTT 3.1.1 is)", connack=1
        )
    if header.reserved_flag:
        raise ConnectRejected("the reserved CONNECT flag is set")  # [MQTT-3.1.2-3]
    if header.will_flag:
        if payload.will_topic is None or payload.will_message is None:
            raise ConnectRejected("the will flag is set but the will topic or message is missing")
        if header.will_qos > 2:
            raise ConnectRejected("the will QoS is 3")  # [MQTT-3.1.2-14]
    elif header.will_qos or header.will_retain_flag:
        raise ConnectRejected("will QoS or retain set without a will")  # [MQTT-3.1.2-13], [MQTT-3.1.2-15]
    if header.username_flag and payload.username is None:
        raise ConnectRejected("the username flag is set but the username is missing")
    return ConnectFields(
        client_id=payload.client_id or "",
        client_id_assigned=bool(payload.client_id_is_random),
        clean_session=header.clean_session_flag,
        keep_alive=header.keep_alive,
        username=payload.username if header.username_flag else None,
        password=payload.password if header.password_flag else None,
        will_topic=payload.will_topic if header.will_flag else None,
        will_message=bytes(payload.will_message) if header.will_flag and payload.will_message is not None else None,
        will_qos=header.will_qos if header.will_flag else 0,
        will_retain=header.will_retain_flag if header.will_flag else False,
    )

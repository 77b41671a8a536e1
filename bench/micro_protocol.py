"""`python -m bench.micro_protocol`: decoding small MQTT 3.1.1 QoS 0 PUBLISHes, the sans-I/O protocol core
(mqttdesk.broker.protocol.ServerProtocol) against the read loop the broker had before it (the connection's loop over
wire.decode_publish, kept frozen in bench/baseline_wire.py), in the same run, on the same bytes, fed in the same
64 KiB chunks.

    python -m bench.micro_protocol [--count 200000] [--repeats 5]

Prints the best of the repeats for each (packets/s) and the ratio. CPU only: no sockets, no event loop.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from bench import baseline_wire as wire
from mqttdesk.broker.protocol import Publish, ServerProtocol
from mqttdesk.broker.protocol.encoder import encode_publish

READ_CHUNK = 65536  # what the broker's connection reads at once
PAYLOAD = b"x" * 20


def _publish_bytes(count: int) -> bytes:
    return b"".join(encode_publish(Publish(f"bench/{index % 100}", PAYLOAD), 4) for index in range(count))


def _connect_bytes() -> bytes:
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + b"\x00\x05bench"
    return bytes((0x10, len(body))) + body


def _chunks(data: bytes) -> list[bytes]:
    return [data[offset:offset + READ_CHUNK] for offset in range(0, len(data), READ_CHUNK)]


def run_wire(chunks: list[bytes]) -> int:
    """The pre-core connection's read loop (run / _consume / _dispatch) for PUBLISH, without socket and routing."""
    received: list[wire.Publish] = []
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        position, size = 0, len(buffer)
        while position < size:
            first = buffer[position]
            header = wire.decode_remaining_length(buffer, position + 1)
            if header is None:
                break
            length, index = header
            end = index + length
            if end > size:
                break
            packet_type, flags, body = first >> 4, first & 0x0F, bytes(buffer[index:end])
            wire.check_flags(packet_type, flags)
            if packet_type == wire.PUBLISH:
                received.append(wire.decode_publish(flags, body))
            position = end
        if position:
            del buffer[:position]
    return len(received)


def run_protocol(chunks: list[bytes]) -> int:
    protocol = ServerProtocol()
    protocol.receive_data(_connect_bytes())
    protocol.events_received()
    protocol.send_connack(0)
    protocol.data_to_send()
    count = 0
    for chunk in chunks:
        protocol.receive_data(chunk)
        count += len(protocol.events_received())
    return count


def _best(run: Callable[[list[bytes]], int], chunks: list[bytes], count: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        decoded = run(chunks)
        best = min(best, time.perf_counter() - started)
        if decoded != count:
            raise SystemExit(f"{run.__name__} decoded {decoded} of {count} packets")
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    chunks = _chunks(_publish_bytes(args.count))
    wire_rate = protocol_rate = 0.0
    for _ in range(args.repeats):  # interleaved, so a burst of other load on the machine hits both alike
        wire_rate = max(wire_rate, _best(run_wire, chunks, args.count, 1))
        protocol_rate = max(protocol_rate, _best(run_protocol, chunks, args.count, 1))
    print(f"{args.count:,} QoS 0 PUBLISH (3.1.1, {len(PAYLOAD)}-byte payload, {READ_CHUNK // 1024} KiB chunks), "
          f"best of {args.repeats}:")
    print(f"  pre-core loop + wire.decode_publish: {wire_rate:>12,.0f} packets/s")
    print(f"  protocol.ServerProtocol:             {protocol_rate:>12,.0f} packets/s")
    print(f"  ratio protocol / pre-core:           {protocol_rate / wire_rate:>12.2f}")


if __name__ == "__main__":
    main()

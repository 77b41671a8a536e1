"""Many concurrent raw CONNECTs from one asyncio loop: a fleet of devices arriving at once, without a thread each."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tests.integration.raw_mqtt import encode_connect

TIMEOUT = 30.0
SOURCE_ADDRESSES = 16  # a fleet has an address per device, not one (the broker caps waiting sockets per address)


@dataclass
class StormResult:
    codes: dict[str, list[int]]  # clientId -> CONNACK return codes of every attempt with that id
    writers: list[asyncio.StreamWriter]

    def accepted(self) -> list[str]:
        return [client_id for client_id, codes in self.codes.items() for code in codes if code == 0]


async def _connect(port: int, client_id: str, username: str, password: str, clean: bool,
                   result: StormResult, source: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(encode_connect(client_id, username=username, password=password, clean_session=clean))
    await writer.drain()
    connack = await reader.readexactly(4)
    result.codes.setdefault(client_id, []).append(connack[3])
    if connack[3] == 0:
        result.writers.append(writer)  # stays connected until close_all
    else:
        writer.close()


async def storm(port: int, client_ids: list[str], username: str, password: str, *, clean: bool = True) -> StormResult:
    """Connect every clientId (repeat an id to make it race with itself) at the same time."""
    result = StormResult({}, [])
    await asyncio.wait_for(
        asyncio.gather(*(_connect(port, cid, username, password, clean, result, f"127.0.1.{n % SOURCE_ADDRESSES + 1}")
                         for n, cid in enumerate(client_ids))), TIMEOUT)
    return result


async def close_all(result: StormResult) -> None:
    for writer in result.writers:
        writer.write(b"\xe0\x00")  # DISCONNECT
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in result.writers), return_exceptions=True)

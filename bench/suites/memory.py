"""Memory: resident set size (VmRSS) of the broker process with 0 and with N idle connected clients.

"0 clients" is measured after a few connects and disconnects, so lazily loaded code and caches are in both
figures; N clients connect a few at a time with a long keep-alive and stay idle for a second before the second
reading. Bytes per client = (RSS with N − RSS with 0) / N.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.context import Context
from bench.load.client import Endpoint
from bench.load.connects import close_all, crowd, warm_up
from bench.settings import RUN_TIMEOUT
from bench.systems.launch import for_each, running
from bench.systems.process import ChildProcess

SETTLE = 1.0


async def _with_crowd(endpoint: Endpoint, count: int, process: ChildProcess) -> tuple[int, int]:
    links = await crowd(endpoint, "idle", count, RUN_TIMEOUT)
    try:
        await asyncio.sleep(SETTLE)
        return len(links), process.rss_bytes()
    finally:
        await close_all(links)


def run(ctx: Context) -> dict[str, Any]:
    count = ctx.counts.idle_clients

    def one_system(system: str) -> dict[str, Any]:
        with running(ctx, system) as target:
            warm_up(target.user, "mem-warm", ctx.counts.warmup)
            time.sleep(SETTLE)  # let the broker finish with the warm-up connections before reading
            empty = target.process.rss_bytes()
            connected, full = asyncio.run(_with_crowd(target.user, count, target.process))
        per_client = (full - empty) / connected if connected else None
        return {"clients": connected, "rss_empty": empty, "rss_full": full,
                "bytes_per_client": round(per_client) if per_client is not None else None}

    return for_each(ctx, f"memory (0 and {count} idle clients)", one_system)

"""The instance side of the control channel: answers `status`, `clients`, `kick`, `sessions`, `bans`, … from a
`BrokerService`."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from mqttdesk.broker.event_loops import loop_name
from mqttdesk.broker.service import BrokerService
from mqttdesk.broker.transport import format_address
from mqttdesk.control.client import request
from mqttdesk.control.protocol import MAX_LINE, decode, encode, instance_file
from mqttdesk.core.bans import BanKind
from mqttdesk.core.errors import MqttdeskError

log = logging.getLogger(__name__)


class ControlServer:
    def __init__(self, service: BrokerService, data_dir: Path) -> None:
        self._service = service
        self._path = instance_file(Path(data_dir))
        self._token = secrets.token_hex(16)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Listen for the CLI; refuse (MqttdeskError) when another instance already serves this data dir."""
        await asyncio.to_thread(self._refuse_second_instance)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_LINE)
        port = self._server.sockets[0].getsockname()[1]
        info = {"pid": os.getpid(), "host": "127.0.0.1", "port": port, "token": self._token, "started": time.time()}
        temporary = self._path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(info, handle)
        os.replace(temporary, self._path)

    def _refuse_second_instance(self) -> None:
        """Two instances on one store would fight over its sessions, and the CLI could reach only one of them."""
        try:
            status = request(self._path.parent, "status")
        except MqttdeskError:
            return  # none runs (a stale instance.json is simply replaced)
        where = ", ".join(format_address(host, port) for host, port in status.get("addresses") or []) or "stopped"
        raise MqttdeskError(f"another mqttdesk instance already runs for {self._path.parent} ({where}); stop it first")

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        self._server = None
        try:
            if json.loads(self._path.read_text()).get("token") == self._token:
                self._path.unlink()
        except (OSError, ValueError):
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while line := await reader.readline():
                writer.write(encode(await self._answer(line)))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = decode(line)
        except ValueError:
            return {"ok": False, "error": "malformed request"}
        if not hmac.compare_digest(str(request.get("token", "")), self._token):
            return {"ok": False, "error": "bad token"}
        command = request.get("command")
        args = request.get("args") or {}
        try:
            if command == "status":
                status = self._service.status
                return {"ok": True, "result": {"state": status.state.value, "description": status.describe(),
                                               "addresses": [list(a) for a in status.addresses],
                                               "listeners": [{"name": i.name, "kind": i.kind, "host": i.host,
                                                              "port": i.port} for i in status.listeners],
                                               "warnings": list(status.warnings),
                                               "event_loop": loop_name(asyncio.get_running_loop())}}
            if command == "clients":
                return {"ok": True, "result": [s.to_json() for s in self._service.registry.snapshot()]}
            if command == "sync":
                return {"ok": True, "result": len(self._service.store.poll_external_changes())}
            if command == "require_authentication":
                return {"ok": True, "result": self._service.require_authentication()}
            if command == "sessions":
                registry = self._service.registry
                return {"ok": True, "result": [s.to_json() for s in registry.snapshot() + registry.offline()]}
            if command == "release_client_id":
                client_id = str(args.get("client_id", ""))
                return {"ok": True,
                        "result": self._service.release_client_id(client_id, by="mqttdesk session discard (CLI)")}
            if command == "bans":
                return {"ok": True, "result": [ban.to_wire() for ban in self._service.bans()]}
            if command == "ban_add":
                seconds = args.get("seconds")
                ban, ending = self._service.add_ban(
                    BanKind(str(args.get("kind", "address"))), str(args.get("value", "")),
                    seconds=None if seconds is None else float(seconds), reason=str(args.get("reason", "")),
                    by="mqttdesk ban add (CLI)")
                return {"ok": True, "result": {"ban": ban.to_wire(), "disconnected": ending}}
            if command == "ban_remove":
                ban = self._service.remove_ban(BanKind(str(args.get("kind", "address"))), str(args.get("value", "")))
                return {"ok": True, "result": ban.to_wire()}
            if command == "kick":
                client_id = str(args.get("client_id", ""))
                return {"ok": True, "result": await self._service.kick(client_id, by="mqttdesk kick (CLI)")}
        except MqttdeskError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # the instance must survive any one bad request
            log.exception("control command %s failed", command)
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown command {command!r}"}

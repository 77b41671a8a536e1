"""Plain amqtt 0.12.1, as a new user would run it, on a free loopback port: the baseline mqttdesk is measured against.

Same shape as `harness.Instance`: its own asyncio loop in a background thread, `start()`, `port`, `run()`,
`stop()`. The broker is amqtt's own `Broker` with one plugin, `AnonymousAuthPlugin` with `allow_anonymous: True`.
Given `users`, amqtt's `FileAuthPlugin` is added with those users (argon2 hashes in a temporary password file), so
a wrong password can be refused; clients without a username still connect anonymously.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from amqtt.broker import Broker

from tests.integration.harness import assert_port_free

T = TypeVar("T")
TIMEOUT = 10.0
_ANONYMOUS = "amqtt.plugins.authentication.AnonymousAuthPlugin"
_FILE_AUTH = "amqtt.plugins.authentication.FileAuthPlugin"


class BareAmqtt:
    def __init__(self, users: Mapping[str, str] | None = None) -> None:
        self.users = dict(users or {})
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bare-amqtt", daemon=True)
        self._dir: Path | None = None
        self.broker: Broker | None = None
        self.port = 0

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def _config(self, host: str, port: int) -> dict[str, Any]:
        plugins: dict[str, Any] = {_ANONYMOUS: {"allow_anonymous": True}}
        if self.users:
            from pwdlib import PasswordHash
            from pwdlib.hashers.argon2 import Argon2Hasher

            hasher = PasswordHash((Argon2Hasher(),))
            self._dir = Path(tempfile.mkdtemp(prefix="bare-amqtt-"))
            password_file = self._dir / "passwd"
            password_file.write_text("".join(f"{name}:{hasher.hash(pw)}\n" for name, pw in self.users.items()))
            plugins[_FILE_AUTH] = {"password_file": str(password_file)}
        return {"listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}}, "plugins": plugins}

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        config = self._config(host, port)
        self._thread.start()

        async def start() -> Broker:
            broker = Broker(config)
            await broker.start()
            return broker

        self.broker = self.run(start())
        server = self.broker._servers["default"]  # amqtt has no public way to read the bound port
        self.port = server.instance.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        """Shut the broker down, stop the loop and check the port is free again."""
        try:
            if self.broker is not None:
                self.run(self.broker.shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(TIMEOUT)
            self.loop.close()
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
        if self.port:
            assert_port_free(self.port)

    def __enter__(self) -> BareAmqtt:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A real HTTP auth/ACL service for the tests (http.server on a free loopback port) that counts its calls.

Users are allowed by name and password (else 403 `{"ok": false, "error": ...}`); an ACL check allows a topic under
`devices/USERNAME/` and `shared/` (but no delivery of a topic ending in `/secret`: 403) and refuses the rest with
200 `{"result": "deny"}` (EMQX's way). `hold` / `hold_acl` make the user / ACL route wait until `release` (a slow
service); `status` makes every answer that status (a failing one).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USER_ROUTE = "/mqttAuthentication/userGet"
ACL_ROUTE = "/mqttAuthentication/aclCheck"


@dataclass
class AuthService:
    users: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)  # path, body, headers
    hold: bool = False
    hold_acl: bool = False  # the ACL route waits until `release` too
    status: int | None = None
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _release: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> AuthService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with service._changed:
                    service.calls.append((self.path, body, dict(self.headers)))
                    service._changed.notify_all()
                if (self.path == USER_ROUTE and service.hold) or (self.path == ACL_ROUTE and service.hold_acl):
                    service._release.wait(30)
                status, answer = service.answer(self.path, body)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the broker gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.status is not None:
            return self.status, {"error": "the service is failing"}
        if path == USER_ROUTE:
            if self.users.get(body.get("username", "")) == body.get("password"):
                return 200, {"ok": True}
            return 403, {"ok": False, "error": "unknown device or wrong password"}
        if path == ACL_ROUTE:
            topic, username = str(body.get("topic")), str(body.get("username"))
            if body.get("acc") == 1 and topic.endswith("/secret"):  # may subscribe, may not receive
                return 403, {"error": "not for you"}
            if topic.startswith((f"devices/{username}/", "shared/")):
                return 200, {"result": "allow"}
            return 200, {"result": "deny"}
        return 404, {"error": "no such route"}

    def release(self) -> None:
        self._release.set()

    def wait_calls(self, count: int, timeout: float = 10.0) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.calls) >= count, timeout):
                raise AssertionError(f"{len(self.calls)} calls within {timeout} s, not {count}: {self.calls}")
            return list(self.calls)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._changed:
            return [body for called, body, _headers in self.calls if called == path]

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

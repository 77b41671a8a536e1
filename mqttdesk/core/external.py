"""The external HTTP auth/ACL service (Mosquitto "API authentication" style): its settings, what is sent, and what
an answer means. The calls themselves are `auth/external.py`'s (asynchronous, cached).

CONNECT of a username no local credential has (and no token): POST `{"username", "password", "clientid"}` to the
user route. SUBSCRIBE, PUBLISH and each delivery of an externally authenticated client: POST `{"username",
"clientid", "topic", "acc"}` to the ACL route, acc 4 = subscribe, 2 = publish, 1 = delivery (3 is never sent).
HTTP 200 allows, anything else refuses; a 200 whose JSON body says `{"ok": false}` (go-auth) or
`{"result": "deny"}` (EMQX) refuses too. Refusals: `external-denied` (with the status and the body's `error` or
`reason` text), `external-error` (5xx), `external-timeout`, `external-unreachable`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit

from mqttdesk.core.errors import ValidationError
from mqttdesk.core.reasons import ReasonCode

DEFAULT_USER_ROUTE = "/mqttAuthentication/userGet"
DEFAULT_ACL_ROUTE = "/mqttAuthentication/aclCheck"
DEFAULT_TIMEOUT = 5.0
DEFAULT_CACHE_SECONDS = 30
MAX_ANSWER_TEXT = 200  # characters of a service's `error`/`reason` text that a sentence quotes


class Acc(IntEnum):
    """The `acc` of an ACL check, as Mosquitto's auth plugins number it."""

    DELIVERY = 1  # read: a message about to be delivered to a subscriber
    PUBLISH = 2  # write
    SUBSCRIBE = 4


@dataclass(frozen=True, slots=True)
class ExternalSettings:
    url: str = ""  # the base URL, http:// or https:// (certificates verified)
    user_route: str = DEFAULT_USER_ROUTE
    acl_route: str = DEFAULT_ACL_ROUTE
    timeout: float = DEFAULT_TIMEOUT
    cache_seconds: int = DEFAULT_CACHE_SECONDS
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # e.g. an API key: shown masked
    enabled: bool = False

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.url)

    def user_url(self) -> str:
        return self.url.rstrip("/") + self.user_route

    def acl_url(self) -> str:
        return self.url.rstrip("/") + self.acl_route

    @property
    def fingerprint(self) -> str:
        """Who answers user checks: a session admitted by another URL or route ends when they change."""
        return hashlib.sha256(f"{self.url}\0{self.user_route}".encode()).hexdigest()[:16]

    def masked_headers(self) -> list[str]:
        return [f"{name}: {'•' * 8}" for name, _value in self.headers]

    def to_json(self, *, masked: bool = True) -> dict[str, Any]:
        return {"url": self.url, "user_route": self.user_route, "acl_route": self.acl_route, "timeout": self.timeout,
                "cache_seconds": self.cache_seconds, "enabled": self.enabled,
                "headers": self.masked_headers() if masked else [f"{n}: {v}" for n, v in self.headers]}


def parse_header(text: str) -> tuple[str, str]:
    """'Name: value' as (name, value)."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or any(c in name for c in " \t\r\n") or "\n" in value or "\r" in value:
        raise ValidationError(f"a header is 'Name: value', not {text.split(':', 1)[0]!r}…")
    return name, value


def validate(settings: ExternalSettings) -> ExternalSettings:
    if settings.url:
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(f"the service URL must be http:// or https:// with a host, not {settings.url!r}")
    for route in (settings.user_route, settings.acl_route):
        if not route.startswith("/"):
            raise ValidationError(f"a route starts with '/', not {route!r}")
    if not 0 < settings.timeout <= 60:
        raise ValidationError("the timeout must be more than 0 and at most 60 seconds")
    if not 0 <= settings.cache_seconds <= 86400:
        raise ValidationError("the cache time must be 0 to 86400 seconds")
    if settings.enabled and not settings.url:
        raise ValidationError("set the service URL (--url) before turning it on")
    return settings


def user_body(username: str, password: str | None, client_id: str) -> dict[str, str]:
    return {"username": username, "password": password or "", "clientid": client_id}


def acl_body(username: str, client_id: str, topic: str, acc: Acc) -> dict[str, Any]:
    return {"username": username, "clientid": client_id, "topic": topic, "acc": int(acc)}


def shown_body(body: dict[str, Any]) -> str:
    """The request body as a step shows it: the password replaced."""
    return json.dumps({k: ("…" if k == "password" else v) for k, v in body.items()}, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the service said: allowed, or the refusal's code and words (`status` None: no HTTP answer)."""

    allowed: bool
    code: ReasonCode | None
    text: str  # e.g. "HTTP 200", "HTTP 403: unknown device", "no answer within 5 s"
    status: int | None = None

    @property
    def failed(self) -> bool:
        """The service did not answer properly (never cached; it empties the cache)."""
        return self.code in (ReasonCode.EXTERNAL_UNREACHABLE, ReasonCode.EXTERNAL_TIMEOUT, ReasonCode.EXTERNAL_ERROR)


def _answer_text(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("error", "reason"):
        if isinstance(data.get(key), str) and data[key]:
            return str(data[key])[:MAX_ANSWER_TEXT]
    return None


def interpret(status: int, body: bytes) -> Answer:
    """HTTP 200 allows unless its JSON body says `{"ok": false}` or `{"result": "deny"}`; 5xx is an error."""
    detail = _answer_text(body)
    suffix = f": {detail}" if detail else ""
    if status >= 500:
        return Answer(False, ReasonCode.EXTERNAL_ERROR, f"HTTP {status}{suffix}", status)
    if status != 200:
        return Answer(False, ReasonCode.EXTERNAL_DENIED, f"HTTP {status}{suffix}", status)
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict) and (data.get("ok") is False or data.get("result") == "deny"):
        said = '"ok": false' if data.get("ok") is False else '"result": "deny"'
        return Answer(False, ReasonCode.EXTERNAL_DENIED, f"HTTP 200 with {said}{suffix}", status)
    return Answer(True, None, "HTTP 200", status)


def unreachable(why: str) -> Answer:
    return Answer(False, ReasonCode.EXTERNAL_UNREACHABLE, f"the service could not be reached ({why})")


def timed_out(seconds: float) -> Answer:
    return Answer(False, ReasonCode.EXTERNAL_TIMEOUT, f"no answer within {seconds:g} s")

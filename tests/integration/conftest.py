from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mqttdesk.core.acl import Permission
from mqttdesk.store.db import Store
from tests.integration.harness import Instance
from tests.support import fast_hash

__all__ = ["fast_hash"]  # tests import it from here
from tests.integration.mqtt5_client import SessionEvents, V5Client
from tests.integration.mqtt_client import TestClient
from tests.integration.tls_certs import TlsFiles, make_tls_files


@pytest.fixture
def admin(data_dir: Path) -> Iterator[Store]:
    """The store as another process (the CLI) sees it."""
    store = Store.open(data_dir)
    yield store
    store.close()


@pytest.fixture
def unguarded(admin: Store) -> None:
    """For tests that send floods of refused CONNECTs from loopback on purpose, about something else than the login
    guard (the Auth log's bounds, the queue of password checks): loopback exempt from throttling and bans (request
    it before `instance`). tests/integration/test_login_guard.py tests the guard itself, with its defaults."""
    admin.settings.set_guard(replace(admin.settings.guard(), exempt_loopback=True))


@pytest.fixture
def instance(admin: Store, data_dir: Path) -> Iterator[Instance]:
    running = Instance(data_dir)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def dev_user(admin: Store, instance: Instance) -> Instance:
    """The running instance with user `dev` (password `pw`) in a role that may read and write every topic."""
    add_dev_user(admin)
    instance.sync()
    return instance


def add_dev_user(store: Store) -> None:
    """User `dev` (password `pw`) in a role `all` that may read and write every topic."""
    store.roles.add("all")
    store.roles.allow("all", "#", Permission.READWRITE)
    store.users.add("dev", fast_hash("pw"), ("all",))


@pytest.fixture
def clients() -> Iterator[list[TestClient]]:
    made: list[TestClient] = []
    yield made
    for client in made:
        client.close()


@pytest.fixture
def client(instance: Instance, clients: list[TestClient]):  # type: ignore[no-untyped-def]
    """Factory: client("id", username=..., password=...) bound to the running instance."""

    def make(client_id: str, **kwargs: object) -> TestClient:
        made = TestClient(client_id, instance.port, **kwargs)  # type: ignore[arg-type]
        clients.append(made)
        return made

    return make


@pytest.fixture
def certs(tmp_path: Path) -> TlsFiles:
    """Throwaway CA, server and client certificates (tls_certs.py)."""
    return make_tls_files(tmp_path / "certs")


def provision_tls_lamp(admin: Store, certs: TlsFiles, *, client_ca: bool = False) -> None:
    """The TLS files in the settings, and user 'lamp' (password 's3cret') who may read and write home/#."""
    admin.settings.set_tls_file("cert_file", str(certs.cert))
    admin.settings.set_tls_file("key_file", str(certs.key))
    if client_ca:
        admin.settings.set_tls_file("client_ca_file", str(certs.client_ca))
    admin.roles.add("lamps")
    admin.roles.allow("lamps", "home/#", Permission.READWRITE)
    admin.users.add("lamp", fast_hash("s3cret"), ("lamps",))


@pytest.fixture
def client5(instance: Instance) -> Iterator[Callable[..., V5Client]]:
    """Factory: client5("id", username=..., connect_properties={...}) — paho's MQTT 5 client on the instance."""
    made: list[V5Client] = []

    def make(client_id: str, **kwargs: Any) -> V5Client:
        created = V5Client(client_id, instance.port, **kwargs)
        made.append(created)
        return created

    yield make
    for created in made:
        created.close()


@pytest.fixture
def session_events(instance: Instance) -> Iterator[SessionEvents]:
    events = SessionEvents(instance)
    yield events
    events.close()

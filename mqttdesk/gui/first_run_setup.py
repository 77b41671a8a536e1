"""What the first-run wizard sets up, apart from its pages: the listener (this computer only, or the network), TLS
with mqttdesk's own CA, the first user (with a role that may read and write every topic) or anonymous access on
loopback only, and the lines a client connects with.

`apply` writes the settings in one transaction, creates the CA off the GUI thread when TLS is wanted and none exists,
and restarts a running broker so the choices apply now.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass

from PySide6.QtNetwork import QAbstractSocket, QHostAddress, QNetworkInterface

from mqttdesk.broker.service import BrokerState, BrokerStatus
from mqttdesk.core.acl import Permission
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.pki.ca import create_ca
from mqttdesk.store.settings_repo import ANONYMOUS_MODE

FIRST_RUN_DONE = "first_run/done"
LOOPBACK = "127.0.0.1"
EVERYWHERE = "0.0.0.0"
FIRST_USER_ROLE = "all-topics"  # the first user's role: read and write every topic (narrow it in Roles)
TLS_PORT = 8883


@dataclass(frozen=True)
class FirstRunChoice:
    network: bool  # False: this computer only (127.0.0.1); True: every interface
    port: int
    tls: bool
    username: str | None  # None: anonymous clients (loopback only)
    password: str = ""


def lan_addresses() -> list[str]:
    """This computer's IPv4 addresses other devices on the network may reach (not loopback, not link-local)."""
    found = []
    for address in QNetworkInterface.allAddresses():
        if address.protocol() is not QAbstractSocket.NetworkLayerProtocol.IPv4Protocol:
            continue
        if address.isLoopback() or address.isLinkLocal() or address == QHostAddress(QHostAddress.SpecialAddress.Any):
            continue
        found.append(address.toString())
    return sorted(set(found))


async def apply(context: TabContext, choice: FirstRunChoice) -> BrokerStatus:
    """Set it all up; returns the broker's status (restarted when it was running, started when it was not)."""
    store = context.store
    password_hash = None
    if choice.username is not None:
        password_hash = await asyncio.to_thread(context.hash_password, choice.password)
    if choice.tls and not store.pki.exists():
        authority = await asyncio.to_thread(create_ca)
        store.pki.install(authority)
    host = EVERYWHERE if choice.network else LOOPBACK
    with store.write():
        store.settings.set_listener(host, choice.port)
        store.settings.set_listener_enabled("tls", choice.tls)
        if choice.tls:
            store.settings.set_listener_port("tls", TLS_PORT)
        if choice.username is not None and password_hash is not None:
            if FIRST_USER_ROLE not in store.roles.names():
                store.roles.add(FIRST_USER_ROLE)
                store.roles.allow(FIRST_USER_ROLE, "#", Permission.READWRITE)
            store.users.add(choice.username, password_hash, (FIRST_USER_ROLE,))
            store.settings.set_anonymous(False)
        else:
            # automatic, not on: anonymous clients are let in while the broker listens on loopback only, and lose
            # access by themselves if it is ever opened to the network (explicit "on" would keep them in)
            store.settings.set(ANONYMOUS_MODE, "auto")
    if choice.tls and choice.network:
        extra = [address for address in lan_addresses() if address not in store.pki.server_sans()]
        if extra:
            store.pki.set_server_sans([*store.pki.server_sans(), *extra])
    service = context.service
    if service.status.state is BrokerState.LISTENING:
        await service.stop()
    return await service.start()


def connect_lines(choice: FirstRunChoice, host: str, port: int, ca_file: str | None = None) -> dict[str, str]:
    """Copyable ways to connect as the user the wizard made: mosquitto_sub and paho-mqtt (Python)."""
    sub = ["mosquitto_sub", "-h", host, "-p", str(port)]
    if ca_file is not None:
        sub += ["--cafile", ca_file]
    if choice.username is not None:
        sub += ["-u", choice.username, "-P", choice.password]
    sub += ["-t", "#", "-v"]
    paho = ["import paho.mqtt.client as mqtt",
            "client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)"]
    if choice.username is not None:
        paho.append(f"client.username_pw_set({choice.username!r}, {choice.password!r})")
    if ca_file is not None:
        paho.append(f"client.tls_set(ca_certs={ca_file!r})")
    paho += [f"client.connect({host!r}, {port})", "client.publish('hello/mqttdesk', 'it works')"]
    return {"mosquitto_sub": shlex.join(sub), "paho-mqtt (Python)": "\n".join(paho)}

"""Build the main window offscreen with users, roles, bootstrap credentials, devices and live clients, and save
one PNG per tab (plus a few dialogs, the rows' context menus, and the broker bar after "Require authentication").

Not a test: a way to look at what the GUI looks like. Run from the repository root:

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.gui.screenshots [OUTPUT_DIR]

(default output: ./shots, which git ignores). `run`, `connect`, `save`, `shot_name` and `wait_until` serve
`auth_screenshots` too, which takes the Auth log and Topic monitor tabs (with a row explained, messages shown): they
are not shot here, so no view is saved twice. File names use hyphens only ("auth-log.png").

Nothing waits a fixed time for data: each step waits until the models show what the next shot needs
(`wait_until`), so a slow machine takes longer instead of capturing half-updated views.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import paho.mqtt.client as mqtt  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.hazmat.primitives.hashes import SHA256  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from PySide6.QtCore import QModelIndex  # noqa: E402
from PySide6.QtGui import QContextMenuEvent, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from mqttdesk.broker.service import BrokerService  # noqa: E402
from mqttdesk.core.acl import Permission  # noqa: E402
from mqttdesk.core.bans import Ban, BanKind  # noqa: E402
from mqttdesk.core.model import AuthMode  # noqa: E402
from mqttdesk.core.states import StateAction  # noqa: E402
from mqttdesk.gui.ca_dialogs import CreateCaDialog  # noqa: E402
from mqttdesk.gui.certificate_dialogs import IssueCertificateDialog, IssuedDialog, SignCsrDialog  # noqa: E402
from mqttdesk.gui.certificates_tab import CertificatesTab  # noqa: E402
from mqttdesk.gui.connect_dialog import ConnectDeviceDialog  # noqa: E402
from mqttdesk.gui.event_loop import SlicedEventLoop  # noqa: E402
from mqttdesk.gui.main_window import MainWindow  # noqa: E402
from mqttdesk.gui.models.clients_model import MESSAGES_IN, SUBSCRIPTIONS  # noqa: E402
from mqttdesk.gui.record_tab import RecordTab  # noqa: E402
from mqttdesk.gui.tasmota_dialogs import TasmotaRoleDialog  # noqa: E402
from mqttdesk.pki.ca import create_ca  # noqa: E402
from mqttdesk.pki.certificates import certificate_pem, serial_hex  # noqa: E402
from mqttdesk.pki.choices import KeyType  # noqa: E402
from mqttdesk.pki.issue import issue_client_certificate  # noqa: E402
from mqttdesk.store.db import Store  # noqa: E402
from tests.integration.raw_mqtt import ConnectionClosed, RawClient  # noqa: E402
from tests.support import fast_hash  # noqa: E402

FAST_HASH = fast_hash

Take = Callable[[MainWindow, BrokerService, Path], Coroutine[Any, Any, None]]

# tabs whose shots auth_screenshots takes, set up to show what those tabs are for
SHOT_ELSEWHERE = ("Auth log", "Topic monitor")
PAINT = 0.1  # lets a just-shown widget lay out and paint; data is waited for with `wait_until`


def shot_name(title: str, suffix: str = "") -> str:
    """"Auth log" → "auth-log.png": one naming scheme, hyphens, for every shot."""
    return "-".join(title.lower().split()) + suffix + ".png"


WAIT_LIMIT = 15.0  # seconds; a machine that needs longer has a problem worth an error


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Let the loop run (the broker works, Qt updates the models) until `condition` holds; fail after WAIT_LIMIT."""
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"screenshots: gave up waiting for {what}")
        await asyncio.sleep(0.02)


def clients_shown(window: MainWindow, *client_ids: str, present: bool = True) -> Callable[[], bool]:
    """A condition: the Clients tab lists (or, with present=False, no longer lists) these clientIds."""
    model = window.tab("Clients").model  # type: ignore[attr-defined]
    return lambda: all((model.row_of(cid) is not None) is present for cid in client_ids)


def populate(store: Store) -> None:
    store.roles.add("sensors")
    store.roles.allow("sensors", "sensors/%c/#", Permission.WRITE)
    store.roles.allow("sensors", "commands/%c", Permission.READ)
    store.roles.deny("sensors", "sensors/secret/#", Permission.READWRITE)
    store.roles.add("dashboard")
    store.roles.allow("dashboard", "sensors/#", Permission.READ)
    store.roles.allow("dashboard", "commands/+", Permission.WRITE)
    store.roles.add("admin")
    store.roles.allow("admin", "#", Permission.READWRITE)
    for name, roles in (("kitchen-thermometer", ("sensors",)), ("garage-door", ("sensors",)),
                        ("living-room-display", ("dashboard",)), ("alice", ("admin", "dashboard")),
                        ("old-tablet", ("dashboard",)), ("stolen-phone", ("dashboard",)), ("new-sensor", ()),
                        ("boiler@acme", ("sensors",)), ("pump@acme", ("sensors",)), ("panel@globex", ("dashboard",))):
        store.users.add(name, FAST_HASH("pw"), roles)
    store.roles.add("tasmota")
    store.roles.allow("tasmota", "tele/%c/#", Permission.WRITE)
    store.roles.allow("tasmota", "cmnd/%c/#", Permission.READ)
    store.roles.allow("tasmota", "stat/%c/#", Permission.WRITE)
    store.roles.add("shelly")
    store.roles.allow("shelly", "shellies/%c/#", Permission.READWRITE)
    store.users.set_auth("new-sensor", AuthMode.CERTIFICATE)
    store.users.set_auth("garage-door", AuthMode.BOTH)
    store.bootstraps.add("tasmota-plugs", FAST_HASH("pw"), ("tasmota",), register_devices=True)
    store.bootstraps.add("shelly-lab", FAST_HASH("pw"), ("shelly",))
    store.bootstraps.add("old-fleet", FAST_HASH("pw"), ("tasmota",), register_devices=True)
    store.bootstraps.add("spare-fleet", FAST_HASH("pw"), register_devices=True)
    store.bootstraps.add("meters@acme", FAST_HASH("pw"), ("sensors",), register_devices=True)
    now = time.time()
    for ban in (Ban(BanKind.ADDRESS, "192.168.1.77", "10 failed logins in 60 s from 192.168.1.77", now - 120,
                    now + 480),
                Ban(BanKind.CLIENT_ID, "DVES_5C1F00", "flapping: 15 connects in 60 s of clientId 'DVES_5C1F00' from "
                    "192.168.1.40", now - 30, now + 270),
                Ban(BanKind.USERNAME, "stolen-phone", "the phone was stolen", now - 86400, None, "admin")):
        store.bans.add(ban)


def connect(port: int, client_id: str, username: str | None, password: str = "pw", *, clean: bool = True
            ) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                         clean_session=clean)
    client.reconnect_delay_set(min_delay=60, max_delay=120)  # a kicked client stays away while the shots are taken
    if username is not None:
        client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def save(widget: QWidget, out: Path, name: str) -> None:
    path = out / name
    widget.grab().save(str(path))
    print(path)


async def take(window: MainWindow, service: BrokerService, out: Path) -> None:
    status = await service.start("127.0.0.1", 0)
    port = status.addresses[0][1]
    clients = [
        connect(port, "kitchen-thermometer-01", "kitchen-thermometer"),
        connect(port, "garage-door", "garage-door", clean=False),
        connect(port, "display-livingroom", "living-room-display"),
        connect(port, "alice-laptop", "alice"),
        connect(port, "alice-phone", "alice"),
        connect(port, "old-tablet-kitchen", "old-tablet"),
        connect(port, "boiler-01", "boiler@acme"),
        connect(port, "ACME-METER-0042", "meters@acme"),
        connect(port, "mosquitto-sub-test", None),
    ]
    await wait_until(clients_shown(window, "kitchen-thermometer-01", "garage-door", "display-livingroom",
                                   "alice-laptop", "alice-phone", "old-tablet-kitchen", "boiler-01",
                                   "ACME-METER-0042", "mosquitto-sub-test"), "the clients")
    devices = await fleet(window, port, service.store)
    clients[2].subscribe([("sensors/#", 0), ("commands/+", 1)])
    clients[3].subscribe("#")
    for n in range(12):
        clients[0].publish("sensors/kitchen-thermometer-01/temperature", f"{20 + n / 10:.1f}")
    clients_model = window.tab("Clients").model  # type: ignore[attr-defined]

    def cell(client_id: str, column: int) -> str | None:
        row = clients_model.row_of(client_id)
        return None if row is None else clients_model.index(row, column).data()

    def subscribed_and_counted() -> bool:  # as the Clients tab shows them
        return (cell("display-livingroom", SUBSCRIPTIONS), cell("alice-laptop", SUBSCRIPTIONS),
                cell("kitchen-thermometer-01", MESSAGES_IN)) == ("1", "1", "12")  # dashboard may not read commands/+

    await wait_until(subscribed_and_counted, "the subscriptions and messages")
    service.store.users.apply("old-tablet", StateAction.SUSPEND)  # ends old-tablet-kitchen: a forced disconnect
    service.store.users.apply("stolen-phone", StateAction.REVOKE)
    await service.kick("alice-phone")
    await service.kick("DVES_7E3A90")
    await wait_until(clients_shown(window, "old-tablet-kitchen", "alice-phone", "DVES_7E3A90", present=False),
                     "the forced disconnects")
    auth_log = window.tab("Auth log").model  # type: ignore[attr-defined]
    await wait_until(lambda: sum(entry.forced_end for entry in auth_log.entries()) >= 3,
                     "the forced disconnects in the Auth log")
    window.show()
    await guessing_flood(window, port)
    await certificate_shots(window, service.store, out)
    for index in range(window.tabs.count()):
        if window.tabs.tabText(index) in SHOT_ELSEWHERE:
            continue
        window.tabs.setCurrentIndex(index)
        if window.tabs.tabText(index) == "Users":
            window.tab("Users").select_user("garage-door")  # type: ignore[attr-defined]
        if window.tabs.tabText(index) == "Bootstrap":
            window.tab("Bootstrap").select_bootstrap("tasmota-plugs")  # type: ignore[attr-defined]
        if window.tabs.tabText(index) == "Devices":
            window.tab("Devices").select_device("DVES_1A2B3C")  # type: ignore[attr-defined]
        if window.tabs.tabText(index) == "Certificates":
            tab = window.tab("Certificates")
            tab.select_certificate(tab.model.record_at(0).serial)  # type: ignore[attr-defined]
        if window.tabs.tabText(index) == "Roles":
            window.tab("Roles").select_role("sensors")  # type: ignore[attr-defined]
        await asyncio.sleep(PAINT)
        save(window, out, shot_name(window.tabs.tabText(index)))
    await dialog_shots(window, out)
    await onboarding_shots(window, out)
    await bootstrap_dialog_shots(window, out)
    await menu_shots(window, out)
    await reset_password_shot(window, out)
    await require_authentication_shot(window, out)
    for client in clients + devices:
        client.disconnect()
        client.loop_stop()
    await window.shutdown()


async def fleet(window: MainWindow, port: int, store: Store) -> list[mqtt.Client]:
    """Registered plugs (some gone offline, one suspended, one labelled) and virtual devices; the connected ones."""
    plugs = {cid: connect(port, cid, "tasmota-plugs") for cid in ("DVES_1A2B3C", "DVES_44F0A1", "DVES_9C2E77",
                                                                  "DVES_0B51D2", "DVES_7E3A90")}
    old = connect(port, "DVES_OLD001", "old-fleet")
    virtual = [connect(port, cid, "shelly-lab") for cid in ("shellyplug-s-A1B2C3", "shellyplug-s-D4E5F6",
                                                            "shellyht-778899")]
    everyone = [*plugs, "DVES_OLD001", "shellyplug-s-A1B2C3", "shellyplug-s-D4E5F6", "shellyht-778899"]
    await wait_until(clients_shown(window, *everyone), "the fleet's sessions")
    await wait_until(lambda: all(store.devices.find(cid) is not None for cid in [*plugs, "DVES_OLD001"]),
                     "the registered devices")
    for gone in (plugs.pop("DVES_9C2E77"), plugs.pop("DVES_0B51D2"), old):
        gone.disconnect()
        gone.loop_stop()
    await wait_until(clients_shown(window, "DVES_9C2E77", "DVES_0B51D2", "DVES_OLD001", present=False),
                     "the plugs that went offline")
    for cid, module, version, ip in (("DVES_1A2B3C", "Sonoff Basic", "14.2.0(tasmota)", "192.168.1.50"),
                                     ("DVES_44F0A1", "Gosund SP1", "13.4.0(tasmota)", "192.168.1.51")):
        plug = plugs[cid]  # what a Tasmota publishes when it connects: the devices view shows it
        plug.publish(f"tele/{cid}/LWT", "Online", qos=1, retain=True)
        plug.publish(f"tele/{cid}/INFO1", json.dumps({"Info1": {"Module": module, "Version": version}}))
        plug.publish(f"tele/{cid}/INFO2", json.dumps({"Info2": {"Hostname": f"tasmota-{cid[5:]}", "IPAddress": ip}}))
        plug.publish(f"stat/{cid}/RESULT", '{"POWER":"ON"}')
    book = window.service.devices.book
    await wait_until(lambda: all((f := book.for_client(cid)) is not None and f.ip and f.last_answer
                                 for cid in ("DVES_1A2B3C", "DVES_44F0A1")), "what the plugs say about themselves")
    store.devices.set_label("DVES_1A2B3C", "kitchen plug")
    store.devices.set_label("DVES_44F0A1", "garage heater")
    store.devices.set_roles("DVES_44F0A1", ("sensors",))
    store.devices.apply("DVES_0B51D2", StateAction.SUSPEND)
    store.bootstraps.apply_with_devices("old-fleet", StateAction.SUSPEND)
    return list(plugs.values()) + virtual


async def guessing_flood(window: MainWindow, port: int) -> None:
    """Twelve addresses guessing alice's password, five times each: the status bar's "under attack" line."""
    def guess(source: str) -> None:
        for n in range(5):
            with contextlib.suppress(OSError, ConnectionClosed, TimeoutError), RawClient(port, source=source) as raw:
                raw.connect("guess", username="alice", password=f"guess-{source}-{n}".encode())

    threads = [threading.Thread(target=guess, args=(f"127.0.9.{n + 1}",), daemon=True) for n in range(12)]
    for thread in threads:
        thread.start()
    await wait_until(lambda: not any(thread.is_alive() for thread in threads), "the guessers")
    await wait_until(window.attack_status.isVisible, "the attack line in the status bar")


async def certificate_shots(window: MainWindow, store: Store, out: Path) -> None:
    """The Certificates tab without a CA, the Create CA dialog, then (after creating it there) certificates in every
    state, a trusted CA, the Issue dialog, the Tasmota commands of an issued certificate, a refused weak CSR, and
    Add user for a user that logs in by a trusted CA's certificate."""
    tab = window.tab("Certificates")
    assert isinstance(tab, CertificatesTab)
    window.tabs.setCurrentWidget(tab)
    await asyncio.sleep(PAINT)
    save(window, out, shot_name("Certificates", "-empty"))
    tab.create_ca()
    dialog = tab.dialog
    assert isinstance(dialog, CreateCaDialog)
    await asyncio.sleep(PAINT)
    save(dialog, out, "create-ca-dialog.png")
    dialog.accept()
    await wait_until(lambda: store.pki.exists() and tab.dialog is None, "the CA")
    pki = store.pki
    for user in ("kitchen-thermometer", "garage-door", "alice", "boiler@acme"):
        pki.issue_client(user)
    pki.issue_client("living-room-display", key_type=KeyType.RSA2048, days=12)  # expiring soon
    expired = issue_client_certificate(pki.load(), "old-tablet", now=time.time() - 900 * 86400)
    pki.repo.record(expired.certificate, "old-tablet")
    pki.revoke(serial_hex(pki.issue_client("stolen-phone").certificate.serial_number))
    factory = create_ca("Factory CA")
    pki.trust("factory-ca", certificate_pem(factory.certificate))
    store.users.set_auth("pump@acme", AuthMode.CERTIFICATE, "factory-ca")
    await wait_until(lambda: tab.model.rowCount() == 7 and tab.trusted.model.rowCount() == 1, "the certificates")
    tab.issue("garage-door")
    issue = tab.dialog
    assert isinstance(issue, IssueCertificateDialog)
    issue.folder.set_path(out / "issued")
    issue.tasmota_box.setChecked(True)
    await asyncio.sleep(PAINT)
    save(issue, out, "issue-certificate-dialog.png")
    for old in (out / "issued").glob("garage-door.*"):
        old.unlink()
    issue.accept()
    await wait_until(lambda: isinstance(tab.dialog, IssuedDialog), "the issued certificate")
    await asyncio.sleep(PAINT)
    save(tab.dialog, out, "issued-certificate-dialog.png")  # type: ignore[arg-type]
    tab.dialog.reject()  # type: ignore[union-attr]
    tab.sign_csr()
    sign = tab.dialog
    assert isinstance(sign, SignCsrDialog)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "garage-door")])).sign(weak, SHA256()))
    sign.csr_text.setPlainText(csr.public_bytes(Encoding.PEM).decode("ascii"))
    sign.output.set_path(out / "issued" / "garage-door-signed.crt")
    sign.accept()
    await asyncio.sleep(PAINT)
    save(sign, out, "sign-csr-dialog.png")
    sign.reject()
    await asyncio.sleep(PAINT)
    users = window.tab("Users")
    window.tabs.setCurrentWidget(users)
    users.add_user()  # type: ignore[attr-defined]
    add = users.dialog  # type: ignore[attr-defined]
    add.name_edit.setText("tasmota-plug")
    add.login.mode_box.setCurrentIndex(add.login.mode_box.findData(AuthMode.CERTIFICATE.value))
    add.login.ca_box.setCurrentIndex(add.login.ca_box.findData("factory-ca"))
    await asyncio.sleep(PAINT)
    save(add, out, "add-user-certificate-dialog.png")
    add.reject()
    await asyncio.sleep(PAINT)


async def bootstrap_dialog_shots(window: MainWindow, out: Path) -> None:
    """The Add bootstrap credential dialog after Generate + Copy, and the suspend question with its check box."""
    tab = window.tab("Bootstrap")
    window.tabs.setCurrentWidget(tab)
    tab.add_bootstrap()  # type: ignore[attr-defined]
    dialog = tab.dialog  # type: ignore[attr-defined]
    dialog.name_edit.setText("sonoff-basement")
    dialog.register_box.setChecked(True)
    dialog.roles.set_checked("tasmota")
    dialog.password.generate()
    dialog.password.copy()
    await asyncio.sleep(0.3)
    save(dialog, out, "add-bootstrap-dialog.png")
    dialog.reject()
    await asyncio.sleep(0.1)
    tab.select_bootstrap("tasmota-plugs")  # type: ignore[attr-defined]
    tab.ask_state_change(StateAction.SUSPEND)  # type: ignore[attr-defined]
    box = tab.dialog  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)
    save(box, out, "suspend-bootstrap.png")
    box.reject()
    await asyncio.sleep(0.1)


async def onboarding_shots(window: MainWindow, out: Path) -> None:
    """Connect a device… for the Tasmota fleet with a password typed in (the loopback warning shows: the shots'
    broker listens on 127.0.0.1), and the Tasmota role dialog."""
    devices = window.tab("Devices")
    window.tabs.setCurrentWidget(devices)
    dialog = ConnectDeviceDialog(window.context, devices, name="tasmota-plugs", kind="bootstrap")
    dialog.password.setText("Flash-Me-Once-42")
    dialog.resize(900, 620)
    dialog.show()
    await asyncio.sleep(PAINT)
    save(dialog, out, "connect-a-device-dialog.png")
    dialog.tabs.setCurrentIndex(1)  # ESPHome
    await asyncio.sleep(PAINT)
    save(dialog, out, "connect-a-device-esphome.png")
    dialog.close()
    role = TasmotaRoleDialog(window.context, devices)
    role.discovery.setChecked(True)
    role.show()
    await asyncio.sleep(PAINT)
    save(role, out, "tasmota-role-dialog.png")
    role.close()


async def dialog_shots(window: MainWindow, out: Path) -> None:
    """The Add user dialog after Generate and a refused (duplicate) name."""
    users = window.tab("Users")
    window.tabs.setCurrentWidget(users)
    users.add_user()  # type: ignore[attr-defined]
    dialog = users.dialog  # type: ignore[attr-defined]
    dialog.name_edit.setText("garage-door")
    dialog.roles.set_checked("sensors")
    dialog.password.generate()
    dialog.accept()
    await asyncio.sleep(0.3)
    save(dialog, out, "add-user-dialog.png")
    dialog.name_edit.setText("porch-light")
    dialog.accept()
    await wait_until(lambda: users.model.row_of("porch-light") is not None, "the added user")


async def menu_shots(window: MainWindow, out: Path) -> None:
    """Each credential tab with a row's context menu open, painted onto the window as the user would see it."""
    for title, key in (("Users", "old-tablet"), ("Bootstrap", "tasmota-plugs"), ("Devices", "DVES_1A2B3C")):
        tab = window.tab(title)
        assert isinstance(tab, RecordTab)
        window.tabs.setCurrentWidget(tab)
        proxy = tab.table.model()
        index = next((proxy.index(row, 1) for row in range(proxy.rowCount()) if proxy.index(row, 0).data() == key),
                     QModelIndex())
        at = tab.table.visualRect(index).center()
        QApplication.sendEvent(tab.table.viewport(), QContextMenuEvent(
            QContextMenuEvent.Reason.Mouse, at, tab.table.viewport().mapToGlobal(at)))
        menu = tab.menu
        assert menu is not None
        await asyncio.sleep(0.3)
        shot = window.grab()
        painter = QPainter(shot)
        painter.drawPixmap(window.mapFromGlobal(menu.pos()), menu.grab())
        painter.end()
        path = out / shot_name(title, "-menu")
        shot.save(str(path))
        print(path)
        menu.close()
        await asyncio.sleep(0.1)


async def reset_password_shot(window: MainWindow, out: Path) -> None:
    """Reset password of a user with a live session, after Generate: what it says about that session."""
    users = window.tab("Users")
    window.tabs.setCurrentWidget(users)
    users.select_user("alice")  # type: ignore[attr-defined]
    users.reset_password()  # type: ignore[attr-defined]
    dialog = users.dialog  # type: ignore[attr-defined]
    dialog.password.generate()
    await asyncio.sleep(0.3)
    save(dialog, out, "reset-password-dialog.png")
    dialog.reject()
    await asyncio.sleep(0.1)


async def require_authentication_shot(window: MainWindow, out: Path) -> None:
    """The broker bar right after "Require authentication" ended the anonymous session, over the Clients tab."""
    window.tabs.setCurrentWidget(window.tab("Clients"))
    window.broker_bar.require_auth_radio.click()
    await wait_until(clients_shown(window, "mosquitto-sub-test", present=False), "the anonymous client gone")
    await asyncio.sleep(PAINT)
    save(window, out, "require-authentication.png")


def run(populate: Callable[[Store], None], take: Take, *, size: tuple[int, int] | None = None,
        out: Path | None = None) -> None:
    """Fill a fresh store in a temporary directory, open the main window over it (at `size`, if given) and
    run `take` on the window's loop; the shots go to `out`, else the directory named on the command line, else
    ./shots."""
    out = out or Path(sys.argv[1] if len(sys.argv) > 1 else "shots")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as data:
        store = Store.open(data)
        populate(store)
        service = BrokerService(store)
        window = MainWindow(service, hasher=FAST_HASH)
        if size is not None:
            window.resize(*size)
        loop = SlicedEventLoop(app)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(service.open())
            loop.run_until_complete(take(window, service, out))
        finally:
            loop.close()
            store.close()


def main() -> None:
    run(populate, take)


if __name__ == "__main__":
    main()

"""The main window: broker bar on top, one tab per subject, a status bar with the number of connected clients (and,
while the login guard counts many refusals, that the broker is under a password-guessing attack).

`app.py` builds the `BrokerService`, opens it and runs qasync; the window only talks to the service. Closing the
window stops the broker first: `closeEvent` ignores the close, runs `shutdown()` (which awaits
`service.close()`, so the port is free afterwards) and then closes for real. `shutdown_finished` tells
`app.py` when that is done, e.g. to stop the event loop.

With a tray (tray.py), closing the window may only hide it, the broker running on (asked once, remembered);
`quit()` (File → Quit, the tray's Quit) always shuts down. Window geometry, splitters and column widths are saved at
shutdown and put back at the next start (window_state.py, in the data directory).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QMessageBox, QTabWidget, QVBoxLayout, QWidget

from mqttdesk.broker.registry import SessionEvent, SessionEventKind
from mqttdesk.broker.service import BrokerService, BrokerStatus
from mqttdesk.core.passwords import hash_password
from mqttdesk.gui.attack_status import AttackStatus
from mqttdesk.gui.auth_debugging import install_auth_debugging
from mqttdesk.gui.auth_log_tab import AuthLogTab
from mqttdesk.gui.bans_tab import BansTab
from mqttdesk.gui.bootstrap_tab import BootstrapTab
from mqttdesk.gui.broker_bar import BrokerBar
from mqttdesk.gui.certificates_tab import CertificatesTab
from mqttdesk.gui.clients_tab import ClientsTab
from mqttdesk.gui.devices_tab import DevicesTab
from mqttdesk.gui.empty_states import install_empty_states
from mqttdesk.gui.file_menu import install_file_menu
from mqttdesk.gui.first_run_wizard import FirstRunWizard, should_run
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.icons import app_icon
from mqttdesk.gui.integrations_tab import IntegrationsTab
from mqttdesk.gui.menus import build_menus
from mqttdesk.gui.qt_bridge import ServiceBridge
from mqttdesk.gui.roles_tab import RolesTab
from mqttdesk.gui.settings_dialog import SettingsDialog
from mqttdesk.gui.tab_context import PasswordHasher, TabContext
from mqttdesk.gui.task_runner import TaskRunner
from mqttdesk.gui.tokens_tab import TokensTab
from mqttdesk.gui.topic_monitor_tab import TopicMonitorTab
from mqttdesk.gui.tray import CLOSE_TO_TRAY, BrokerTray
from mqttdesk.gui.users_tab import UsersTab
from mqttdesk.gui.window_state import flag, gui_settings, restore_window_state, save_window_state

log = logging.getLogger(__name__)

TabFactory = Callable[[TabContext], QWidget]

# Adding a tab is one line here: (title, a callable that builds the tab from the shared context).
TABS: tuple[tuple[str, TabFactory], ...] = (
    ("Users", UsersTab),
    ("Bootstrap", BootstrapTab),
    ("Devices", DevicesTab),
    ("Roles", RolesTab),
    ("Certificates", CertificatesTab),
    ("Tokens", TokensTab),
    ("Clients", ClientsTab),
    ("Auth log", AuthLogTab),
    ("Banned", BansTab),
    ("Topic monitor", TopicMonitorTab),
    ("Integrations", IntegrationsTab),
)

MESSAGE_SECONDS = 8
SHUTDOWN_GRACE_SECONDS = 5.0


class MainWindow(QMainWindow):
    shutdown_finished = Signal()

    def __init__(self, service: BrokerService, *, hasher: PasswordHasher = hash_password,
                 settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        """`settings`: where the window state and the GUI's choices are kept (default: window.ini in the data dir)."""
        super().__init__(parent)
        self.service = service
        self.settings = settings if settings is not None else gui_settings(service.store.path.parent)
        self.setWindowTitle("mqttdesk")
        self.setWindowIcon(app_icon())
        self.resize(1100, 700)
        self.dialog: QWidget | None = None  # the About box or question open right now (tests answer it)
        self.bridge = ServiceBridge(service, self)
        self.runner = TaskRunner(self)
        self.runner.failed.connect(lambda message: self.show_message("Error: " + message))
        self.context = TabContext(service, self.bridge, self.runner, self.show_message, hasher)

        self.broker_bar = BrokerBar(self.context)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tab_by_title: dict[str, QWidget] = {}
        for title, factory in TABS:
            tab = factory(self.context)
            self.tab_by_title[title] = tab
            self.tabs.addTab(tab, title)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.broker_bar)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.attack_status = AttackStatus(service)
        self.statusBar().addPermanentWidget(self.attack_status)
        self.clients_label = QLabel()
        self.statusBar().addPermanentWidget(self.clients_label)
        self.bridge.session_events.connect(self._session_events)
        self.bridge.status_changed.connect(self._status_changed)
        self._update_client_count()
        auth_log = self.tab("Auth log")
        assert isinstance(auth_log, AuthLogTab)
        self.auth_debugging = install_auth_debugging(self, self.context, auth_log)
        build_menus(self, self._menu("&Tools"))
        self.empty_states = install_empty_states(self.tab_by_title)
        self.tray = BrokerTray(self)
        if self.tray.available:
            self.auth_debugging.notifier.use_tray(self.tray.icon)
        restore_window_state(self.settings, self, self.tabs)
        self.file_actions = install_file_menu(self, self.context)

        self._shutdown_task: asyncio.Task[None] | None = None
        self._shut_down = False
        self._quitting = False

    def _menu(self, title: str) -> QMenu:
        for action in self.menuBar().actions():
            menu = action.menu()
            if action.text() == title and isinstance(menu, QMenu):
                return menu
        return self.menuBar().addMenu(title)

    def tab(self, title: str) -> QWidget:
        return self.tab_by_title[title]

    def show_window(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def show_about(self) -> None:
        from mqttdesk.gui.about import about_box  # (Help -> About only: its Qt types cost a start ~20 ms)

        box = about_box(self)
        self.dialog = box
        box.finished.connect(lambda _result: setattr(self, "dialog", None))
        box.open()

    def run_first_run(self) -> bool:
        """The first-run wizard, on a first start only (see first_run_wizard.should_run); True when it opened."""
        if not should_run(self.settings, self.context):
            return False
        wizard = FirstRunWizard(self.context, self.settings, self)
        self.dialog = wizard
        wizard.finished.connect(lambda _result: setattr(self, "dialog", None))
        wizard.open()
        return True

    def open_settings(self) -> None:
        dialog = SettingsDialog(self)
        dialog.done_with.connect(self.show_message)
        self.dialog = dialog
        dialog.finished.connect(lambda _result: setattr(self, "dialog", None))
        dialog.open()

    def quit(self) -> None:
        """Stop the broker and close for good (not to the tray)."""
        self._quitting = True
        self.close()

    def show_message(self, message: str) -> None:
        self.statusBar().showMessage(message, MESSAGE_SECONDS * 1000)

    def _session_events(self, events: list[SessionEvent]) -> None:
        if any(event.kind is not SessionEventKind.UPDATED for event in events):
            self._update_client_count()

    def _status_changed(self, _status: BrokerStatus) -> None:
        self._update_client_count()

    def _update_client_count(self) -> None:
        self.clients_label.setText(plural(len(self.service.registry), "client") + " connected")

    # -- closing ------------------------------------------------------------------------------------

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    async def shutdown(self) -> None:
        """Let running actions finish (briefly), stop the broker, close the service, then close the window.

        Safe to call twice, and from `app.py` directly (e.g. on Ctrl+C): a second call waits for the first.
        `shutdown_finished` is emitted once the broker is stopped and its port is free, just before the window closes.
        """
        if self._shut_down:
            return
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._shutdown())

        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self) -> None:
        if shiboken6.isValid(self):
            save_window_state(self.settings, self, self.tabs)
            self.tray.close()
            self.setEnabled(False)
            self.statusBar().showMessage("Stopping the broker…")
        try:
            await self.runner.finish(SHUTDOWN_GRACE_SECONDS)
            await self.service.close()
        except Exception:
            log.exception("the broker did not stop cleanly")
        finally:
            self.bridge.detach()
            self._shut_down = True
            if shiboken6.isValid(self):  # Qt may have deleted the window meanwhile (deleteLater after close)
                self.shutdown_finished.emit()
                self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Closing waits for the broker to stop: the first close only starts `shutdown()`, which closes again."""
        if self._shut_down:
            event.accept()
            return
        event.ignore()
        if not self._quitting and self._shutdown_task is None and self.tray.available and self._close_to_tray():
            self.hide()
            self.show_message("mqttdesk runs on in the tray")
            return
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.ensure_future(self._shutdown())

    def _close_to_tray(self) -> bool:
        """Whether closing the window keeps the broker running in the tray: asked the first time, then remembered."""
        chosen = flag(self.settings, CLOSE_TO_TRAY)
        if chosen is None:
            chosen = self.ask_close_to_tray()
            self.settings.setValue(CLOSE_TO_TRAY, chosen)
            self.settings.sync()
        return chosen

    def ask_close_to_tray(self) -> bool:
        """The question, once (tests replace it with their answer)."""
        answer = QMessageBox.question(
            self, "Keep the broker running?",
            "Keep the broker running in the tray when the window is closed?\n\nQuit in the File menu or the "
            "tray's menu stops it. You will not be asked again.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        return answer is QMessageBox.StandardButton.Yes

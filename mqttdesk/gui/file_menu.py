"""File → Export and Import: the same exports and imports as `mqttdesk export` and `mqttdesk import`.

An export ends with its report of what the target cannot express; an import shows its plan first (what will be
created, what clashes, what cannot be taken in) and is applied, all or nothing, only when it is confirmed and
nothing clashes. `install_file_menu` adds these actions to the window's File menu (made when there is none yet).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.interop.plan import ImportPlan
from mqttdesk.store.interop import apply_plan, export_files, plan_import

EXPORTS = (("Export to Mosquitto (password_file, acl_file, mosquitto.conf)…", "mosquitto"),
           ("Export dynamic-security JSON…", "dynsec"),
           ("Export to EMQX (users, acl.conf)…", "emqx"))


class TextDialog(QDialog):
    """Lines to read (a report, a plan) and, for an import, the button that applies it."""

    def __init__(self, title: str, heading: str, lines: list[str], parent: QWidget | None = None, *,
                 apply_text: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(720, 420)
        self.text = QPlainTextEdit("\n".join(lines))
        self.text.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.apply_button: QPushButton | None = None
        if apply_text is not None:
            self.apply_button = buttons.addButton(apply_text, QDialogButtonBox.ButtonRole.AcceptRole)
            buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(heading))
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)


class FileActions:
    """What the menu's actions do; the dialogs are attributes so a test can look at them."""

    def __init__(self, window: QMainWindow, context: TabContext) -> None:
        self.window, self.context = window, context
        self.last_dialog: TextDialog | None = None

    def _show(self, dialog: TextDialog) -> int:
        self.last_dialog = dialog
        return dialog.exec()

    def export(self, target: str) -> None:
        if target == "dynsec":
            chosen, _ = QFileDialog.getSaveFileName(self.window, "Export dynamic-security JSON",
                                                    "dynamic-security.json", "JSON (*.json)")
        else:
            chosen = QFileDialog.getExistingDirectory(self.window, f"Export to {target}: choose a directory")
        if chosen:
            self.export_to(target, Path(chosen))

    def export_to(self, target: str, destination: Path) -> None:
        try:
            report = export_files(self.context.store, target, destination)
        except (MqttdeskError, OSError) as exc:
            self.context.show_message(f"Error: export failed: {exc}")
            return
        self.context.show_message(f"exported to {destination}")
        self._show(TextDialog("Export", f"Written to {destination}", report.lines(), self.window))

    def import_mosquitto(self) -> None:
        passwd, _ = QFileDialog.getOpenFileName(self.window, "Import: Mosquitto password file")
        if not passwd:
            return
        acl, _ = QFileDialog.getOpenFileName(self.window, "Import: its ACL file (Cancel for none)")
        self.import_from("mosquitto", {"passwd": passwd, "acl": acl or None})

    def import_dynsec(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self.window, "Import: dynamic-security JSON", "", "JSON (*.json)")
        if chosen:
            self.import_from("dynsec", {"file": chosen})

    def import_from(self, source: str, files: dict[str, str | None]) -> ImportPlan | None:
        """Show the plan; apply it when confirmed. Returns the plan applied, or None."""
        try:
            plan = plan_import(self.context.store, source, files)
        except (MqttdeskError, OSError) as exc:
            self.context.show_message(f"Error: nothing imported: {exc}")
            return None
        heading = ("Nothing can be imported while names clash (rename or delete them first):" if plan.clashes
                   else "This import will create:")
        dialog = TextDialog("Import", heading, plan.lines(), self.window, apply_text="Import")
        assert dialog.apply_button is not None
        dialog.apply_button.setEnabled(not plan.clashes)
        if self._show(dialog) != QDialog.DialogCode.Accepted:
            return None
        try:
            apply_plan(self.context.store, plan)
        except MqttdeskError as exc:
            self.context.show_message(f"Error: nothing imported: {exc}")
            return None
        self.context.show_message(f"imported {len(plan.users)} users and {len(plan.roles)} roles")
        return plan


def _file_menu(window: QMainWindow) -> QMenu:
    for action in window.menuBar().actions():
        menu = action.menu()
        if isinstance(menu, QMenu) and action.text().replace("&", "") == "File":
            return menu
    return window.menuBar().addMenu("&File")


def install_file_menu(window: QMainWindow, context: TabContext) -> FileActions:
    """Add Export… and Import… to the File menu, above what it holds already (Settings…, Quit)."""
    actions = FileActions(window, context)
    menu = _file_menu(window)
    before = menu.actions()[0] if menu.actions() else None

    def add(action: QAction | None) -> None:
        if action is None and before is not None:
            menu.insertSeparator(before)
        elif action is None:
            menu.addSeparator()
        elif before is not None:
            menu.insertAction(before, action)
        else:
            menu.addAction(action)

    for text, target in EXPORTS:
        export = QAction(text, window)
        export.triggered.connect(lambda _checked=False, t=target: actions.export(t))
        add(export)
    add(None)
    for text, handler in (("Import Mosquitto password (and ACL) file…", actions.import_mosquitto),
                          ("Import dynamic-security JSON…", actions.import_dynsec)):
        imported = QAction(text, window)
        imported.triggered.connect(lambda _checked=False, h=handler: h())
        add(imported)
    if before is not None:
        add(None)
    return actions

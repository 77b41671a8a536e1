"""What the credential tabs (Users, Bootstrap, Devices) share: a sorted, filtered table of keyed records, a button
bar whose buttons follow the selection, a context menu on the rows, and at most one dialog or confirmation open at a
time (`dialog`, which tests answer).

The context menu is built from the tab's own buttons (`set_row_menu`): the same slots, enabled exactly when the
buttons are, so a rule such as "a revoked credential cannot be suspended" is written once. Suspend, Activate and
Revoke follow the state machine (`update_state_buttons`); a disabled one says why in its tooltip, in the menu too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import QItemSelection, QPoint, Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QHeaderView, QLineEdit, QMenu, QPushButton, QVBoxLayout, QWidget

from mqttdesk.core.errors import InvalidTransitionError, MqttdeskError
from mqttdesk.core.states import CredentialState, StateAction, next_state
from mqttdesk.gui.models.credential_model import CredentialTableModel
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.confirm import ConfirmationBox, ask_confirmation
from mqttdesk.gui.widgets.state_badge import StateBadgeDelegate
from mqttdesk.gui.widgets.tables import make_table, select_row, selected_row, set_column_widths


class Credential(Protocol):
    """What the state buttons need of a user, bootstrap credential or device."""

    @property
    def state(self) -> CredentialState: ...

    @property
    def last_used(self) -> float | None: ...


def buttons_menu(parent: QWidget, buttons: Sequence[QPushButton | None]) -> QMenu:
    """A menu whose entries are these buttons' own: text, tooltip, slot and enabled state (None: a separator)."""
    menu = QMenu(parent)
    menu.setToolTipsVisible(True)
    for button in buttons:
        if button is None:
            menu.addSeparator()
            continue
        action = menu.addAction(button.text())
        action.setToolTip(button.toolTip())
        action.setEnabled(button.isEnabled())
        action.triggered.connect(button.click)
    return menu


class RecordTab(QWidget):
    def __init__(self, context: TabContext, model: CredentialTableModel[Any], *, filter_hint: str,
                 parent: QWidget | None = None) -> None:
        """The tab owns `model` and keeps it current from the bridge: store changes, sessions, new Auth log entries.
        The model sorts and filters its rows itself (the view shows it directly, no proxy)."""
        super().__init__(parent)
        self.context = context
        self.dialog: QDialog | None = None  # the dialog or confirmation open right now (tests answer it)
        self.model = model
        model.setParent(self)
        context.bridge.store_changed.connect(model.on_store_changes)
        context.bridge.session_events.connect(model.on_session_events)
        context.bridge.auth_entries.connect(model.on_auth_entries)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(filter_hint)
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMinimumWidth(200)
        self.filter_edit.textChanged.connect(model.set_filter)
        self.table = make_table(model, sortable=True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.dataChanged.connect(lambda *_: self.update_actions())
        self.model.rowsRemoved.connect(lambda *_: self.update_actions())
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu_requested)
        self.menu: QMenu | None = None  # the row's context menu while it is open (tests read it)
        self._menu_buttons: list[QPushButton | None] = []
        self._state_buttons: dict[StateAction, QPushButton] = {}
        self._tips: dict[QPushButton, str] = {}

    def button(self, text: str, slot: Callable[[], None], tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        self._tips[button] = tip
        return button

    def set_up_columns(self, key_column: int, widths: dict[int, int]) -> None:
        """Sorted by `key_column`, the state drawn as a badge, `widths` in pixels; the last forced disconnect (a
        sentence) takes what is left, its tooltip has it whole."""
        self.table.sortByColumn(key_column, Qt.SortOrder.AscendingOrder)
        self.table.setItemDelegateForColumn(self.model.STATE_COLUMN, StateBadgeDelegate(self.table))
        set_column_widths(self.table, widths)
        self.table.horizontalHeader().setSectionResizeMode(self.model.FORCED_COLUMN, QHeaderView.ResizeMode.Stretch)

    def lay_out(self, buttons: list[QPushButton], *, status: QWidget | None = None) -> None:
        """Buttons left, then `status` (e.g. a count), the filter right, the table below."""
        bar = QHBoxLayout()
        for button in buttons:
            bar.addWidget(button)
        bar.addStretch(1)
        if status is not None:
            bar.addWidget(status)
        bar.addWidget(self.filter_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)

    # -- selection ----------------------------------------------------------------------------------

    def selected(self) -> Any:
        """The record of the selected row, or None."""
        row = selected_row(self.table)
        return None if row is None else self.model.record_at(row)

    def select(self, key: str) -> None:
        select_row(self.table, self.model.row_of(key))

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.update_actions()

    def update_actions(self) -> None:
        """Enable the buttons that make sense for the selection."""
        raise NotImplementedError

    def set_state_buttons(self, buttons: dict[StateAction, QPushButton]) -> None:
        """The buttons that move the selected credential through the state machine (see `update_state_buttons`)."""
        self._state_buttons = dict(buttons)

    def update_state_buttons(self, record: Credential | None) -> None:
        """Enable each state button the state machine allows for `record`; a disabled one's tooltip says why not."""
        for action, button in self._state_buttons.items():
            why_not = ""
            if record is None:
                why_not = "Select a row first"
            else:
                try:
                    next_state(record.state, action, ever_used=record.last_used is not None)
                except InvalidTransitionError as exc:
                    why_not = f"Not now: {exc}"
            button.setEnabled(not why_not)
            tip = self._tips.get(button, "")
            button.setToolTip(tip if not why_not or record is None else f"{why_not}.\n{tip}")

    # -- the rows' context menu ---------------------------------------------------------------------

    def set_row_menu(self, buttons: Sequence[QPushButton | None]) -> None:
        """What a right click on a row offers, in this order; None draws a separator."""
        self._menu_buttons = list(buttons)

    def row_menu(self) -> QMenu:
        """A menu for the selected row whose entries are the buttons' own: text, tooltip, slot and enabled state."""
        self.update_actions()
        return buttons_menu(self, self._menu_buttons)

    def _context_menu_requested(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if not index.isValid() or not self._menu_buttons:
            return
        self.table.selectRow(index.row())
        menu = self.row_menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.aboutToHide.connect(lambda: self._menu_closed(menu))
        self.menu = menu
        menu.popup(self.table.viewport().mapToGlobal(position))

    def _menu_closed(self, menu: QMenu) -> None:
        if self.menu is menu:
            self.menu = None

    # -- dialogs ------------------------------------------------------------------------------------

    def open_dialog(self, dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: self._closed(dialog))
        self.dialog = dialog
        dialog.open()

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def confirm(self, title: str, text: str, label: str, informative: str, then: Callable[[ConfirmationBox], None],
                *, check_label: str = "") -> ConfirmationBox:
        """Ask first; `then(box)` runs on confirmation and may read `box.checked`."""
        box: ConfirmationBox | None = None

        def confirmed() -> None:
            assert box is not None
            then(box)

        box = ask_confirmation(self, title, text, label, confirmed, informative=informative, check_label=check_label)
        box.finished.connect(lambda _result: self._closed(box))
        self.dialog = box
        return box

    def run(self, change: Callable[[], str]) -> None:
        """Make a quick store change; its sentence, or the user's mistake, goes to the status bar."""
        try:
            message = change()
        except MqttdeskError as exc:
            self.context.show_message(str(exc))
            return
        self.context.show_message(message)

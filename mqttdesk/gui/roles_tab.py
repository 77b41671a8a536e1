"""The Roles tab: roles, the topic rules of the selected role, and who holds it (users, bootstrap credentials,
devices with roles of their own, anonymous access)."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.core.acl import Effect, Permission, validate_rule_filter
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.model import Role
from mqttdesk.gui.models.roles_model import (
    HOLDERS_TOOLTIP,
    ROLE_NAME,
    ROLE_RULES,
    ROLE_USERS,
    RULE_EFFECT,
    RULE_FILTER,
    RULE_PERMISSION,
    RoleHolders,
    RoleMembersModel,
    RolesTableModel,
    RulesTableModel,
    describe_holders,
)
from mqttdesk.gui.models.sorting import sorted_proxy
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.confirm import ask_confirmation
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.tables import make_table, select_source_row, selected_source_row, set_column_widths

PATTERN_HINT = (
    "Wildcards: <b>+</b> matches one level, <b>#</b> everything below (last level only). "
    "Patterns, as whole levels: <b>%u</b> the username, <b>%c</b> the client id, <b>%t</b> the tenant "
    "— e.g. <code>devices/%c/#</code> lets every client use its own subtree. Deny rules win over allow; "
    "with no matching allow rule, access is denied."
)


class RolesTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.dialog: QDialog | None = None
        store = context.store
        self.holders = RoleHolders(store, self)
        context.bridge.store_changed.connect(self.holders.on_store_changes)
        self.roles_model = RolesTableModel(store, self, self.holders)
        self.rules_model = RulesTableModel(store, self)
        self.members_model = RoleMembersModel(store, self, self.holders)
        for model in (self.roles_model, self.rules_model, self.members_model):
            context.bridge.store_changed.connect(model.on_store_changes)
        self.roles_proxy = sorted_proxy(self.roles_model, self)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_roles_pane())
        splitter.addWidget(self._build_role_pane())
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        splitter.setSizes([320, 780])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.roles_model.rowsInserted.connect(self._role_inserted)
        self._show_role(None)

    # -- layout -------------------------------------------------------------------------------------

    def _build_roles_pane(self) -> QWidget:
        self.roles_table = make_table(self.roles_proxy, sortable=True)
        self.roles_table.sortByColumn(ROLE_NAME, Qt.SortOrder.AscendingOrder)
        header = self.roles_table.horizontalHeader()
        header.setSectionResizeMode(ROLE_NAME, QHeaderView.ResizeMode.Stretch)
        for column in (ROLE_RULES, ROLE_USERS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.roles_table.selectionModel().selectionChanged.connect(self._role_selection_changed)

        self.role_name_edit = QLineEdit()
        self.role_name_edit.setObjectName("role_name")
        self.role_name_edit.setPlaceholderText("new role name")
        self.role_name_edit.returnPressed.connect(self.add_role)
        self.add_role_button = QPushButton("Add role")
        self.add_role_button.clicked.connect(self.add_role)
        self.role_error = FieldError()
        self.delete_role_button = QPushButton("Delete role…")
        self.delete_role_button.clicked.connect(self.delete_role)

        add_row = QHBoxLayout()
        add_row.addWidget(self.role_name_edit, 1)
        add_row.addWidget(self.add_role_button)
        pane = QWidget()
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.roles_table, 1)
        layout.addLayout(add_row)
        layout.addWidget(self.role_error)
        layout.addWidget(self.delete_role_button, 0, Qt.AlignmentFlag.AlignLeft)
        return pane

    def _build_role_pane(self) -> QWidget:
        self.role_title = QLabel()
        self.role_title.setStyleSheet("font-size: 14px; font-weight: 600;")
        self.rules_table = make_table(self.rules_model)
        header = self.rules_table.horizontalHeader()
        header.setSectionResizeMode(RULE_FILTER, QHeaderView.ResizeMode.Stretch)
        set_column_widths(self.rules_table, {RULE_PERMISSION: 150, RULE_EFFECT: 80})
        self.rules_table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.rules_model.modelReset.connect(self._update_actions)

        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("topic_filter")
        self.filter_edit.setPlaceholderText("topic filter, e.g. sensors/+/temperature or devices/%c/#")
        self.filter_edit.setToolTip(PATTERN_HINT)
        self.filter_edit.returnPressed.connect(self.add_rule)
        self.permission_combo = QComboBox()
        for permission, words in ((Permission.READ, "read (subscribe)"), (Permission.WRITE, "write (publish)"),
                                  (Permission.READWRITE, "read and write")):
            self.permission_combo.addItem(words, permission)
        self.effect_combo = QComboBox()
        self.effect_combo.addItem("allow", Effect.ALLOW)
        self.effect_combo.addItem("deny", Effect.DENY)
        self.add_rule_button = QPushButton("Add rule")
        self.add_rule_button.clicked.connect(self.add_rule)
        self.remove_rule_button = QPushButton("Remove rule")
        self.remove_rule_button.clicked.connect(self.remove_rule)
        self.rule_error = FieldError()
        hint = QLabel(PATTERN_HINT)
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #5f6368;")

        form = QGridLayout()
        form.addWidget(self.filter_edit, 0, 0)
        form.addWidget(self.permission_combo, 0, 1)
        form.addWidget(self.effect_combo, 0, 2)
        form.addWidget(self.add_rule_button, 0, 3)
        form.addWidget(self.rule_error, 1, 0, 1, 4)
        form.addWidget(hint, 2, 0, 1, 4)
        form.setColumnStretch(0, 1)
        rules_box = QGroupBox("Rules")
        rules_layout = QVBoxLayout(rules_box)
        rules_layout.addWidget(self.rules_table, 1)
        rules_layout.addWidget(self.remove_rule_button, 0, Qt.AlignmentFlag.AlignLeft)
        rules_layout.addLayout(form)

        self.members_view = QListView()
        self.members_view.setModel(self.members_model)
        self.members_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.members_view.setAlternatingRowColors(True)
        members_box = QGroupBox("Who has this role")
        members_box.setToolTip(HOLDERS_TOOLTIP)
        members_layout = QVBoxLayout(members_box)
        members_layout.addWidget(self.members_view)

        pane = QWidget()
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.role_title)
        layout.addWidget(rules_box, 3)
        layout.addWidget(members_box, 1)
        return pane

    # -- selection ----------------------------------------------------------------------------------

    def selected_role(self) -> Role | None:
        row = selected_source_row(self.roles_table, self.roles_proxy)
        return None if row is None else self.roles_model.role_at(row)

    def select_role(self, name: str) -> None:
        select_source_row(self.roles_table, self.roles_proxy, self.roles_model.row_of(name))

    def _role_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        role = self.selected_role()
        self._show_role(role.name if role else None)

    def _role_inserted(self) -> None:
        if self.selected_role() is None and self.roles_model.rowCount() == 1:
            self.select_role(self.roles_model.role_at(0).name)

    def _show_role(self, name: str | None) -> None:
        self.rules_model.set_role(name)
        self.members_model.set_role(name)
        self.role_title.setText(f"Role '{name}'" if name else "Select a role, or add one")
        self.rule_error.clear_error()
        self._update_actions()

    def _update_actions(self) -> None:
        has_role = self.rules_model.role_name is not None
        for widget in (self.filter_edit, self.permission_combo, self.effect_combo, self.add_rule_button,
                       self.delete_role_button):
            widget.setEnabled(has_role)
        self.remove_rule_button.setEnabled(bool(self.rules_table.selectionModel().selectedRows()))

    # -- actions ------------------------------------------------------------------------------------

    def focus_new_role(self) -> None:
        """Where a new role's name goes (the empty table's link)."""
        self.role_name_edit.setFocus()

    def add_role(self) -> None:
        name = self.role_name_edit.text()
        try:
            self.context.store.roles.add(name)
        except MqttdeskError as exc:
            self.role_error.show_error(str(exc))
            return
        self.role_error.clear_error()
        self.role_name_edit.clear()
        self.select_role(name)
        self.context.show_message(f"role '{name}' added: give it rules, then give it to users")

    def delete_role(self) -> None:
        role = self.selected_role()
        if role is None:
            return
        if role.name in self.context.store.settings.anonymous().roles:
            # the store refuses it (anonymous clients would get every topic); say so before asking
            self.role_error.show_error(f"Anonymous clients get role '{role.name}': change the anonymous roles in "
                                       "the top bar first, or turn anonymous access off.")
            return
        consequence = describe_holders(self.holders.of(role.name))
        box = ask_confirmation(self, "Delete role", f"Delete role '{role.name}' and its rules?", "Delete",
                               lambda: self._delete_role(role.name), informative=consequence)
        self.dialog = box
        box.finished.connect(lambda _result: setattr(self, "dialog", None))

    def _delete_role(self, name: str) -> None:
        try:
            self.context.store.roles.delete(name)
        except MqttdeskError as exc:
            self.context.show_message(str(exc))
            return
        self.context.show_message(f"role '{name}' deleted")

    def add_rule(self) -> None:
        role = self.rules_model.role_name
        if role is None:
            return
        topic_filter = self.filter_edit.text().strip()
        try:
            if not topic_filter:
                raise MqttdeskError("enter a topic filter, e.g. sensors/# or devices/%c/#")
            validate_rule_filter(topic_filter)
            # Qt hands the enum data back as plain strings
            self.context.store.roles.set_rule(role, topic_filter, Permission(self.permission_combo.currentData()),
                                              Effect(self.effect_combo.currentData()))
        except MqttdeskError as exc:
            self.rule_error.show_error(str(exc))
            return
        self.rule_error.clear_error()
        self.filter_edit.clear()

    def remove_rule(self) -> None:
        role = self.rules_model.role_name
        rows = self.rules_table.selectionModel().selectedRows()
        if role is None or not rows:
            return
        rule = self.rules_model.rule_at(rows[0].row())
        try:
            self.context.store.roles.remove_rule(role, rule.topic_filter, rule.effect)
        except MqttdeskError as exc:
            self.context.show_message(str(exc))

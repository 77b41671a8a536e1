"""Pick any number of roles from the ones the store knows (a checkable list)."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget


class RolePicker(QListWidget):
    def __init__(self, role_names: Iterable[str], checked: Iterable[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("roles")
        chosen = set(checked)
        for name in role_names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in chosen else Qt.CheckState.Unchecked)
            self.addItem(item)
        if self.count() == 0:
            self.addItem(QListWidgetItem("(no roles yet: add them in the Roles tab)"))
            self.setEnabled(False)
        self.setMaximumHeight(140)

    def set_checked(self, name: str, checked: bool = True) -> None:
        for item in self.findItems(name, Qt.MatchFlag.MatchExactly):
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def checked_roles(self) -> tuple[str, ...]:
        return tuple(
            self.item(row).text()
            for row in range(self.count())
            if self.item(row).checkState() is Qt.CheckState.Checked
        )

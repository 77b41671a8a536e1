"""A path entry with Browse…: a file to open, a file to save, or a folder. The path may be typed too, so tests and
people who paste paths need no file dialog."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class PathKind(Enum):
    OPEN = "open"
    SAVE = "save"
    FOLDER = "folder"


class FileField(QWidget):
    def __init__(self, kind: PathKind, title: str, *, placeholder: str = "", file_filter: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self._title = title
        self._filter = file_filter
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse_button)

    def text(self) -> str:
        return self.edit.text().strip()

    def path(self) -> Path | None:
        return Path(self.text()).expanduser() if self.text() else None

    def set_path(self, path: Path | str) -> None:
        self.edit.setText(str(path))

    def browse(self) -> None:
        start = self.text() or str(Path.home())
        if self.kind is PathKind.FOLDER:
            chosen = QFileDialog.getExistingDirectory(self, self._title, start)
        elif self.kind is PathKind.SAVE:
            chosen, _ = QFileDialog.getSaveFileName(self, self._title, start, self._filter)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self._title, start, self._filter)
        if chosen:
            self.edit.setText(chosen)

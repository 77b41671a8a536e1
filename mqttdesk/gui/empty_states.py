"""What each tab's table says while it is empty, and the action that fills it: one table, so every tab says it the
same way ("No users yet — Add user…")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtWidgets import QAbstractItemView, QWidget

from mqttdesk.gui.widgets.empty_state import EmptyState

# tab title: (the view's attribute, what it says, the action's link text, the tab's method it runs)
EMPTY_STATES: dict[str, tuple[str, str, str | None, str | None]] = {
    "Users": ("table", "No users yet", "Add user…", "add_user"),
    "Bootstrap": ("table", "No bootstrap credentials yet: one shared login for a fleet of devices",
                  "Add bootstrap credential…", "add_bootstrap"),
    "Devices": ("table", "No devices yet: a device appears here on its first connect with a bootstrap credential "
                "that registers devices", None, None),
    "Roles": ("roles_table", "No roles yet: type a name above", "Add role…", "focus_new_role"),
    "Tokens": ("table", "No token issuers yet: add one below to let clients log in with a JWT", None, None),
    "Certificates": ("table", "No client certificates issued yet", None, None),
    "Clients": ("table", "No client connected", None, None),
    "Auth log": ("table", "No decisions yet: every connect, refusal and session end appears here", None, None),
}


def install_empty_states(tabs: Mapping[str, QWidget]) -> dict[str, EmptyState]:
    installed: dict[str, EmptyState] = {}
    for title, (attribute, text, link, method) in EMPTY_STATES.items():
        tab = tabs.get(title)
        view = getattr(tab, attribute, None)
        if not isinstance(view, QAbstractItemView):
            continue
        action: tuple[str, Callable[[], Any]] | None = None
        if link is not None and method is not None:
            action = (link, getattr(tab, method))
        installed[title] = EmptyState(view, text, action)
    return installed

"""The Users table: one row per user, refreshed row by row from store change notices, session events and new Auth
log entries (the last forced disconnect). The tenant is the part after the '@' of `name@tenant`; the login says
whether the user logs in by password, client certificate or both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot

from mqttdesk.broker.registry import SessionEvent, SessionEventKind, SessionRegistry
from mqttdesk.core.model import AuthMode, CredentialKind, User
from mqttdesk.core.names import tenant_of
from mqttdesk.gui.formatting import format_time, plural, state_tooltip
from mqttdesk.gui.models import forced_disconnects
from mqttdesk.gui.models.credential_model import STATE_ORDER, CredentialTableModel
from mqttdesk.gui.models.forced_disconnects import forced_text, forced_tooltip
from mqttdesk.gui.models.sorting import SORT_ROLE
from mqttdesk.gui.models.table_model import AnyIndex
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_icon
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store

NAME, TENANT, STATE, LOGIN, ROLES, CREATED, LAST_USED, SESSIONS, FORCED = range(9)
HEADERS = ("Name", "Tenant", "State", "Login", "Roles", "Created", "Last used", "Sessions now",
           forced_disconnects.HEADER)
LOGIN_TIPS = {
    AuthMode.PASSWORD: "Logs in with its password only; a client certificate naming it is refused",
    AuthMode.CERTIFICATE: "Logs in with a client certificate whose CN is its name (mutual TLS), no password",
    AuthMode.BOTH: "Logs in with its password, or with a client certificate whose CN is its name",
}


class UsersTableModel(CredentialTableModel[User]):
    HEADERS = HEADERS
    STATE_COLUMN = STATE
    FORCED_COLUMN = FORCED
    HEADER_TIPS = (
        "The MQTT username",
        "The part after '@' in name@tenant: %t in a topic filter stands for it",
        "The user's state (hover a cell for since when and the last change)",
        "How it logs in: password, certificate or both (and the trusted CA whose certificates count, if bound)",
        "The topic permissions the user gets",
        "When the user was created",
        "When the user last logged in",
        "Sessions logged in as this user right now",
        forced_disconnects.HEADER_TIP,
    )

    def __init__(self, store: Store, registry: SessionRegistry, parent: QObject | None = None) -> None:
        super().__init__(store, registry, "username", parent)
        self._sessions: dict[str, int] = {}
        self.reload()

    @staticmethod
    def key_of(record: User) -> str:
        return record.name

    # -- reading ------------------------------------------------------------------------------------

    def user_at(self, row: int) -> User:
        return self.record_at(row)

    def sessions_of(self, name: str) -> int:
        return self._sessions.get(name, 0)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        user = self._record_of(index)
        if user is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(user, column)
        if role == SORT_ROLE:
            return self._sort_key(user, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(user, column)
        if column == STATE:
            if role == STATE_ROLE:
                return user.state
            if role == Qt.ItemDataRole.DecorationRole:
                return state_icon(user.state)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == SESSIONS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _tenant(self, user: User) -> str:
        return tenant_of(user.name) or ""

    def _display(self, user: User, column: int) -> str:
        if column == NAME:
            return user.name
        if column == TENANT:
            return tenant_of(user.name) or "—"
        if column == STATE:
            return user.state.value
        if column == LOGIN:
            if user.auth.takes_certificate and user.certificate_ca:
                return f"{user.auth.value} ({user.certificate_ca})"
            return user.auth.value
        if column == ROLES:
            return ", ".join(user.roles) or "—"
        if column == CREATED:
            return format_time(user.created)
        if column == LAST_USED:
            return format_time(user.last_used)
        if column == SESSIONS:
            return str(self._sessions.get(user.name, 0))
        return forced_text(self.last_forced_disconnect(user))

    def _sort_key(self, user: User, column: int) -> Any:
        if column == STATE:
            return STATE_ORDER[user.state]
        if column == CREATED:
            return user.created
        if column == LAST_USED:
            return user.last_used or 0.0
        if column == SESSIONS:
            return self._sessions.get(user.name, 0)
        if column == FORCED:
            return self._forced_sort_key(user)
        return self._display(user, column).lower()

    def _tooltip(self, user: User, column: int) -> str | None:
        if column == STATE:  # read on hover only: one small query
            return state_tooltip(user.state, user.state_since, self._store.users.history(user.name))
        if column == LOGIN:
            issuer = (f"certificates of trusted CA '{user.certificate_ca}' only" if user.certificate_ca
                      else "certificates of mqttdesk's CA")
            return LOGIN_TIPS[user.auth] + (f".\nAccepts {issuer}." if user.auth.takes_certificate else ".")
        if column == ROLES and not user.roles:
            return "No roles: this user may connect but not publish or subscribe (deny by default)."
        if column == TENANT:
            tenant = tenant_of(user.name)
            return f"Tenant '{tenant}': %t in a topic filter means '{tenant}' for this user" if tenant else (
                "No tenant: the name has no '@tenant' part, so %t matches nothing for this user")
        if column == SESSIONS:
            return plural(self.sessions_of(user.name), "session") + " logged in as this user now"
        if column == FORCED:
            return forced_tooltip(self.last_forced_disconnect(user))
        return None

    # -- updating -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read everything again (at start; after that, changes arrive one user at a time)."""
        self._sessions = {}
        for live in self._registry:
            if live.credential.kind is CredentialKind.USER:
                self._sessions[live.credential.name] = self._sessions.get(live.credential.name, 0) + 1
        self._reset_records(self._store.users.list())

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        if any(change.kind is ChangeKind.ROLE for change in changes):  # a deleted role leaves users without notice
            self._sync(self._store.users.list())
            return
        for change in changes:
            if change.kind is ChangeKind.USER:
                self._put(change.key, self._store.users.find(change.key))

    @Slot(object)
    def on_session_event(self, event: SessionEvent) -> None:
        if event.kind is SessionEventKind.UPDATED or event.session.credential.kind is not CredentialKind.USER:
            return
        name = event.session.credential.name
        # counted from the registry, not +1/-1: a take-over replaces a session without a DISCONNECTED event
        count = len(self._registry.by_credential(event.session.credential))
        if self._sessions.get(name, 0) == count:
            return
        self._sessions[name] = count
        self._key_changed(name, SESSIONS, SESSIONS)

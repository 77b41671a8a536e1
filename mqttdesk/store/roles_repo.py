"""Roles and their topic rules."""

from __future__ import annotations

import builtins
import sqlite3
import time
from typing import TYPE_CHECKING

from mqttdesk.core.acl import Effect, Permission, Rule, validate_rule_filter
from mqttdesk.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from mqttdesk.core.model import Role
from mqttdesk.core.names import validate_name
from mqttdesk.store.changes import Change, ChangeKind

if TYPE_CHECKING:
    from mqttdesk.store.db import Store


def parse_permission(text: str) -> Permission:
    try:
        return Permission(text)
    except ValueError:
        raise ValidationError(f"permission must be read, write or readwrite, not {text!r}") from None


def _union(first: Permission, second: Permission) -> Permission:
    return first if first == second else Permission.READWRITE


class RolesRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self) -> list[Role]:
        with self._store.read() as db:
            rules: dict[str, list[Rule]] = {}
            for row in db.execute("SELECT role, topic_filter, permission, effect FROM role_rules ORDER BY role, id"):
                rules.setdefault(row["role"], []).append(
                    Rule(row["role"], row["topic_filter"], Permission(row["permission"]), Effect(row["effect"]))
                )
            names = [row["name"] for row in db.execute("SELECT name FROM roles ORDER BY name")]
            return [Role(name, tuple(rules.get(name, ()))) for name in names]

    def get(self, name: str) -> Role:
        for role in self.list():
            if role.name == name:
                return role
        raise NotFoundError(f"no role named '{name}'")

    def names(self) -> builtins.list[str]:
        return [row["name"] for row in self._store.connection.execute("SELECT name FROM roles ORDER BY name")]

    def members(self, name: str) -> builtins.list[str]:
        rows = self._store.connection.execute("SELECT user FROM user_roles WHERE role = ? ORDER BY user", (name,))
        return [row["user"] for row in rows]

    def add(self, name: str) -> Role:
        validate_name("role", name)
        with self._store.write(Change(ChangeKind.ROLE, name)) as db:
            if db.execute("SELECT 1 FROM roles WHERE name = ?", (name,)).fetchone():
                raise AlreadyExistsError(f"a role named '{name}' already exists")
            db.execute("INSERT INTO roles (name, created) VALUES (?, ?)", (name, time.time()))
        return Role(name)

    def delete(self, name: str) -> None:
        """Delete a role; users, bootstrap credentials and devices that had it simply lose it.

        A role anonymous clients get is refused: without it they would get every topic (no roles means all), and a
        later role of the same name would silently become theirs.
        """
        if name in self._store.settings.anonymous().roles:
            raise ValidationError(f"anonymous clients get role '{name}': change that first "
                                  "(mqttdesk anonymous on --role ... or anonymous off)")
        with self._store.write(Change(ChangeKind.ROLE, name)) as db:
            self._require(db, name)
            for user in self.members(name):
                self._store.note(Change(ChangeKind.USER, user))
            for kind, table, owner in ((ChangeKind.BOOTSTRAP, "bootstrap_roles", "bootstrap"),
                                       (ChangeKind.DEVICE, "device_roles", "device")):
                for (key,) in db.execute(f"SELECT {owner} FROM {table} WHERE role = ?", (name,)).fetchall():
                    self._store.note(Change(kind, key))
            db.execute("DELETE FROM roles WHERE name = ?", (name,))

    def set_rule(self, name: str, topic_filter: str, permission: Permission, effect: Effect) -> Role:
        """Add a rule; a second rule of the same effect on the same filter widens the first (read + write)."""
        validate_rule_filter(topic_filter)
        with self._store.write(Change(ChangeKind.ROLE, name)) as db:
            self._require(db, name)
            row = db.execute(
                "SELECT permission FROM role_rules WHERE role = ? AND topic_filter = ? AND effect = ?",
                (name, topic_filter, effect.value),
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO role_rules (role, topic_filter, permission, effect) VALUES (?, ?, ?, ?)",
                    (name, topic_filter, permission.value, effect.value),
                )
            else:
                merged = _union(Permission(row["permission"]), permission)
                db.execute(
                    "UPDATE role_rules SET permission = ? WHERE role = ? AND topic_filter = ? AND effect = ?",
                    (merged.value, name, topic_filter, effect.value),
                )
        return self.get(name)

    def allow(self, name: str, topic_filter: str, permission: Permission) -> Role:
        return self.set_rule(name, topic_filter, permission, Effect.ALLOW)

    def deny(self, name: str, topic_filter: str, permission: Permission) -> Role:
        return self.set_rule(name, topic_filter, permission, Effect.DENY)

    def remove_rule(self, name: str, topic_filter: str, effect: Effect | None = None) -> Role:
        """Remove the rule(s) on `topic_filter` (of one effect, or both)."""
        with self._store.write(Change(ChangeKind.ROLE, name)) as db:
            self._require(db, name)
            if effect is None:
                cursor = db.execute("DELETE FROM role_rules WHERE role = ? AND topic_filter = ?", (name, topic_filter))
            else:
                cursor = db.execute(
                    "DELETE FROM role_rules WHERE role = ? AND topic_filter = ? AND effect = ?",
                    (name, topic_filter, effect.value),
                )
            if cursor.rowcount == 0:
                raise NotFoundError(f"role '{name}' has no rule on '{topic_filter}'")
        return self.get(name)

    @staticmethod
    def _require(db: sqlite3.Connection, name: str) -> None:
        if db.execute("SELECT 1 FROM roles WHERE name = ?", (name,)).fetchone() is None:
            raise NotFoundError(f"no role named '{name}'")

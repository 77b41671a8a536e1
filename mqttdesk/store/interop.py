"""What `export` reads from the store and what `import` writes to it; the formats themselves are in interop/.

An import plan is applied in one write transaction: a clash or an error anywhere rolls all of it back, so nothing
is ever half-imported.
"""

from __future__ import annotations

from mqttdesk.core.errors import AlreadyExistsError
from mqttdesk.core.model import AuthMode, Directory
from mqttdesk.core.passwords import generate_password, hash_password
from mqttdesk.core.states import StateAction
from mqttdesk.interop.mosquitto import Listener, TlsListener
from mqttdesk.interop.plan import ImportPlan
from mqttdesk.store.db import Store
from mqttdesk.store.pki_files import CA_CERT, SERVER_CERT, SERVER_KEY

IMPORT_ACTOR = "import"


def export_source(store: Store) -> tuple[Directory, Listener]:
    """The snapshot to export and the listeners to describe (TLS with mqttdesk's CA files, when it has one)."""
    settings = store.settings.listeners()
    tls = None
    pki = store.pki
    if pki.exists() and pki.server_certificate() is not None:
        files = pki.files
        tls = TlsListener(settings.tls_port, str(files.path(CA_CERT)), str(files.path(SERVER_CERT)),
                          str(files.path(SERVER_KEY)))
    return store.directory(), Listener(settings.host, settings.tcp_port, tls)


def apply_plan(store: Store, plan: ImportPlan) -> None:
    """Create what the plan says, all of it or (on any error, a clash included) nothing."""
    if plan.clashes:
        raise AlreadyExistsError(f"nothing imported: {'; '.join(plan.clashes)}")
    with store.write():
        for role in plan.roles:
            store.roles.add(role.name)
            for rule in role.rules:
                store.roles.set_rule(role.name, rule.topic_filter, rule.permission, rule.effect)
        for user in plan.users:
            if user.password_hash is None:  # certificate only: a hash of a secret nobody knows
                store.users.add(user.name, hash_password(generate_password()), user.roles, actor=IMPORT_ACTOR,
                                auth=AuthMode.CERTIFICATE)
            else:
                store.users.add(user.name, user.password_hash, user.roles, actor=IMPORT_ACTOR)
            for pattern in user.reserved_client_ids:
                store.users.reserve(user.name, pattern, actor=IMPORT_ACTOR)
            if user.suspended:
                store.users.apply(user.name, StateAction.SUSPEND, actor=IMPORT_ACTOR)

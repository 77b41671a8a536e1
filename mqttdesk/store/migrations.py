"""Versioned schema migrations, tracked in SQLite's `user_version`. Append new steps; never edit an old one."""

from __future__ import annotations

import sqlite3

from mqttdesk.core.errors import MqttdeskError

MIGRATIONS: tuple[str, ...] = (
    # 1: users, roles and their rules, settings, the Auth log
    """
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'inactive',
        created REAL NOT NULL,
        state_since REAL NOT NULL,
        last_used REAL
    );
    CREATE TABLE roles (name TEXT PRIMARY KEY, created REAL NOT NULL);
    CREATE TABLE role_rules (
        id INTEGER PRIMARY KEY,
        role TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE ON UPDATE CASCADE,
        topic_filter TEXT NOT NULL,
        permission TEXT NOT NULL,
        effect TEXT NOT NULL,
        UNIQUE (role, topic_filter, effect)
    );
    CREATE TABLE user_roles (
        user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE ON UPDATE CASCADE,
        role TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE ON UPDATE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user, role)
    );
    CREATE TABLE auth_log (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        allowed INTEGER NOT NULL,
        client_id TEXT,
        username TEXT,
        method TEXT,
        address TEXT,
        topic TEXT,
        reason_code TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX auth_log_time ON auth_log(time);
    """,
    # 2: change feed for other processes (the CLI changes the store while an instance runs), transition
    #    history, and the decision path kept with each Auth log entry
    """
    CREATE TABLE change_log (
        id INTEGER PRIMARY KEY,
        origin TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        time REAL NOT NULL
    );
    CREATE TABLE credential_history (
        id INTEGER PRIMARY KEY,
        credential_kind TEXT NOT NULL,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT,
        actor TEXT NOT NULL,
        time REAL NOT NULL
    );
    CREATE INDEX credential_history_name ON credential_history(credential_kind, name);
    ALTER TABLE auth_log ADD COLUMN steps TEXT NOT NULL DEFAULT '[]';
    """,
    # 3: bootstrap credentials and the devices they register
    """
    CREATE TABLE bootstraps (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'inactive',
        register_devices INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        state_since REAL NOT NULL,
        last_used REAL
    );
    CREATE TABLE bootstrap_roles (
        bootstrap TEXT NOT NULL REFERENCES bootstraps(name) ON DELETE CASCADE ON UPDATE CASCADE,
        role TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE ON UPDATE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (bootstrap, role)
    );
    CREATE TABLE devices (
        client_id TEXT PRIMARY KEY,
        label TEXT NOT NULL DEFAULT '',
        bootstrap TEXT,  -- the credential that registered it; kept as text when that credential is deleted
        username TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        state TEXT NOT NULL,
        created REAL NOT NULL,
        state_since REAL NOT NULL,
        last_used REAL,
        last_address TEXT
    );
    CREATE INDEX devices_bootstrap ON devices(bootstrap);
    CREATE TABLE device_roles (
        device TEXT NOT NULL REFERENCES devices(client_id) ON DELETE CASCADE ON UPDATE CASCADE,
        role TEXT NOT NULL REFERENCES roles(name) ON DELETE CASCADE ON UPDATE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (device, role)
    );
    """,
    # 4: the Auth log is searched by client and by username (timeline, filters, last forced disconnect)
    """
    CREATE INDEX auth_log_client ON auth_log(client_id, id);
    CREATE INDEX auth_log_username ON auth_log(username, id);
    """,
    # 5: who may use a clientId — patterns a user reserved, and the credential that last used each clientId
    """
    CREATE TABLE user_client_ids (
        user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE ON UPDATE CASCADE,
        pattern TEXT NOT NULL,
        PRIMARY KEY (user, pattern)
    );
    CREATE TABLE client_ids (
        client_id TEXT PRIMARY KEY,
        credential_kind TEXT NOT NULL,
        credential_name TEXT NOT NULL,
        last_used REAL NOT NULL
    );
    CREATE INDEX client_ids_last_used ON client_ids(last_used);
    """,
    # 6: a refusal repeated from one address is one entry that counts them, from first_time to time
    """
    ALTER TABLE auth_log ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE auth_log ADD COLUMN first_time REAL;
    """,
    # 7: the MQTT version each decision was made for ('3.1.1' or '5'); NULL for entries logged before
    """
    ALTER TABLE auth_log ADD COLUMN protocol TEXT;
    """,
    # 8: certificates the built-in CA issued (never their private keys), CAs trusted for client certificates
    #    (never with a key) and the names the server certificate is issued for. Small tables kept lean (WITHOUT
    #    ROWID, no extra indexes): every page of schema is taken from the smallest Auth log budget.
    """
    CREATE TABLE certificates (
        serial TEXT PRIMARY KEY,  -- hex, as shown
        common_name TEXT NOT NULL,
        user TEXT,  -- the user it was issued for; kept as text when that user is deleted
        key_type TEXT NOT NULL,
        issuer TEXT NOT NULL,
        issued REAL NOT NULL,
        expires REAL NOT NULL,
        revoked_at REAL,
        fingerprint_sha256 TEXT NOT NULL,
        pem TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE trusted_cas (
        name TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        fingerprint_sha256 TEXT NOT NULL,  -- one name per CA: checked when one is added
        pem TEXT NOT NULL,
        crl_pem TEXT,
        added REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE server_sans (position INTEGER PRIMARY KEY, name TEXT NOT NULL);
    """,
    # 9: how a user logs in (password, certificate or both) and the trusted CA whose certificates name it
    """
    ALTER TABLE users ADD COLUMN auth TEXT NOT NULL DEFAULT 'password';
    ALTER TABLE users ADD COLUMN certificate_ca TEXT;
    """,
    # 10: token (JWT) issuers: an HMAC secret or a public key PEM, the claims a token must carry, its holders' roles
    """
    CREATE TABLE token_issuers (
        name TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        hmac INTEGER NOT NULL,
        issuer TEXT,
        audience TEXT,
        claim TEXT NOT NULL DEFAULT 'sub',
        token_field TEXT NOT NULL DEFAULT 'password',
        username_must_match INTEGER NOT NULL DEFAULT 0,
        roles TEXT NOT NULL DEFAULT '[]',
        created REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 11: bans of the login guard (password guessing, flapping) and of administrators: an address (or IPv6 /64), a
    #     username or a clientId, why, since when and until when (NULL: until removed), and who banned it
    """
    CREATE TABLE bans (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        reason TEXT NOT NULL,
        since REAL NOT NULL,
        until REAL,
        actor TEXT NOT NULL,
        PRIMARY KEY (kind, value)
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(MqttdeskError):
    """The data file was written by a newer mqttdesk; this one must not touch it."""


def _user_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the schema up to `SCHEMA_VERSION`; each step is one transaction. Returns the version it started at.

    When two processes (the CLI and the GUI) open a new data file at once, both try the same step; the slower one
    fails and, seeing that the other has applied it, goes on instead of failing.
    """
    start = _user_version(connection)
    if start > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"the data file has schema version {start}, newer than this mqttdesk understands ({SCHEMA_VERSION})"
        )
    for version in range(start, SCHEMA_VERSION):
        script = MIGRATIONS[version]
        # executescript commits on its own; wrap it so a failing step leaves the previous version intact
        try:
            connection.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version + 1};\nCOMMIT;")
        except sqlite3.Error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if _user_version(connection) > version:
                continue  # another process applied this step meanwhile
            raise
    return start

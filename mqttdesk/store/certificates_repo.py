"""The tables of the built-in CA: certificates it issued (never their private keys), CAs trusted for client
certificates (never with a key) and the names the server certificate is issued for. Changes are announced as
`ChangeKind.CERTIFICATE`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509

from mqttdesk.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from mqttdesk.core.names import validate_name
from mqttdesk.pki.certificate_states import CertificateState, certificate_state
from mqttdesk.pki.certificates import (
    certificate_pem,
    common_name,
    serial_hex,
)
from mqttdesk.pki.crl import Revoked
from mqttdesk.pki.fingerprints import sha256_fingerprint
from mqttdesk.pki.keys import describe_key
from mqttdesk.store.changes import Change, ChangeKind

if TYPE_CHECKING:
    import sqlite3

    from mqttdesk.store.db import Store


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    serial: str  # hex
    common_name: str
    user: str | None
    key_type: str  # "EC P-256", "RSA 2048"
    issuer: str
    issued: float  # not before
    expires: float  # not after
    revoked_at: float | None
    fingerprint_sha256: str
    pem: str

    def state(self, now: float | None = None) -> CertificateState:
        return certificate_state(self.issued, self.expires, self.revoked_at, time.time() if now is None else now)

    @property
    def serial_number(self) -> int:
        return int(self.serial, 16)


@dataclass(frozen=True, slots=True)
class TrustedCa:
    name: str
    subject: str
    fingerprint_sha256: str
    pem: str
    crl_pem: str | None  # its CRL when one came with it; without one, handshakes cannot check CRLs (see broker)
    added: float


def certificate_change(key: str) -> Change:
    return Change(ChangeKind.CERTIFICATE, key)


class CertificatesRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- issued certificates --------------------------------------------------------------------

    def record(self, certificate: x509.Certificate, user: str | None) -> CertificateRecord:
        """Keep an issued certificate (its PEM: public; the private key is never passed here)."""
        serial = serial_hex(certificate.serial_number)
        with self._store.write(certificate_change(serial)) as db:
            db.execute(
                "INSERT INTO certificates (serial, common_name, user, key_type, issuer, issued, expires, revoked_at,"
                " fingerprint_sha256, pem) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (serial, common_name(certificate.subject) or certificate.subject.rfc4514_string(), user,
                 describe_key(certificate.public_key()), certificate.issuer.rfc4514_string(),
                 certificate.not_valid_before_utc.timestamp(), certificate.not_valid_after_utc.timestamp(),
                 sha256_fingerprint(certificate), certificate_pem(certificate).decode("ascii")),
            )
        return self.get(serial)

    def issued(self) -> list[CertificateRecord]:
        rows = self._store.connection.execute("SELECT * FROM certificates ORDER BY issued, serial").fetchall()
        return [_certificate(row) for row in rows]

    def find(self, serial: str) -> CertificateRecord | None:
        row = self._store.connection.execute("SELECT * FROM certificates WHERE serial = ?",
                                             (serial.lower(),)).fetchone()
        return None if row is None else _certificate(row)

    def get(self, serial: str) -> CertificateRecord:
        found = self.find(serial)
        if found is None:
            raise NotFoundError(f"no certificate with serial {serial} was issued by mqttdesk's CA (see cert list)")
        return found

    def of_user(self, user: str) -> list[CertificateRecord]:
        rows = self._store.connection.execute("SELECT * FROM certificates WHERE user = ? ORDER BY issued",
                                              (user,)).fetchall()
        return [_certificate(row) for row in rows]

    def mark_revoked(self, db: sqlite3.Connection, serial: str, when: float) -> None:
        """Inside the caller's write transaction (the CRL is written in the same one)."""
        record = self.get(serial)
        if record.revoked_at is not None:
            raise ValidationError(f"certificate {serial} ({record.common_name}) is already revoked")
        db.execute("UPDATE certificates SET revoked_at = ? WHERE serial = ?", (when, serial))
        self._store.note(certificate_change(serial))

    def delete_expired(self, serial: str) -> CertificateRecord:
        """Forget an expired certificate (the list is for what can still connect). A valid one must be revoked
        and a revoked one kept until it expires: the CRL is built from these rows, and one missing from it would
        pass the handshake again."""
        record = self.get(serial)
        if record.expires > time.time():
            state = "revoked: it stays listed, and in the CRL, until it expires" if record.revoked_at is not None \
                else "still valid: revoke it (mqttdesk cert revoke), and delete it once it has expired"
            raise ValidationError(f"certificate {serial} ({record.common_name}) is {state}")
        with self._store.write(certificate_change(serial)) as db:
            db.execute("DELETE FROM certificates WHERE serial = ?", (serial,))
        return record

    def revoked(self) -> list[Revoked]:
        rows = self._store.connection.execute(
            "SELECT serial, revoked_at FROM certificates WHERE revoked_at IS NOT NULL").fetchall()
        return [Revoked(int(row["serial"], 16), float(row["revoked_at"])) for row in rows]

    # -- trusted CAs ------------------------------------------------------------------------------

    def add_trusted(self, name: str, certificate: x509.Certificate, crl_pem: bytes | None) -> TrustedCa:
        name = validate_name("trusted CA", name)
        fingerprint = sha256_fingerprint(certificate)
        with self._store.write(certificate_change(f"trust:{name}")) as db:
            if db.execute("SELECT 1 FROM trusted_cas WHERE name = ?", (name,)).fetchone():
                raise AlreadyExistsError(f"a trusted CA named '{name}' exists already")
            same = db.execute("SELECT name FROM trusted_cas WHERE fingerprint_sha256 = ?", (fingerprint,)).fetchone()
            if same:
                raise AlreadyExistsError(f"this CA is trusted already, as '{same['name']}'")
            db.execute("INSERT INTO trusted_cas (name, subject, fingerprint_sha256, pem, crl_pem, added) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (name, certificate.subject.rfc4514_string(), fingerprint,
                        certificate_pem(certificate).decode("ascii"),
                        crl_pem.decode("ascii") if crl_pem else None, time.time()))
        return self.get_trusted(name)

    def trusted(self) -> list[TrustedCa]:
        rows = self._store.connection.execute("SELECT * FROM trusted_cas ORDER BY name").fetchall()
        return [_trusted(row) for row in rows]

    def get_trusted(self, name: str) -> TrustedCa:
        row = self._store.connection.execute("SELECT * FROM trusted_cas WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no trusted CA named '{name}' (see trust list)")
        return _trusted(row)

    def remove_trusted(self, name: str) -> None:
        with self._store.write(certificate_change(f"trust:{name}")) as db:
            if db.execute("DELETE FROM trusted_cas WHERE name = ?", (name,)).rowcount == 0:
                raise NotFoundError(f"no trusted CA named '{name}' (see trust list)")

    # -- the server certificate's names ---------------------------------------------------------

    def server_sans(self) -> tuple[str, ...]:
        rows = self._store.connection.execute("SELECT name FROM server_sans ORDER BY position").fetchall()
        return tuple(str(row["name"]) for row in rows)

    def set_server_sans(self, names: tuple[str, ...]) -> None:
        """Replace the list (already normalised: `pki.sans.normalize_sans`)."""
        with self._store.write(certificate_change("sans")) as db:
            db.execute("DELETE FROM server_sans")
            db.executemany("INSERT INTO server_sans (position, name) VALUES (?, ?)", list(enumerate(names)))


def _certificate(row: sqlite3.Row) -> CertificateRecord:
    return CertificateRecord(serial=row["serial"], common_name=row["common_name"], user=row["user"],
                             key_type=row["key_type"], issuer=row["issuer"], issued=row["issued"],
                             expires=row["expires"], revoked_at=row["revoked_at"],
                             fingerprint_sha256=row["fingerprint_sha256"], pem=row["pem"])


def _trusted(row: sqlite3.Row) -> TrustedCa:
    return TrustedCa(name=row["name"], subject=row["subject"], fingerprint_sha256=row["fingerprint_sha256"],
                     pem=row["pem"], crl_pem=row["crl_pem"], added=row["added"])

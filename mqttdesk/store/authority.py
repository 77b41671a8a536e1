"""The built-in CA as the rest of mqttdesk uses it (`store.pki`): its files (pki_files.py) and tables
(certificates_repo.py) kept together — create or import the CA, keep the server certificate current, issue and
revoke client certificates (the CRL rewritten with each revocation), and the TLS material the broker loads.

The CA key may be encrypted; every operation that signs takes the passphrase (the CLI reads it with
`--passphrase-stdin`). Only the CA key is ever encrypted: the server key must be usable by an unattended broker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from mqttdesk.core.decision import PeerCertificate
from mqttdesk.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from mqttdesk.pki.ca import CertificateAuthority, check_ca_certificate
from mqttdesk.pki.certificate_states import EXPIRING_DAYS
from mqttdesk.pki.certificates import certificate_pem, load_certificate, pem_blocks
from mqttdesk.pki.choices import DEFAULT_CLIENT_DAYS, DEFAULT_CLIENT_KEY, KeyType
from mqttdesk.pki.crl import build_crl, crl_pem, load_crl
from mqttdesk.pki.fingerprints import sha256_fingerprint
from mqttdesk.pki.issue import (
    Issued,
    check_csr,
    issue_client_certificate,
    issue_server_certificate,
    sign_csr,
)
from mqttdesk.pki.keys import is_encrypted_pem, load_private_key, private_key_pem
from mqttdesk.pki.peer import issued_by_one_of, presented
from mqttdesk.pki.sans import default_sans, normalize_sans, sans_of
from mqttdesk.store.certificates_repo import CertificatesRepo, TrustedCa, certificate_change
from mqttdesk.store.pki_files import CA_CERT, CA_CRL, CA_KEY, PRIVATE, PUBLIC, SERVER_CERT, SERVER_KEY, PkiFiles

if TYPE_CHECKING:
    from mqttdesk.store.db import Store


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """What the TLS listener loads when the built-in CA serves it."""

    cert_file: Path
    key_file: Path
    client_cas: tuple[str, ...]  # PEM: our CA first, then the trusted ones
    crls: tuple[str, ...]  # PEM: ours, and those that came with trusted CAs
    check_crl: bool  # False when a trusted CA has no CRL (a CRL check would refuse all of its clients)
    notes: tuple[str, ...] = ()


class StoredAuthority:
    def __init__(self, store: Store, data_dir: Path) -> None:
        self._store = store
        self.files = PkiFiles(data_dir)
        self.repo = CertificatesRepo(store)

    # -- the CA ---------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.files.exists(CA_CERT) and self.files.exists(CA_KEY)

    def ca_certificate(self) -> x509.Certificate:
        data = self.files.read(CA_CERT)
        if data is None or not self.files.exists(CA_KEY):
            raise NotFoundError("mqttdesk has no CA yet (mqttdesk ca init, or ca import --cert F --key F)")
        return load_certificate(data, what=str(self.files.path(CA_CERT)))

    def key_is_encrypted(self) -> bool:
        return is_encrypted_pem(self.files.read(CA_KEY) or b"")

    def load(self, passphrase: str | None = None) -> CertificateAuthority:
        """The CA with its key, for signing (the passphrase when the key is encrypted)."""
        certificate = self.ca_certificate()
        key = load_private_key(self.files.read(CA_KEY) or b"", passphrase, what="the CA key")
        return CertificateAuthority(certificate, key)

    def install(self, ca: CertificateAuthority, passphrase: str | None = None) -> Issued:
        """Make `ca` mqttdesk's CA (created or imported): its files, an empty CRL, the default server names and
        a server certificate. A CA that exists is never replaced: certificates it issued would stop working."""
        if self.files.exists(CA_CERT) or self.files.exists(CA_KEY):
            existing = self.files.read(CA_CERT)
            words = load_certificate(existing).subject.rfc4514_string() if existing else "its key alone"
            raise AlreadyExistsError(f"mqttdesk has a CA already ({words}); to start over, move "
                                     f"{self.files.directory} away first")
        self.files.write(CA_KEY, private_key_pem(ca.key, passphrase), PRIVATE)
        self.files.write(CA_CERT, certificate_pem(ca.certificate), PUBLIC)
        self.files.write(CA_CRL, crl_pem(build_crl(ca, [])), PUBLIC)
        self.files.remove(SERVER_CERT)  # left from another CA: it would not chain to this one
        if not self.repo.server_sans():
            self.repo.set_server_sans(default_sans())
        issued = self._issue_server(ca)
        with self._store.write(certificate_change("ca")):
            pass
        return issued

    # -- the server certificate -------------------------------------------------------------------

    def server_certificate(self) -> x509.Certificate | None:
        data = self.files.read(SERVER_CERT)
        return None if data is None or not self.files.exists(SERVER_KEY) else load_certificate(data)

    def server_sans(self) -> tuple[str, ...]:
        return self.repo.server_sans() or default_sans()

    def server_renewal_reason(self, now: float | None = None) -> str | None:
        """Why the server certificate must be (re)issued now, or None while it is fine."""
        certificate = self.server_certificate()
        if certificate is None:
            return "there is no server certificate yet"
        ca = self.ca_certificate()
        if certificate.issuer != ca.subject or not _signed_by(certificate, ca):
            return "the server certificate was not issued by the current CA"
        if set(sans_of(certificate)) != set(self.server_sans()):
            return "the list of server names changed"
        left = certificate.not_valid_after_utc.timestamp() - (time.time() if now is None else now)
        if left < EXPIRING_DAYS * 86400:
            return f"it expires within {EXPIRING_DAYS} days"
        return None

    def ensure_server_certificate(self, passphrase: str | None = None, *, force: bool = False,
                                  now: float | None = None) -> str | None:
        """Reissue the server certificate (keeping its key) when `server_renewal_reason` says so, or `force`;
        returns the reason it was reissued, None when nothing was done."""
        reason = self.server_renewal_reason(now)
        if reason is None and not force:
            return None
        self._issue_server(self.load(passphrase), now=now)
        return reason or "reissued on request"

    def set_server_sans(self, names: list[str] | tuple[str, ...], passphrase: str | None = None) -> tuple[str, ...]:
        normalized = normalize_sans(names)
        self.load(passphrase)  # the passphrase is checked before the list changes
        self.repo.set_server_sans(normalized)
        self.ensure_server_certificate(passphrase, force=True)
        return normalized

    def _issue_server(self, ca: CertificateAuthority, *, now: float | None = None) -> Issued:
        old_key = self.files.read(SERVER_KEY)
        key = load_private_key(old_key, what="the server key") if old_key else None
        issued = issue_server_certificate(ca, self.server_sans(), key=key, now=now)
        if key is None:
            assert issued.key is not None
            self.files.write(SERVER_KEY, private_key_pem(issued.key), PRIVATE)
        self.files.write(SERVER_CERT, certificate_pem(issued.certificate), PUBLIC)
        with self._store.write(certificate_change("server")):
            pass
        return issued

    # -- client certificates ----------------------------------------------------------------------

    def _require_user(self, name: str | None) -> str:
        if not name or self._store.users.find(name) is None:
            raise NotFoundError(f"no user named '{name}': a client certificate's CN must be an existing user "
                                "(user add first)")
        return name

    def issue_client(self, username: str, *, key_type: KeyType = DEFAULT_CLIENT_KEY, days: int = DEFAULT_CLIENT_DAYS,
                     passphrase: str | None = None) -> Issued:
        """A certificate and key for an existing user; the key is the caller's to hand over (it is not kept)."""
        self._require_user(username)
        issued = issue_client_certificate(self.load(passphrase), username, key_type=key_type, days=days)
        self.repo.record(issued.certificate, username)
        return issued

    def sign_request(self, csr: x509.CertificateSigningRequest, *, days: int = DEFAULT_CLIENT_DAYS,
                     passphrase: str | None = None) -> Issued:
        """Sign a device's CSR (checked: `pki.issue.check_csr`) whose CN is an existing user."""
        user = self._require_user(check_csr(csr).common_name)
        issued = sign_csr(self.load(passphrase), csr, days=days)
        self.repo.record(issued.certificate, user)
        return issued

    def revoke(self, serial: str, passphrase: str | None = None) -> None:
        """Revoke an issued certificate: the CRL is rewritten in the same transaction (both happen or neither)."""
        record = self.repo.get(serial)
        ca = self.load(passphrase)
        with self._store.write() as db:
            self.repo.mark_revoked(db, record.serial, time.time())
            self.files.write(CA_CRL, crl_pem(build_crl(ca, self.repo.revoked())), PUBLIC)

    def crl(self) -> bytes:
        """The CA's current CRL (PEM); written at `install`, so there always is one."""
        self.ca_certificate()
        data = self.files.read(CA_CRL)
        if data is None:
            raise NotFoundError(f"the CRL {self.files.path(CA_CRL)} is missing (it is rewritten by cert revoke)")
        return data

    # -- trusted CAs ------------------------------------------------------------------------------

    def trust(self, name: str, data: bytes) -> TrustedCa:
        """Trust another CA's client certificates: a PEM file with its certificate, and optionally its CRL."""
        blocks = pem_blocks(data)
        labels = [label for label, _ in blocks]
        if any("PRIVATE KEY" in label for label in labels):
            raise ValidationError("the file holds a private key: a trusted CA is added with its certificate only "
                                  "(keep the key where it is)")
        certificates = [block for label, block in blocks if label == "CERTIFICATE"]
        if len(certificates) != 1:
            raise ValidationError(f"the file must hold exactly one CA certificate ({len(certificates)} found); "
                                  "add each CA under its own name")
        certificate = load_certificate(certificates[0], what="the CA certificate")
        check_ca_certificate(certificate)
        if self.exists() and sha256_fingerprint(certificate) == sha256_fingerprint(self.ca_certificate()):
            raise AlreadyExistsError("this is mqttdesk's own CA: it is trusted already")
        crls = [block for label, block in blocks if label == "X509 CRL"]
        if len(crls) > 1:
            raise ValidationError("the file holds more than one CRL; give the CA's current one only")
        crl = crls[0] if crls else None
        if crl is not None:
            load_crl(crl, issuer=certificate, what="the CRL in the file")
        return self.repo.add_trusted(name, certificate, crl)

    # -- for the broker ---------------------------------------------------------------------------

    def presented_certificate(self, data: bytes, what: str = "the certificate") -> PeerCertificate:
        """A client certificate (PEM) as the CONNECT rules would see it from a client presenting it (the explainer);
        `ValidationError` when the handshake would refuse it already: issued by neither our CA nor a trusted CA."""
        issuers = [load_certificate(ca.pem.encode(), what=f"trusted CA '{ca.name}'") for ca in self.repo.trusted()]
        if self.exists():
            issuers.append(self.ca_certificate())
        return _presented_as(data, what, issuers)

    def tls_material(self) -> TlsMaterial:
        """The server certificate and what client certificates are checked against (NotFoundError without a CA
        or server certificate)."""
        ca = self.ca_certificate()
        if self.server_certificate() is None:
            raise NotFoundError("the built-in CA has no server certificate yet (mqttdesk server-cert reissue)")
        trusted = self.repo.trusted()
        without_crl = [t.name for t in trusted if not t.crl_pem]
        notes = () if not without_crl else (
            f"client certificates are not checked against CRLs: the trusted CA{'s' * (len(without_crl) > 1)} "
            f"{', '.join(without_crl)} came without one",)
        return TlsMaterial(
            cert_file=self.files.path(SERVER_CERT), key_file=self.files.path(SERVER_KEY),
            client_cas=(certificate_pem(ca).decode("ascii"), *(t.pem for t in trusted)),
            crls=(self.crl().decode("ascii"), *(t.crl_pem for t in trusted if t.crl_pem)),
            check_crl=not without_crl, notes=notes)


def _presented_as(data: bytes, what: str, issuers: list[x509.Certificate]) -> PeerCertificate:
    certificate = load_certificate(data, what=what)
    if not issued_by_one_of(certificate, issuers):
        raise ValidationError(f"the TLS handshake would refuse {what}: it was issued by "
                              f"{certificate.issuer.rfc4514_string()}, neither mqttdesk's CA nor a trusted CA "
                              "(tls-handshake-failed)")
    return presented(certificate)


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    return issued_by_one_of(certificate, [issuer])

"""store.pki: the CA's files (keys 0600), issued certificates without their keys, the server certificate kept
current with its key, revocation rewriting the CRL, trusted CAs, and the change notices the broker reacts to."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from mqttdesk.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from mqttdesk.pki.ca import create_ca
from mqttdesk.pki.certificates import certificate_pem, serial_hex
from mqttdesk.pki.crl import build_crl, crl_pem, load_crl, revoked_serials
from mqttdesk.pki.fingerprints import tasmota_fingerprint
from mqttdesk.pki.keys import private_key_pem
from mqttdesk.pki.sans import sans_of
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store
from tests.support import fast_hash


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "data")
    opened.users.add("lamp", fast_hash("pw"))
    yield opened
    opened.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_writes_private_keys_0600_and_an_empty_crl(store: Store) -> None:
    store.pki.install(create_ca(), "pass phrase")
    files = store.pki.files
    assert _mode(files.directory) == 0o700
    assert _mode(files.path("ca.key")) == 0o600
    assert _mode(files.path("server.key")) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in files.path("ca.key").read_bytes()
    assert b"ENCRYPTED" not in files.path("server.key").read_bytes()  # the broker starts unattended
    assert store.pki.key_is_encrypted()
    crl = load_crl(store.pki.crl(), issuer=store.pki.ca_certificate())
    assert revoked_serials(crl) == set()
    assert not list(files.directory.glob(".*.tmp"))


def test_a_ca_is_never_replaced(store: Store) -> None:
    store.pki.install(create_ca("first"))
    with pytest.raises(AlreadyExistsError, match="mqttdesk has a CA already \\(CN=first,O=mqttdesk\\)"):
        store.pki.install(create_ca("second"))


def test_no_ca_yet_is_said_in_words(store: Store) -> None:
    with pytest.raises(NotFoundError, match="mqttdesk has no CA yet \\(mqttdesk ca init"):
        store.pki.ca_certificate()


def test_an_issued_certificate_is_kept_without_its_key(store: Store) -> None:
    store.pki.install(create_ca())
    issued = store.pki.issue_client("lamp")
    record = store.pki.repo.get(serial_hex(issued.certificate.serial_number))
    assert (record.common_name, record.user, record.key_type, record.state().value) == \
        ("lamp", "lamp", "EC P-256", "valid")
    assert x509.load_pem_x509_certificate(record.pem.encode()) == issued.certificate
    store.close()
    assert b"PRIVATE KEY" not in store.path.read_bytes()
    for sidecar in store.path.parent.glob(store.path.name + "-*"):
        assert b"PRIVATE KEY" not in sidecar.read_bytes()


def test_certificates_are_for_existing_users_only(store: Store) -> None:
    store.pki.install(create_ca())
    with pytest.raises(NotFoundError, match="no user named 'ghost': a client certificate's CN must be an existing "
                                            "user"):
        store.pki.issue_client("ghost")


def test_signing_needs_the_passphrase_of_an_encrypted_key(store: Store) -> None:
    store.pki.install(create_ca(), "pass phrase")
    with pytest.raises(ValidationError, match="the CA key is encrypted: give its passphrase"):
        store.pki.issue_client("lamp")
    with pytest.raises(ValidationError, match="wrong passphrase for the CA key"):
        store.pki.issue_client("lamp", passphrase="nope")
    assert store.pki.issue_client("lamp", passphrase="pass phrase").key is not None


def test_the_server_certificate_is_reissued_with_its_key_when_names_change_or_it_nears_expiry(store: Store) -> None:
    store.pki.install(create_ca())
    first = store.pki.server_certificate()
    assert first is not None
    assert set(sans_of(first)) == set(store.pki.server_sans())
    assert store.pki.server_renewal_reason() is None
    assert store.pki.ensure_server_certificate() is None

    store.pki.repo.set_server_sans(("localhost", "10.1.2.3"))
    assert store.pki.server_renewal_reason() == "the list of server names changed"
    assert store.pki.ensure_server_certificate() == "the list of server names changed"
    second = store.pki.server_certificate()
    assert second is not None
    assert sans_of(second) == ("localhost", "10.1.2.3")
    assert second.public_key() == first.public_key()
    assert tasmota_fingerprint(second) == tasmota_fingerprint(first)

    near_the_end = second.not_valid_after_utc.timestamp() - 10 * 86400
    assert store.pki.server_renewal_reason(near_the_end) == "it expires within 30 days"
    store.pki.ensure_server_certificate(now=near_the_end)
    third = store.pki.server_certificate()
    assert third is not None
    assert third.not_valid_after_utc > second.not_valid_after_utc
    assert third.public_key() == first.public_key()


def test_revoking_rewrites_the_crl_and_announces_the_change(store: Store) -> None:
    store.pki.install(create_ca())
    seen: list[Change] = []
    store.subscribe(lambda changes: seen.extend(changes))
    issued = store.pki.issue_client("lamp")
    serial = serial_hex(issued.certificate.serial_number)
    store.pki.revoke(serial)
    assert Change(ChangeKind.CERTIFICATE, serial) in seen
    assert store.pki.repo.get(serial).state().value == "revoked"
    crl = load_crl(store.pki.crl(), issuer=store.pki.ca_certificate())
    assert revoked_serials(crl) == {issued.certificate.serial_number}
    with pytest.raises(ValidationError, match=f"certificate {serial} \\(lamp\\) is already revoked"):
        store.pki.revoke(serial)
    with pytest.raises(NotFoundError, match="no certificate with serial abc was issued"):
        store.pki.revoke("abc")


def test_trusted_cas_come_without_keys_and_switch_the_crl_check_by_their_crl(store: Store) -> None:
    store.pki.install(create_ca())
    assert store.pki.tls_material().check_crl
    partner = create_ca("partner CA")
    with pytest.raises(ValidationError, match="the file holds a private key"):
        store.pki.trust("partner", certificate_pem(partner.certificate) + private_key_pem(partner.key))
    client = store.pki.issue_client("lamp")
    with pytest.raises(ValidationError, match="is not a CA certificate"):
        store.pki.trust("leaf", certificate_pem(client.certificate))
    with pytest.raises(AlreadyExistsError, match="this is mqttdesk's own CA"):
        store.pki.trust("self", certificate_pem(store.pki.ca_certificate()))
    other = create_ca("other CA")
    with pytest.raises(ValidationError, match="the CRL in the file was not issued by CN=partner CA"):
        store.pki.trust("partner", certificate_pem(partner.certificate) + crl_pem(build_crl(other, [])))

    store.pki.trust("partner", certificate_pem(partner.certificate) + crl_pem(build_crl(partner, [])))
    material = store.pki.tls_material()
    assert material.check_crl
    assert len(material.client_cas) == 2
    assert len(material.crls) == 2
    with pytest.raises(AlreadyExistsError, match="this CA is trusted already, as 'partner'"):
        store.pki.trust("again", certificate_pem(partner.certificate))

    store.pki.trust("other", certificate_pem(other.certificate))
    material = store.pki.tls_material()
    assert not material.check_crl
    assert material.notes == ("client certificates are not checked against CRLs: the trusted CA other came "
                              "without one",)
    store.pki.repo.remove_trusted("other")
    assert store.pki.tls_material().check_crl
    assert [t.name for t in store.pki.repo.trusted()] == ["partner"]
    assert all(b"PRIVATE KEY" not in t.pem.encode() for t in store.pki.repo.trusted())
    assert store.pki.repo.trusted()[0].fingerprint_sha256 == \
        partner.certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def test_certificate_times_are_the_certificates(store: Store) -> None:
    store.pki.install(create_ca())
    before = time.time()
    issued = store.pki.issue_client("lamp", days=10)
    record = store.pki.repo.of_user("lamp")[0]
    assert record.expires == issued.certificate.not_valid_after_utc.timestamp()
    assert before - 600 < record.issued <= before
    assert record.state().value == "expiring"

"""Throwaway certificates for TLS tests, made with `cryptography`: a CA, a server certificate it signs for
127.0.0.1/localhost, and a client certificate signed by *another* CA (one the server does not trust).

Files are written with mode 0600, as a key file should be.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA that signed the server certificate (clients that trust the server load this)
    cert: Path
    key: Path
    client_ca: Path  # the CA the server trusts for client certificates
    trusted_client_cert: Path  # signed by client_ca
    trusted_client_key: Path
    stranger_cert: Path  # a client certificate signed by a CA nobody trusts
    stranger_key: Path

    def trusting_client(self) -> ssl.SSLContext:
        """A client context that trusts the server."""
        context = ssl.create_default_context(cafile=str(self.ca))
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mqttdesk tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, data: bytes) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(common_name: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, *,
          server: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                     else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_tls_files(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    server_ca, server_ca_key = _ca("mqttdesk test server CA")
    server, server_key = _leaf("127.0.0.1", server_ca, server_ca_key, server=True)
    client_ca, client_ca_key = _ca("mqttdesk test client CA")
    trusted, trusted_key = _leaf("lamp-device", client_ca, client_ca_key, server=False)
    other_ca, other_ca_key = _ca("somebody else's CA")
    stranger, stranger_key = _leaf("stranger-device", other_ca, other_ca_key, server=False)
    return TlsFiles(
        ca=_write(directory / "ca.pem", server_ca.public_bytes(pem)),
        cert=_write(directory / "server.pem", server.public_bytes(pem)),
        key=_write(directory / "server.key", _pem_key(server_key)),
        client_ca=_write(directory / "client-ca.pem", client_ca.public_bytes(pem)),
        trusted_client_cert=_write(directory / "client.pem", trusted.public_bytes(pem)),
        trusted_client_key=_write(directory / "client.key", _pem_key(trusted_key)),
        stranger_cert=_write(directory / "stranger.pem", stranger.public_bytes(pem)),
        stranger_key=_write(directory / "stranger.key", _pem_key(stranger_key)),
    )

"""`ca ...`, `server-cert ...` and `trust ...`: mqttdesk's own CA, the TLS server certificate it issues, and other
CAs whose client certificates are accepted too."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509

from mqttdesk.cli_output import iso, print_json, print_table, short_time
from mqttdesk.commands.common import Context, read_stdin_secret
from mqttdesk.core.errors import MqttdeskError, NotFoundError, ValidationError
from mqttdesk.pki.ca import create_ca, import_ca
from mqttdesk.pki.certificates import certificate_pem, serial_hex
from mqttdesk.pki.choices import KeyType
from mqttdesk.pki.fingerprints import sha256_fingerprint, tasmota_fingerprint, tasmota_fingerprint_command
from mqttdesk.pki.keys import describe_key
from mqttdesk.pki.sans import sans_of
from mqttdesk.store.db import Store
from mqttdesk.store.pki_files import PUBLIC, write_file


def passphrase(args: argparse.Namespace) -> str | None:
    return read_stdin_secret("CA passphrase") if getattr(args, "passphrase_stdin", False) else None


def certificate_json(certificate: x509.Certificate) -> dict[str, Any]:
    return {"subject": certificate.subject.rfc4514_string(), "issuer": certificate.issuer.rfc4514_string(),
            "serial": serial_hex(certificate.serial_number), "key_type": describe_key(certificate.public_key()),
            "not_before": iso(certificate.not_valid_before_utc.timestamp()),
            "not_after": iso(certificate.not_valid_after_utc.timestamp()),
            "fingerprint_sha256": sha256_fingerprint(certificate)}


@contextlib.contextmanager
def naming_the_file(path: str) -> Iterator[None]:
    """A refusal of what a file holds names the file: "bad.pem must hold exactly one CA certificate (0 found)",
    "bad.pem: the CA certificate cannot be read: ..."; other refusals ("trusted already") are left as they are."""
    try:
        yield
    except ValidationError as exc:
        text = str(exc)
        if text.startswith("the file "):
            raise ValidationError(f"{path} {text.removeprefix('the file ')}") from None
        if "cannot be read" in text or text.startswith("this is not"):
            raise ValidationError(f"{path}: {text}") from None
        raise


def read_input(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise NotFoundError(f"{what} {path} is a directory, not a file") from None


def _print_server(store: Store) -> None:
    certificate = store.pki.server_certificate()
    if certificate is None:
        return
    print(f"server certificate for {', '.join(sans_of(certificate))} ({describe_key(certificate.public_key())}, "
          f"valid until {short_time(certificate.not_valid_after_utc.timestamp())})")
    with contextlib.suppress(MqttdeskError):  # an EC server key has no Tasmota fingerprint
        print(f"Tasmota: {tasmota_fingerprint_command(tasmota_fingerprint(certificate))}")


def ca_command(args: argparse.Namespace, context: Context) -> int:
    store = context.store
    if args.verb in ("init", "import"):
        secret = passphrase(args)
        if args.verb == "init":
            authority = create_ca(args.cn, days=args.days, key_type=KeyType.parse(args.key))
        else:
            authority = import_ca(read_input(args.cert, "the CA certificate"), read_input(args.key, "the CA key"),
                                  secret, certificate_name=f"the CA certificate {args.cert}",
                                  key_name=f"the CA key {args.key}")
        store.pki.install(authority, secret)
        verb = "created" if args.verb == "init" else "imported"
        print(f"{verb} CA '{authority.subject}' ({describe_key(authority.key)}, valid until "
              f"{short_time(authority.certificate.not_valid_after_utc.timestamp())}); its key is "
              f"{store.pki.files.path('ca.key')} ({'encrypted' if secret else 'not encrypted'}, mode 0600)")
        _print_server(store)
        print("devices trust it with the CA certificate: mqttdesk ca export ca.crt")
        return 0
    certificate = store.pki.ca_certificate()
    if args.verb == "show":
        data = {**certificate_json(certificate), "key_encrypted": store.pki.key_is_encrypted(),
                "cert_file": str(store.pki.files.path("ca.crt"))}
        if args.json:
            print_json(data)
        else:
            print(f"CA           {data['subject']}\nkey          {data['key_type']}"
                  f"{' (encrypted)' if data['key_encrypted'] else ''}\nserial       {data['serial']}")
            print(f"valid        {short_time(certificate.not_valid_before_utc.timestamp())} to "
                  f"{short_time(certificate.not_valid_after_utc.timestamp())}")
            print(f"SHA-256      {data['fingerprint_sha256']}\nfile         {data['cert_file']}")
    elif args.verb == "export":
        write_file(Path(args.file), certificate_pem(certificate), PUBLIC)
        print(f"wrote the CA certificate ({certificate.subject.rfc4514_string()}) to {args.file}")
    return 0


def server_cert_command(args: argparse.Namespace, context: Context) -> int:
    pki = context.store.pki
    pki.ca_certificate()
    if args.verb == "reissue":
        secret = passphrase(args)
        if args.san:
            pki.set_server_sans(args.san, secret)
        else:
            pki.ensure_server_certificate(secret, force=True)
        print("reissued the server certificate (same key: its Tasmota fingerprint is unchanged); a running broker "
              "uses it for new connections")
        _print_server(context.store)
        return 0
    certificate = pki.server_certificate()
    if certificate is None:
        raise NotFoundError("there is no server certificate yet (mqttdesk server-cert reissue)")
    try:
        tasmota: str | None = tasmota_fingerprint(certificate)
    except MqttdeskError:
        tasmota = None
    data = {**certificate_json(certificate), "sans": list(sans_of(certificate)), "tasmota_fingerprint": tasmota,
            "tasmota_command": tasmota_fingerprint_command(tasmota) if tasmota else None,
            "needs_reissue": pki.server_renewal_reason()}
    if args.json:
        print_json(data)
        return 0
    print(f"subject      {data['subject']}\nnames        {', '.join(data['sans'])}\nkey          {data['key_type']}")
    print(f"valid until  {short_time(certificate.not_valid_after_utc.timestamp())}\nSHA-256      "
          f"{data['fingerprint_sha256']}")
    if tasmota:
        print(f"Tasmota      {tasmota}\n             {data['tasmota_command']}")
    if data["needs_reissue"]:
        print(f"to reissue   {data['needs_reissue']} (the broker reissues it when it starts; or server-cert reissue)")
    return 0


def trust_command(args: argparse.Namespace, context: Context) -> int:
    repo = context.store.pki.repo
    if args.verb == "add":
        with naming_the_file(args.pem_file):
            trusted = context.store.pki.trust(args.name, read_input(args.pem_file, "the CA file"))
        print(f"trusting '{trusted.name}' ({trusted.subject}) for client certificates"
              + ("" if trusted.crl_pem else "; it came without a CRL, so client certificates are not checked "
                 "against CRLs while it is trusted"))
    elif args.verb == "list":
        listed = repo.trusted()
        if args.json:
            print_json([{"name": t.name, "subject": t.subject, "fingerprint_sha256": t.fingerprint_sha256,
                         "crl": t.crl_pem is not None, "added": iso(t.added)} for t in listed])
        else:
            print_table(("name", "subject", "CRL", "added", "SHA-256"), [
                (t.name, t.subject, "yes" if t.crl_pem else "no", short_time(t.added), t.fingerprint_sha256)
                for t in listed])
    elif args.verb == "remove":
        repo.remove_trusted(args.name)
        print(f"no longer trusting '{args.name}'")
    return 0

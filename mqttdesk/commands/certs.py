"""`cert ...`: client certificates from mqttdesk's CA — issue one for a user, sign a device's CSR, list, revoke,
and export the CRL. A client's private key is written only to the files asked for, never kept by mqttdesk."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mqttdesk.cli_output import iso, print_json, print_table, short_time
from mqttdesk.commands.ca import naming_the_file, passphrase, read_input
from mqttdesk.commands.common import Context, print_generated, read_stdin_secret
from mqttdesk.core.errors import MqttdeskError, ValidationError
from mqttdesk.core.passwords import generate_password
from mqttdesk.pki.certificates import certificate_pem, check_days, parse_serial, serial_hex
from mqttdesk.pki.choices import KeyType
from mqttdesk.pki.export import file_stem, pkcs12_bundle, tasmota_key_commands
from mqttdesk.pki.issue import load_csr
from mqttdesk.pki.keys import describe_key, private_key_pem
from mqttdesk.store.certificates_repo import CertificateRecord
from mqttdesk.store.pki_files import PRIVATE, PUBLIC, write_file


def certificate_record_json(record: CertificateRecord, now: float) -> dict[str, Any]:
    return {"serial": record.serial, "cn": record.common_name, "user": record.user, "key_type": record.key_type,
            "issuer": record.issuer, "issued": iso(record.issued), "expires": iso(record.expires),
            "state": record.state(now).value, "revoked_at": iso(record.revoked_at),
            "fingerprint_sha256": record.fingerprint_sha256}


def cert_command(args: argparse.Namespace, context: Context) -> int:
    pki = context.store.pki
    if args.verb == "issue":
        return _issue(args, context)
    if args.verb == "sign":
        check_days(args.days)
        with naming_the_file(args.csr_file):
            csr = load_csr(read_input(args.csr_file, "the CSR"))
        print(f"subject  {csr.subject.rfc4514_string() or '(empty)'}")
        try:
            print(f"key      {describe_key(csr.public_key())}")
        except ValueError:
            print("key      (cannot be read)")
        secret = passphrase(args)
        issued = pki.sign_request(csr, days=args.days, passphrase=secret)
        write_file(Path(args.out), certificate_pem(issued.certificate), PUBLIC)
        print(f"signed: certificate {serial_hex(issued.certificate.serial_number)} for user "
              f"'{pki.repo.get(serial_hex(issued.certificate.serial_number)).user}', valid until "
              f"{short_time(issued.certificate.not_valid_after_utc.timestamp())}; written to {args.out}")
    elif args.verb == "list":
        now = time.time()
        records = pki.repo.issued()
        if args.json:
            print_json([certificate_record_json(r, now) for r in records])
        else:
            print_table(("serial", "cn", "user", "key", "issued", "expires", "state"), [
                (r.serial, r.common_name, r.user or "-", r.key_type, short_time(r.issued), short_time(r.expires),
                 r.state(now).value) for r in records])
    elif args.verb == "revoke":
        serial = serial_hex(parse_serial(args.serial))
        record = pki.repo.get(serial)
        pki.revoke(serial, passphrase(args))
        print(f"revoked certificate {serial} ({record.common_name}); the CRL is updated and new TLS handshakes "
              "with it are refused")
    elif args.verb == "delete":
        record = pki.repo.delete_expired(serial_hex(parse_serial(args.serial)))
        print(f"deleted expired certificate {record.serial} ({record.common_name})")
    elif args.verb == "export-crl":
        write_file(Path(args.file), pki.crl(), PUBLIC)
        print(f"wrote the CRL ({len(pki.repo.revoked())} revoked) to {args.file}")
    return 0


def _issue(args: argparse.Namespace, context: Context) -> int:
    pki = context.store.pki
    key_type = KeyType.parse(args.key)
    check_days(args.days)
    if args.tasmota and key_type is not KeyType.EC_P256:
        raise ValidationError("Tasmota takes EC P-256 client keys only: leave out --key rsa2048 with --tasmota")
    if args.password_stdin and not args.p12:
        raise ValidationError("--password-stdin is the PKCS#12 password: it needs --p12")
    out = Path(args.out)
    stem = file_stem(args.cn)
    targets = [out / f"{stem}.crt", out / f"{stem}.key"] + ([out / f"{stem}.p12"] if args.p12 else [])
    for target in targets:
        if target.exists():
            raise ValidationError(f"{target} exists already; mqttdesk does not overwrite a certificate or key")
    secret = passphrase(args)
    password, generated = (read_stdin_secret("PKCS#12 password"), False) if args.password_stdin else \
        (generate_password(), True)
    issued = pki.issue_client(args.cn, key_type=key_type, days=args.days, passphrase=secret)
    key = issued.key
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    out.mkdir(parents=True, exist_ok=True)
    write_file(targets[0], certificate_pem(issued.certificate), PUBLIC, replace=False)
    write_file(targets[1], private_key_pem(key), PRIVATE, replace=False)
    serial = serial_hex(issued.certificate.serial_number)
    print(f"issued certificate {serial} for user '{args.cn}' ({describe_key(key)}, valid until "
          f"{short_time(issued.certificate.not_valid_after_utc.timestamp())})")
    print(f"wrote {targets[0]} and {targets[1]} (the key: mode 0600; mqttdesk keeps no copy)")
    if args.p12:
        bundle = pkcs12_bundle(issued.certificate, key, password, ca=pki.ca_certificate(), friendly_name=args.cn)
        write_file(targets[2], bundle, PRIVATE, replace=False)
        print(f"wrote {targets[2]}")
        if generated:
            print_generated(f"{stem}.p12", password)
    if args.tasmota:
        try:
            commands = tasmota_key_commands(issued.certificate, key)
        except MqttdeskError as exc:
            print(f"no Tasmota commands: {exc}")
        else:
            print(f"{commands.key_command}\n{commands.certificate_command}")
    return 0

"""The command line of `ca`, `server-cert`, `trust` and `cert`. Their handlers (`commands/ca.py`,
`commands/certs.py`) import `cryptography`; they are imported when one of these commands runs, not for every
command line parsed."""

from __future__ import annotations

import argparse

from mqttdesk.commands.common import Subparsers, lazy_handler
from mqttdesk.pki.choices import CLIENT_KEY_TYPES, DEFAULT_CA_DAYS, DEFAULT_CA_NAME, DEFAULT_CLIENT_DAYS, KeyType


def register(sub: Subparsers) -> None:
    register_ca(sub)
    register_cert(sub)


def add_passphrase_option(parser: argparse.ArgumentParser, what: str = "the CA key's passphrase") -> None:
    parser.add_argument("--passphrase-stdin", action="store_true",
                        help=f"read {what} from standard input (first line)")


def register_ca(sub: Subparsers) -> None:
    ca = sub.add_parser("ca", help="mqttdesk's own certificate authority").add_subparsers(dest="verb", required=True)
    init = ca.add_parser("init", help="create the CA (and the server certificate it issues)")
    init.add_argument("--cn", default=DEFAULT_CA_NAME, help=f"its name (default: {DEFAULT_CA_NAME})")
    init.add_argument("--days", type=int, default=DEFAULT_CA_DAYS, help=f"validity (default: {DEFAULT_CA_DAYS})")
    init.add_argument("--key", choices=[k.value for k in KeyType], default=KeyType.EC_P256.value)
    add_passphrase_option(init, "a passphrase to encrypt the CA key with")
    ca.add_parser("show", help="the CA certificate").add_argument("--json", action="store_true")
    ca.add_parser("export", help="write the CA certificate (no key) for devices to trust").add_argument("file")
    imported = ca.add_parser("import", help="use an existing CA certificate and key")
    imported.add_argument("--cert", required=True, metavar="F")
    imported.add_argument("--key", required=True, metavar="F")
    add_passphrase_option(imported, "the key's passphrase (the stored key stays encrypted with it)")
    for parser in ca.choices.values():
        parser.set_defaults(handler=lazy_handler("mqttdesk.commands.ca", "ca_command"))

    server = sub.add_parser("server-cert", help="the TLS server certificate issued by the CA").add_subparsers(
        dest="verb", required=True)
    server.add_parser("show", help="its names, key and fingerprints").add_argument("--json", action="store_true")
    reissue = server.add_parser("reissue", help="issue it again with the same key (with --san: for these names)")
    reissue.add_argument("--san", action="append", metavar="NAME", help="a host name or address (repeat); the "
                         "list replaces the stored one")
    add_passphrase_option(reissue)
    for parser in server.choices.values():
        parser.set_defaults(handler=lazy_handler("mqttdesk.commands.ca", "server_cert_command"))

    trust = sub.add_parser("trust", help="other CAs whose client certificates are accepted").add_subparsers(
        dest="verb", required=True)
    add = trust.add_parser("add", help="trust a CA certificate (a PEM file; its CRL may follow in the same file)")
    add.add_argument("pem_file")
    add.add_argument("--name", required=True)
    trust.add_parser("list", help="the trusted CAs").add_argument("--json", action="store_true")
    trust.add_parser("remove", help="stop trusting a CA").add_argument("name")
    for parser in trust.choices.values():
        parser.set_defaults(handler=lazy_handler("mqttdesk.commands.ca", "trust_command"))


def register_cert(sub: Subparsers) -> None:
    cert = sub.add_parser("cert", help="client certificates issued by mqttdesk's CA").add_subparsers(
        dest="verb", required=True)
    issue = cert.add_parser("issue", help="a certificate and key for a user (CN = the user name)")
    issue.add_argument("cn", metavar="CN")
    issue.add_argument("--out", required=True, metavar="DIR", help="writes DIR/CN.crt and DIR/CN.key (0600)")
    issue.add_argument("--days", type=int, default=DEFAULT_CLIENT_DAYS)
    issue.add_argument("--key", choices=CLIENT_KEY_TYPES, default=KeyType.EC_P256.value)
    issue.add_argument("--p12", action="store_true", help="also DIR/CN.p12 (PKCS#12, with a password)")
    issue.add_argument("--password-stdin", action="store_true",
                       help="read the PKCS#12 password from standard input (else one is generated and shown once; "
                            "with --passphrase-stdin it is the second line)")
    issue.add_argument("--tasmota", action="store_true", help="print Tasmota's TLSKey1/TLSKey2 commands too")
    add_passphrase_option(issue)
    sign = cert.add_parser("sign", help="sign a device's certificate signing request (CSR)")
    sign.add_argument("csr_file", metavar="CSR_FILE")
    sign.add_argument("--out", required=True, metavar="FILE")
    sign.add_argument("--days", type=int, default=DEFAULT_CLIENT_DAYS)
    add_passphrase_option(sign)
    cert.add_parser("list", help="the certificates the CA issued").add_argument("--json", action="store_true")
    revoke = cert.add_parser("revoke", help="revoke a certificate (the CRL is updated; new handshakes refuse it)")
    revoke.add_argument("serial", metavar="SERIAL")
    add_passphrase_option(revoke)
    cert.add_parser("export-crl", help="write the CA's certificate revocation list (PEM)").add_argument("file")
    cert.add_parser("delete", help="forget an expired certificate (valid ones are revoked, revoked ones kept until "
                    "they expire)").add_argument("serial", metavar="SERIAL")
    for parser in cert.choices.values():
        parser.set_defaults(handler=lazy_handler("mqttdesk.commands.certs", "cert_command"))

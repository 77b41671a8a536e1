"""EMQX 5: built-in database users (JSON and CSV, PBKDF2-SHA512) and file authorization rules (`acl.conf`).

EMQX hashes a password as lowercase hex of PBKDF2(sha512, password, salt, iterations, 64) where the salt is the
raw bytes of the salt *string*. mqttdesk makes its salts of base64-alphabet characters (`core.passwords`), so the
derived key it stores in `$7$` form is, in hex, the very hash EMQX checks: those users keep their passwords. A
hash EMQX cannot take (a binary salt from an imported Mosquitto file, `$6$`, argon2id, or an iteration count
other than the one the authenticator is configured with) is named in the report: that user must set a new
password. `acl.conf` is read top-down, first match wins, so every deny rule comes before every allow rule.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from mqttdesk.core.acl import Effect, Permission
from mqttdesk.core.model import Directory
from mqttdesk.core.passwords import hash_scheme, parse_hash, text_salt
from mqttdesk.interop.mosquitto import exported_users, report_common
from mqttdesk.interop.report import Report
from mqttdesk.interop.rules import BoundRule, bind_rules

TARGET = "EMQX"
USERS_JSON = "users.json"
USERS_CSV = "users.csv"
ACL_CONF = "acl.conf"
AUTHN_CONF = "authentication.conf"
_ACTION = {Permission.READ: "subscribe", Permission.WRITE: "publish", Permission.READWRITE: "all"}


def _emqx_filter(bound: BoundRule) -> str:
    return "/".join("${clientid}" if level == "%c" else level for level in bound.topic_filter.split("/"))


def _erlang_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid Erlang string literal for these texts


def export_emqx(directory: Directory) -> tuple[dict[str, str], Report]:
    report = Report(TARGET)
    users = exported_users(directory, report)
    hashes: dict[str, tuple[int, str, str]] = {}  # name -> (iterations, salt, hex)
    for user in users:
        subject = f"user '{user.name}'"
        if not user.auth.needs_password:
            report.gap(subject, "logs in with a certificate: EMQX maps a certificate to a username with "
                       "peer_cert_as_username = cn on a listener with verify_peer")
            continue
        if hash_scheme(user.password_hash) != "pbkdf2-sha512":
            report.gap(subject, "must set a new password: EMQX's built-in database takes no $6$ or argon2id hash")
            continue
        iterations, salt, key = parse_hash(user.password_hash)
        salt_text = text_salt(salt)
        if salt_text is None:
            report.gap(subject, "must set a new password: its salt (from an imported file) is binary, and EMQX "
                       "hashes with the bytes of a salt string")
            continue
        hashes[user.name] = (iterations, salt_text, key.hex())
    iterations_used = Counter(it for it, _, _ in hashes.values()).most_common(1)
    chosen = iterations_used[0][0] if iterations_used else 210_000
    for name, (iterations, _, _) in list(hashes.items()):
        if iterations != chosen:
            report.gap(f"user '{name}'", f"must set a new password: hashed with {iterations} iterations, and one "
                       f"authenticator takes one count ({chosen})")
            del hashes[name]
    rows = [{"user_id": name, "password_hash": hexed, "salt": salt, "is_superuser": False}
            for name, (_, salt, hexed) in hashes.items()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["user_id", "password_hash", "salt", "is_superuser"])
    writer.writerows([r["user_id"], r["password_hash"], r["salt"], "false"] for r in rows)
    denies: list[str] = []
    allows: list[str] = []
    for user in users:
        who = f"{{username, {_erlang_string(user.name)}}}"
        for bound in bind_rules(user.name, user.roles, directory):
            if bound.effect is Effect.DENY and bound.permission is Permission.READ:
                report.gap(f"user '{user.name}'", f"'deny read {bound.rule.topic_filter}' covers subscribing only: "
                           "EMQX does not check each delivery")
            target = denies if bound.effect is Effect.DENY else allows
            target.append(f"{{{bound.effect.value}, {who}, {_ACTION[bound.permission]}, "
                          f"[{_erlang_string(_emqx_filter(bound))}]}}.")
    if directory.anonymous.enabled:
        report.gap("anonymous clients", "left out: EMQX admits clients without credentials only when no "
                   "authenticator is configured")
    report_common(directory, report)
    acl = ["%% written by mqttdesk: first match wins, so every deny comes before every allow", *denies, *allows,
           "{deny, all}."]
    authn = ("authentication = [\n  {\n    mechanism = password_based\n    backend = built_in_database\n"
             "    user_id_type = username\n    password_hash_algorithm {\n      name = pbkdf2\n      mac_fun = sha512\n"
             f"      iterations = {chosen}\n      dk_length = 64\n    }}\n  }}\n]\n"
             "authorization {\n  no_match = deny\n  sources = [\n    {type = file, enable = true, "
             f"path = \"etc/{ACL_CONF}\"}}\n  ]\n}}\n")
    report.note(f"{len(rows)} users with their PBKDF2-SHA512 hashes ({USERS_JSON}, {USERS_CSV}), "
                f"{len(denies) + len(allows)} rules ({ACL_CONF}), {AUTHN_CONF}")
    files = {USERS_JSON: json.dumps(rows, indent=2, ensure_ascii=False) + "\n", USERS_CSV: out.getvalue(),
             ACL_CONF: "\n".join(acl) + "\n", AUTHN_CONF: authn}
    return files, report


"""Mosquitto's `password_file`, `acl_file` and a minimal `mosquitto.conf`, written from and read into mqttdesk.

`password_file`: one `name:hash` line per user, the `$7$` (and older `$6$`) hashes exactly as mqttdesk stores
them, so every password keeps working. `acl_file`: the lines before any `user` line are the anonymous clients';
then a `user NAME` section per user with its roles' rules (`%u`, `%t` bound to its name, see `rules.py`); a deny
rule is `topic deny FILTER`. Mosquitto checks every deny of a client before its allows, so mqttdesk's "deny wins"
holds. What Mosquitto cannot say is reported (`report.py`), never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mqttdesk.core.acl import Effect, Permission
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import AuthMode, Directory, User
from mqttdesk.core.passwords import hash_scheme
from mqttdesk.core.states import CredentialState
from mqttdesk.interop.report import Report
from mqttdesk.interop.rules import BoundRule, bind_rules

PASSWORD_FILE = "password_file"
ACL_FILE = "acl_file"
CONF_FILE = "mosquitto.conf"
TARGET = "Mosquitto"
ANONYMOUS_ROLE = "mosquitto-anonymous"  # what an import calls the rules of anonymous clients
PATTERNS_ROLE = "mosquitto-patterns"  # ... and the `pattern` lines, which apply to every client


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A TLS listener for the exported configuration (mqttdesk's CA and server certificate files)."""

    port: int
    cafile: str
    certfile: str
    keyfile: str


@dataclass(frozen=True, slots=True)
class Listener:
    host: str
    port: int
    tls: TlsListener | None = None


@dataclass(slots=True)
class Exported:
    files: dict[str, str] = field(default_factory=dict)  # file name -> text
    report: Report = field(default_factory=lambda: Report(TARGET))


def exported_users(directory: Directory, report: Report) -> list[User]:
    """The users a broker without mqttdesk's states can take: suspended and revoked ones are left out."""
    chosen = []
    for user in sorted(directory.users.values(), key=lambda u: u.name):
        if not user.state.admits:
            report.gap(f"user '{user.name}'", f"left out: it is {user.state.value}, and a file of passwords has no "
                       "state (add it once it is activated again)")
            continue
        chosen.append(user)
    report_inactive([u.name for u in chosen if u.state is CredentialState.INACTIVE], report)
    return chosen


def report_inactive(names: list[str], report: Report) -> None:
    if names:
        report.gap(f"inactive users ({', '.join(names)})", "never used so far: there they are simply users, and "
                   "their first login is not recorded")


def report_common(directory: Directory, report: Report) -> None:
    """What none of the file formats can express: fleets, registrations, tokens, the external service, reservations."""
    for bootstrap in sorted(directory.bootstraps):
        report.gap(f"bootstrap credential '{bootstrap}'", "left out: a shared fleet credential that admits any new "
                   "clientId (and registers devices) does not exist there")
    for client_id in sorted(directory.devices):
        report.gap(f"device '{client_id}'", "left out: registered devices share their bootstrap credential's username, "
                   "which a username-keyed file cannot hold once per device")
    for name in sorted(directory.token_issuers):
        report.gap(f"token issuer '{name}'", "left out: configure the broker's own JWT authentication with its key")
    if directory.external.enabled:
        report.gap("external HTTP service", "left out: point the broker's HTTP auth plugin at it directly")
    for user in directory.users.values():
        for pattern in user.reserved_client_ids:
            report.gap(f"user '{user.name}'", f"clientId reservation '{pattern}' left out: no such rule there")
        if user.auth is AuthMode.BOTH:
            report.gap(f"user '{user.name}'", "logs in with a certificate or its password: the broker takes one "
                       "per listener (password on the plain listener, certificate on the TLS one)")
        if user.certificate_ca is not None:
            report.gap(f"user '{user.name}'", f"bound to the trusted CA '{user.certificate_ca}': any CA the broker "
                       "trusts may issue its certificate there")
    for name in sorted({n for n in directory.users if "@" in n}):
        report.gap(f"user '{name}'", "tenant: %t rules are written with the tenant filled in for this user only")


def _password_line(user: User, report: Report) -> str | None:
    subject = f"user '{user.name}'"
    if ":" in user.name or "\n" in user.name:
        report.gap(subject, "left out: its name contains ':' or a line break, which a password file cannot hold")
        return None
    if not user.auth.needs_password:
        return None  # logs in by certificate: the TLS listener's use_identity_as_username
    scheme = hash_scheme(user.password_hash)
    if scheme == "argon2id":
        report.gap(subject, "password left out: argon2id hashes need Mosquitto 2.1 (2.0 reads $7$ and $6$); "
                   "set a new password, or use Mosquitto 2.1 and add the line by hand")
        return None
    return f"{user.name}:{user.password_hash}"


_ACCESS = {Permission.READ: "read", Permission.WRITE: "write", Permission.READWRITE: "readwrite"}


def _acl_line(bound: BoundRule, keyword: str, report: Report, subject: str) -> str:
    if bound.effect is Effect.DENY:
        if bound.permission is not Permission.READWRITE:
            report.gap(subject, f"'deny {bound.permission.value} {bound.rule.topic_filter}' (role "
                       f"'{bound.rule.role}') is written as 'topic deny': Mosquitto denies reading and writing alike")
        return f"{keyword} deny {bound.topic_filter}"
    return f"{keyword} {_ACCESS[bound.permission]} {bound.topic_filter}"


def acl_text(directory: Directory, users: list[User], report: Report) -> str:
    lines = ["# written by mqttdesk: anonymous clients first (the lines before any 'user'), then each user",
             "# mqttdesk's deny rules win over allows; Mosquitto checks every deny first, so they do here too"]
    anonymous = directory.anonymous
    if anonymous.enabled:
        if anonymous.unrestricted:
            lines.append("topic readwrite #")
        for bound in bind_rules(None, anonymous.roles, directory):
            if bound.per_client:
                report.gap("anonymous clients", f"rule on '{bound.rule.topic_filter}' left out: a %c rule is a "
                           "'pattern' line there, which applies to every client, not anonymous ones alone")
                continue
            lines.append(_acl_line(bound, "topic", report, "anonymous clients"))
    patterns: dict[str, list[str]] = {}  # the line of a %c rule -> the users it is for
    for user in users:
        lines.append("")
        lines.append(f"user {user.name}")
        for bound in bind_rules(user.name, user.roles, directory):
            if bound.per_client:
                if "%t" in bound.rule.topic_filter.split("/"):
                    report.gap(f"user '{user.name}'", f"left out: '{bound.rule.topic_filter}' (role "
                               f"'{bound.rule.role}') needs %t and %c together, which Mosquitto cannot express")
                    continue
                # Mosquitto substitutes %u and %c itself: the role's own filter, one line for everybody
                original = BoundRule(bound.rule, bound.rule.topic_filter)
                patterns.setdefault(_acl_line(original, "pattern", report, f"user '{user.name}'"),
                                    []).append(user.name)
                continue
            lines.append(_acl_line(bound, "topic", report, f"user '{user.name}'"))
    everybody = [u.name for u in users]
    if patterns:
        lines.append("")
        lines.append("# %c rules: 'pattern' lines apply to every client")
    for line, holders in patterns.items():
        if anonymous.enabled and "%u" not in line.split(" ", 2)[2].split("/"):
            report.gap("anonymous clients", f"'{line}' applies to them too in Mosquitto")
        if holders != everybody:
            for holder in holders:
                report.gap(f"user '{holder}'", f"left out: '{line}' — a 'pattern' line would apply to every client, "
                           "not to the users of that role alone")
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def conf_text(directory: Directory, listener: Listener, directory_path: str, users: list[User],
              report: Report) -> str:
    certificate_users = [u.name for u in users if u.auth.takes_certificate]
    lines = [
        "# Mosquitto 2 configuration written by `mqttdesk export mosquitto`",
        "per_listener_settings false",
        f"allow_anonymous {'true' if directory.anonymous.enabled else 'false'}",
        f"password_file {directory_path}/{PASSWORD_FILE}",
        f"acl_file {directory_path}/{ACL_FILE}",
        "",
        f"listener {listener.port} {listener.host}",
    ]
    if certificate_users and listener.tls is None:
        for name in certificate_users:
            report.gap(f"user '{name}'", "logs in with a client certificate, but mqttdesk has no CA to write the TLS "
                       "listener with (mqttdesk ca init)")
    if listener.tls is not None and certificate_users:
        tls = listener.tls
        lines += ["", "# users who log in with a client certificate from mqttdesk's CA: the CN is the username",
                  f"listener {tls.port} {listener.host}", f"cafile {tls.cafile}", f"certfile {tls.certfile}",
                  f"keyfile {tls.keyfile}", "require_certificate true", "use_identity_as_username true"]
        report.gap("certificates", "revocation: give Mosquitto mqttdesk's CRL (`mqttdesk cert export-crl`, "
                   "crlfile); it reads it at start and on SIGHUP only, and keeps revoked sessions connected")
    return "\n".join(lines) + "\n"


def export_mosquitto(directory: Directory, listener: Listener, directory_path: str) -> Exported:
    """The three files for a Mosquitto 2 broker, and the report of what they leave out."""
    exported = Exported()
    report = exported.report
    users = exported_users(directory, report)
    password_lines = [line for user in users if (line := _password_line(user, report)) is not None]
    exported.files[PASSWORD_FILE] = "".join(f"{line}\n" for line in password_lines)
    exported.files[ACL_FILE] = acl_text(directory, users, report)
    exported.files[CONF_FILE] = conf_text(directory, listener, directory_path, users, report)
    report_common(directory, report)
    report.gap("subscriptions", "Mosquitto grants every SUBSCRIBE and checks read access on each delivery; "
               "mqttdesk refuses a filter no rule lets the client read (SUBACK 0x80). What is delivered is the same")
    if directory.anonymous.unrestricted:
        report.gap("anonymous clients", "may read and write every topic (mqttdesk's automatic access while it listens "
                   "on loopback only): 'allow_anonymous true' and 'topic readwrite #' keep that; change both before "
                   "the broker listens beyond loopback")
    report.note(f"{len(password_lines)} users with their password hashes as stored ({PASSWORD_FILE})")
    report.note(f"rules of {len(users)} users and of anonymous clients ({ACL_FILE}), {CONF_FILE}")
    return exported


# -- reading them ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AclLine:
    user: str | None  # None: the anonymous section (before any `user` line); `pattern` lines have None too
    pattern: bool
    access: str  # read | write | readwrite | deny
    topic_filter: str
    line_number: int


def parse_password_file(text: str) -> list[tuple[str, str]]:
    """(username, hash) per line; a malformed line is an error naming its number (nothing is half-read)."""
    entries: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, encoded = line.partition(":")
        if not sep or not name:
            raise ValidationError(f"password file line {number}: expected 'username:hash'")
        try:
            hash_scheme(encoded)
        except ValidationError as exc:
            raise ValidationError(f"password file line {number} (user '{name}'): {exc}") from None
        if name in seen:
            raise ValidationError(f"password file line {number}: user '{name}' appears twice")
        seen.add(name)
        entries.append((name, encoded))
    return entries


_ACCESS_WORDS = ("read", "write", "readwrite", "deny")


def parse_acl_file(text: str) -> list[AclLine]:
    """`user NAME`, `topic [read|write|readwrite|deny] FILTER`, `pattern [...] FILTER` (no access: readwrite)."""
    parsed: list[AclLine] = []
    user: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        rest = rest.strip()
        if keyword == "user":
            if not rest:
                raise ValidationError(f"acl file line {number}: 'user' needs a name")
            user = rest
            continue
        if keyword not in ("topic", "pattern"):
            raise ValidationError(f"acl file line {number}: unknown keyword '{keyword}' (user, topic, pattern)")
        access, _, topic_filter = rest.partition(" ")
        if access not in _ACCESS_WORDS or not topic_filter.strip():
            access, topic_filter = "readwrite", rest
        if not topic_filter.strip():
            raise ValidationError(f"acl file line {number}: '{keyword}' needs a topic filter")
        is_pattern = keyword == "pattern"
        parsed.append(AclLine(None if is_pattern else user, is_pattern, access, topic_filter.strip(), number))
    return parsed

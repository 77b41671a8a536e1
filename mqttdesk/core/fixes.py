"""Suggested fixes: for a refused decision, the one change most likely to let the client through.

A fix is data — what to do, to what, and the command line that does it — so the CLI can print it and the GUI can
offer it as a button (after asking). Some refusals have no safe automatic fix (a revoked credential, a wrong
password the user must look up); those get advice only (`action` None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mqttdesk.core.acl import Effect, Subject, UnsafeValue, unsafe_value
from mqttdesk.core.client_ids import reserving_user
from mqttdesk.core.decide import credential_record, decide_topic, decide_vouched
from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.model import Device, Directory, User
from mqttdesk.core.names import tenant_of
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.core.states import CredentialState
from mqttdesk.core.tokens import TOKEN_IN_USERNAME


class FixAction(StrEnum):
    ACTIVATE_USER = "activate-user"
    ACTIVATE_BOOTSTRAP = "activate-bootstrap"
    ACTIVATE_DEVICE = "activate-device"
    RESET_PASSWORD = "reset-password"
    ADD_USER = "add-user"
    ANONYMOUS_ON = "anonymous-on"
    KICK = "kick"
    DELETE_DEVICE = "delete-device"
    DISCARD_SESSION = "discard-session"  # drop the session kept for a clientId and release the clientId
    ALLOW = "allow"  # add an allow rule to a role
    REMOVE_DENY = "remove-deny"  # remove the deny rule that decided


@dataclass(frozen=True, slots=True)
class Fix:
    description: str
    action: FixAction | None = None
    params: dict[str, str] = field(default_factory=dict)
    command: str | None = None  # the mqttdesk command line that applies it

    @property
    def applicable(self) -> bool:
        return self.action is not None


def _quote(text: str) -> str:
    return text if text and all(c.isalnum() or c in "-_./@:" for c in text) else "'" + text.replace("'", "'\\''") + "'"


def suggest_fix(decision: Decision, directory: Directory) -> Fix | None:
    """What to change so that this decision would come out allowed next time; None when it was allowed."""
    if decision.allowed:
        return None
    code = decision.reason.code
    if code in (ReasonCode.SUSPENDED, ReasonCode.REVOKED):
        return _state_fix(decision, directory, revoked=code is ReasonCode.REVOKED)
    name = decision.username or ""
    if code is ReasonCode.BAD_PASSWORD:
        if name in directory.users:
            return Fix(f"check the password configured on the client, or set a new one for user '{name}'",
                       FixAction.RESET_PASSWORD, {"user": name}, f"mqttdesk user passwd {_quote(name)}")
        return Fix("check the password configured on the client (device and bootstrap passwords are set "
                   "when the credential is created)")
    if code is ReasonCode.UNKNOWN_USER and name == TOKEN_IN_USERNAME:
        return Fix("have the client send its token in the password field, or add a token issuer that reads the "
                   "username field (mqttdesk token issuer add NAME --field username ...)")
    if code is ReasonCode.UNKNOWN_USER:
        return Fix(f"add a user '{name}' (or a bootstrap credential of that name for a fleet of devices)",
                   FixAction.ADD_USER, {"user": name}, f"mqttdesk user add {_quote(name)} --password-stdin")
    if code is ReasonCode.MISSING_PASSWORD:
        return Fix("configure the password on the client: it sent a username only")
    if code is ReasonCode.ANONYMOUS_REFUSED:
        return Fix("give the client a username and password, or turn anonymous access on (lab use only)",
                   FixAction.ANONYMOUS_ON, {}, "mqttdesk anonymous on")
    if code is ReasonCode.CLIENT_ID_IN_USE:
        return Fix(f"disconnect the client that holds clientId '{decision.client_id}', or give this one its own id",
                   FixAction.KICK, {"client_id": decision.client_id}, f"mqttdesk kick {_quote(decision.client_id)}")
    if code is ReasonCode.CLIENT_ID_REGISTERED:
        return Fix(f"delete the registered device '{decision.client_id}' to free its clientId, or give this client "
                   "another id", FixAction.DELETE_DEVICE, {"client_id": decision.client_id},
                   f"mqttdesk device delete {_quote(decision.client_id)}")
    if code in (ReasonCode.CLIENT_ID_SESSION_OWNED, ReasonCode.CLIENT_ID_TAKEN):
        return _release_fix(decision)
    if code is ReasonCode.CLIENT_ID_RESERVED:
        return _reserved_fix(decision, directory)
    if code is ReasonCode.KEEPALIVE_TOO_LONG:
        return Fix("configure a shorter keep-alive on the client, or allow longer ones",
                   command="mqttdesk config set max_keepalive SECONDS")
    if code is ReasonCode.CLIENT_ID_EMPTY:
        return Fix("configure a clientId on the client (devices admitted by a bootstrap credential need their own, "
                   "and a persistent session needs one)")
    if code in (ReasonCode.ACL_DENIED, ReasonCode.ACL_NO_RULE) and decision.topic is not None:
        return _acl_fix(decision, directory)
    if code is ReasonCode.RESERVED_TOPIC:
        return Fix("publish somewhere else: $SYS topics are written by the broker only")
    if code is ReasonCode.SERVER_BUSY:
        return Fix("nothing to change for this client (it may retry); too many password checks were waiting at once, "
                   "usually one address sending wrong passwords: look for its bad-password entries")
    if code is ReasonCode.BANNED:
        return Fix("if this client is no attacker, lift its ban (the Banned tab, or mqttdesk ban remove WHO, with "
                   "--username or --client-id for those); it ends by itself at the time the sentence says",
                   command="mqttdesk ban list")
    if code is ReasonCode.THROTTLED:
        return Fix("nothing to change if this client is no attacker: after the delay the sentence names, its next "
                   "password is checked; fix the password it sends (its failed logins are in the Auth log)")
    if code is ReasonCode.BAD_TOPIC:
        return Fix("fix the topic on the client: " + decision.reason.text)
    if code is ReasonCode.SUBSCRIPTION_LIMIT:
        return Fix("let the client subscribe to fewer, broader filters, or raise the limit with "
                   "'mqttdesk config set max_subscriptions_per_client N' (applies at the next broker start)")
    return None


def _release_fix(decision: Decision) -> Fix:
    client_id = decision.client_id
    holder = decision.held_by
    if decision.reason.code is ReasonCode.CLIENT_ID_SESSION_OWNED:
        whose = f"{holder.username}'s" if holder is not None and holder.username else "the other identity's"
        what = f"discard {whose} session on '{client_id}' (its queued messages are lost)"
    else:
        what = f"release clientId '{client_id}' so that this credential may claim it"
    return Fix(f"{what}, or give this client its own clientId", FixAction.DISCARD_SESSION, {"client_id": client_id},
               f"mqttdesk session discard {_quote(client_id)}")


def _reserved_fix(decision: Decision, directory: Directory) -> Fix:
    reserved = reserving_user(decision.client_id, directory)
    if reserved is None:
        return Fix("give this client another clientId")
    pattern, user = reserved
    return Fix(f"give this client another clientId: '{pattern}' is reserved for user '{user}' (or remove "
               "the reservation)", command=f"mqttdesk user unreserve {_quote(user)} {_quote(pattern)}")


def _state_fix(decision: Decision, directory: Directory, *, revoked: bool) -> Fix:
    client_id, name = decision.client_id, decision.username or ""
    record = credential_record(client_id, name, directory)
    if isinstance(record, Device):
        kind, action, noun, key = "device", FixAction.ACTIVATE_DEVICE, "device", client_id
    elif isinstance(record, User):
        kind, action, noun, key = "user", FixAction.ACTIVATE_USER, "user", name
    else:
        kind, action, noun, key = "bootstrap", FixAction.ACTIVATE_BOOTSTRAP, "bootstrap credential", name
    if revoked:
        return Fix(f"{noun} '{key}' was revoked, which is final: create a new credential for this client")
    return Fix(f"activate {noun} '{key}'", action, {kind: key}, f"mqttdesk {kind} activate {_quote(key)}")


def _acl_fix(decision: Decision, directory: Directory) -> Fix:
    topic = decision.topic or ""
    access = "write" if decision.kind is Kind.PUBLISH else "read"
    rule = decision.rule
    if decision.reason.code is ReasonCode.ACL_DENIED and rule is not None and rule.effect is Effect.DENY:
        subject = Subject(decision.username, decision.client_id, tenant_of(decision.username))
        unsafe = unsafe_value(rule.topic_filter, subject)
        if unsafe is not None:
            return _unsafe_value_fix(unsafe)
        return Fix(f"remove the deny rule on '{rule.topic_filter}' from role '{rule.role}' (deny wins over any allow)",
                   FixAction.REMOVE_DENY, {"role": rule.role, "topic_filter": rule.topic_filter},
                   f"mqttdesk role remove {_quote(rule.role)} {_quote(rule.topic_filter)}")
    roles = [role for role in decision.roles or () if role in directory.roles]
    if not roles:
        return Fix(f"give this client a role that allows {access} on '{topic}'")
    role = roles[0]
    return Fix(f"allow {access} on '{topic}' in role '{role}'", FixAction.ALLOW,
               {"role": role, "topic_filter": topic, "permission": access},
               f"mqttdesk role allow {_quote(role)} {_quote(topic)} {access}")


_SAFE_VALUE = "without '/', '+' or '#' and not starting with '$'"


def _unsafe_value_fix(unsafe: UnsafeValue) -> Fix:
    """Advice only: removing the deny rule would open it for every client, and a clientId is the client's."""
    if unsafe.pattern == "%c":
        change = f"configure a clientId {_SAFE_VALUE} on the client"
    elif unsafe.pattern == "%u":
        change = f"give the client a username {_SAFE_VALUE}"
    else:
        change = f"give the client a username whose tenant (after the last '@') is {_SAFE_VALUE}"
    return Fix(f"{change}: rules with {unsafe.pattern} cannot be applied to '{unsafe.value}', so every deny "
               f"rule with {unsafe.pattern} applies to it everywhere")


_TOPIC_KINDS = (Kind.SUBSCRIBE, Kind.PUBLISH)


def suggest_fix_for_entry(kind: str, reason_code: str, client_id: str | None, username: str | None,
                          topic: str | None, directory: Directory, *, reason: str = "") -> Fix | None:
    """The fix for a stored Auth log entry, judged against the directory as it is *now*.

    A stored entry has no password and no rule, so its decision cannot be replayed. CONNECT refusals map to the
    same fix `suggest_fix` gives, by reason code. Topic refusals are decided again for the same identity as if its
    password were right (the rules are pure), which finds the deciding rule and the roles. None when the entry has
    no fix, or when the directory no longer refuses it for that reason (activated since, user added, rule
    changed...): a button for a change that was already made would only fail.
    """
    try:
        code, decided_kind = ReasonCode(reason_code), Kind(kind)
    except ValueError:
        return None
    client_id = client_id or ""
    if decided_kind in _TOPIC_KINDS and code in (ReasonCode.ACL_DENIED, ReasonCode.ACL_NO_RULE):
        return _topic_fix_now(decided_kind, client_id, username, topic, directory) if topic else None
    if not _still_refused(code, client_id, username, directory):
        return None
    decision = Decision(decided_kind, False, Reason(code, reason), client_id, username=username, topic=topic)
    return suggest_fix(decision, directory)


def _still_refused(code: ReasonCode, client_id: str, username: str | None, directory: Directory) -> bool:
    name = username or ""
    if code in (ReasonCode.SUSPENDED, ReasonCode.REVOKED):
        wanted = CredentialState.SUSPENDED if code is ReasonCode.SUSPENDED else CredentialState.REVOKED
        return _credential_state(client_id, name, directory) is wanted
    if code is ReasonCode.UNKNOWN_USER:
        return name not in directory.users and name not in directory.bootstraps
    if code is ReasonCode.ANONYMOUS_REFUSED:
        return not directory.anonymous.enabled
    if code is ReasonCode.CLIENT_ID_REGISTERED:
        return client_id in directory.devices
    if code is ReasonCode.CLIENT_ID_TAKEN:
        return client_id in directory.client_id_owners
    if code is ReasonCode.CLIENT_ID_RESERVED:
        return reserving_user(client_id, directory) is not None
    return True


def _credential_state(client_id: str, name: str, directory: Directory) -> CredentialState | None:
    record = credential_record(client_id, name, directory)
    return record.state if record is not None else None


def _topic_fix_now(kind: Kind, client_id: str, username: str | None, topic: str, directory: Directory) -> Fix | None:
    connect = decide_vouched(username, client_id, directory)
    if not connect.allowed or connect.grant is None:
        return suggest_fix(connect, directory)  # it could not even connect now: that is the first thing to fix
    return suggest_fix(decide_topic(kind, connect.grant, topic, directory), directory)

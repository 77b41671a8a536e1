"""The CONNECT rules: pure functions from a request and a `Directory` snapshot to a `Decision`.

Password verification is slow by design, so it is not done here: the caller asks `password_hash_for` which hash
the password must match, verifies it off the event loop (or from a cache), and passes the outcome in. The same
functions serve the broker, the dry-run explainer and the re-validation of live sessions after a store change.

Who a username belongs to, in this order: the registered device whose clientId is presented (when the username is
the one it registered with), a user, a bootstrap credential. Users and bootstrap credentials share one namespace.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

from mqttdesk.core.client_ids import blocking_owner, describe_owner, reserving_user
from mqttdesk.core.decision import ConnectRequest, Decision, Grant, Kind, PeerCertificate, SessionHolder, SourceAnswer
from mqttdesk.core.model import ANONYMOUS_REF, Bootstrap, CredentialKind, CredentialRef, Device, Directory, Method, User
from mqttdesk.core.names import tenant_of
from mqttdesk.core.reasons import Reason, ReasonCode, connack_code
from mqttdesk.core.sources import DEVICES, USERS, Record, match, source_of
from mqttdesk.core.states import CredentialState
from mqttdesk.core.timefmt import format_time
from mqttdesk.core.tokens import TOKEN_IN_USERNAME, looks_like_token
from mqttdesk.core.topic_rules import decide_topic, roles_of, unsafe_value_notes
from mqttdesk.core.values import value_record

__all__ = ["credential_record", "decide_connect", "decide_topic", "decide_unchecked", "decide_vouched", "format_time",
           "password_hash_for", "revalidate", "roles_of"]


@value_record
class _Credential:
    """A user, bootstrap credential or device, as the CONNECT rules see it."""

    label: str
    method: Method
    record: Record


def credential_record(client_id: str, username: str | None, directory: Directory) -> Record | None:
    """The credential a CONNECT with this clientId and username authenticates against, as the sources find it
    (in their documented order, `sources.MATCH_ORDER`)."""
    if not username:
        return None
    found = match(client_id, username, directory)
    return found[1] if found is not None else None


def _credential_for(request: ConnectRequest, directory: Directory) -> _Credential | None:
    certified = _certificate_user(request, directory)
    if certified is not None:
        return _Credential(f"user '{certified.name}'", Method.CERTIFICATE, certified)
    if not request.username:
        return None
    client_id = "" if request.client_id_assigned else request.client_id  # a made-up id is never a device's
    found = match(client_id, request.username, directory)
    if found is None:
        return None
    source, record = found
    return _Credential(source.label(record), source.method, record)


def _certificate_user(request: ConnectRequest, directory: Directory) -> User | None:
    """The user a client certificate logs in as: the one its CN names, if that user takes certificates and the
    CONNECT names nobody else (a client may send no username at all: Tasmota with a certificate sends none)."""
    certificate = request.certificate
    if certificate is None or not certificate.cn or request.username not in (None, "", certificate.cn):
        return None
    user = USERS.record(certificate.cn, directory)
    return user if isinstance(user, User) and user.auth.takes_certificate else None


def _registered_device(request: ConnectRequest, directory: Directory) -> Device | None:
    if not request.client_id or request.client_id_assigned:
        return None
    device = DEVICES.record(request.client_id, directory)  # a registered clientId is the device's, whoever asks
    return device if isinstance(device, Device) else None


def password_hash_for(request: ConnectRequest, directory: Directory) -> str | None:
    """The stored hash the CONNECT password has to match, or None when no password check applies."""
    if request.password is None:
        return None
    credential = _credential_for(request, directory)
    if credential is None:
        return None
    record = credential.record
    if credential.method is Method.CERTIFICATE and isinstance(record, User) and not record.auth.needs_password:
        return None  # the certificate is the whole login: a password sent along is not looked at
    return record.password_hash


class _Path:
    """Collects the human-readable steps of one decision."""

    def __init__(self, request: ConnectRequest) -> None:
        self.request = request
        transport = request.transport_step()  # how it came in, first (e.g. "over TLS 1.3 on listener 'tls' ...")
        self.steps: list[str] = [] if transport is None else [transport]

    def add(self, step: str) -> None:
        self.steps.append(step)

    def refuse(self, code: ReasonCode, text: str, method: Method | None = None,
               held_by: SessionHolder | None = None) -> Decision:
        self.steps.append(f"refused: {text}")
        return Decision(
            kind=Kind.CONNECT,
            allowed=False,
            reason=Reason(code, text),
            # an id the broker made up for a refused client was never used: log what the client sent
            client_id="" if self.request.client_id_assigned else self.request.client_id,
            username=self.request.username,
            method=method,
            address=self.request.address,
            steps=tuple(self.steps),
            connack=connack_code(code, False),
            held_by=held_by,
            protocol=self.request.protocol,
        )

    def accept(self, code: ReasonCode, text: str, grant: Grant, takes_over: SessionHolder | None) -> Decision:
        self.steps.append(f"accepted: {text}")
        return Decision(
            kind=Kind.CONNECT,
            allowed=True,
            reason=Reason(code, text),
            client_id=self.request.client_id,
            username=grant.username or self.request.username,  # a certificate names the user the client did not
            method=grant.method,
            address=self.request.address,
            steps=tuple(self.steps),
            connack=connack_code(code, True),
            grant=grant,
            takes_over=takes_over,
            protocol=self.request.protocol,
        )


def _describe_holder(holder: SessionHolder) -> str:
    who = source_of(holder.credential.kind).holder_words(holder)
    if holder.offline_since is not None:
        where = f", last from {holder.address}" if holder.address else ""
        return f"{who}, offline since {format_time(holder.offline_since)}{where}"
    where = f" from {holder.address}" if holder.address else ""
    return f"{who}, connected since {format_time(holder.connected_since)}{where}"


def _client_id_check(
    path: _Path, credential: CredentialRef, live: Mapping[str, SessionHolder], method: Method, *, may_take_over: bool
) -> tuple[Decision | None, SessionHolder | None]:
    """Refuse an id held by another credential; the same credential takes its own session over, as MQTT says.

    A bootstrap device never takes over anything (`may_take_over` False): its clientId must be free.
    """
    request = path.request
    if not request.client_id or (request.client_id_assigned and not may_take_over):
        text = ("a device admitted by a bootstrap credential must present its own clientId"
                if request.client_id_assigned else "the clientId is empty and the broker assigned none")
        return path.refuse(ReasonCode.CLIENT_ID_EMPTY, text, method), None
    holder = live.get(request.client_id)
    if holder is None:
        path.add(f"clientId '{request.client_id}' is free")
        return None, None
    if may_take_over and holder.credential == credential:
        if not holder.online:
            what = "is discarded (clean session)" if request.clean_session else "resumes"
            path.add(f"clientId '{request.client_id}' holds this credential's own offline session: it {what}")
            return None, None
        path.add(f"clientId '{request.client_id}' is connected with the same credential: the new connection takes over")
        return None, holder
    if not holder.online:
        # handing the session over would hand over its queued messages; wiping it would destroy them
        return path.refuse(
            ReasonCode.CLIENT_ID_SESSION_OWNED,
            f"clientId '{request.client_id}' holds the persistent session of {_describe_holder(holder)}; "
            "only that identity may use it until the session is discarded",
            method, holder,
        ), None
    return path.refuse(
        ReasonCode.CLIENT_ID_IN_USE,
        f"clientId '{request.client_id}' is already in use by {_describe_holder(holder)}",
        method, holder,
    ), None


def _registered_refusal(path: _Path, directory: Directory, method: Method | None) -> Decision | None:
    device = _registered_device(path.request, directory)
    if device is None:
        return None
    origin = f" (registered via bootstrap '{device.bootstrap}')" if device.bootstrap else ""
    return path.refuse(
        ReasonCode.CLIENT_ID_REGISTERED,
        f"clientId '{device.client_id}' belongs to {device.display_name}{origin}; delete the device to free it",
        method,
    )


def _claim_refusal(
    path: _Path, claimant: CredentialRef, directory: Directory, method: Method, *, bootstrap: Bootstrap | None = None
) -> Decision | None:
    """A clientId a user reserved is for that user alone; a bootstrap credential may not take one that another
    credential was the last to use (see client_ids.py)."""
    request = path.request
    client_id = request.client_id
    if not client_id or request.client_id_assigned:
        return None
    reserved = reserving_user(client_id, directory) if directory.reservations else None
    if reserved is not None and CredentialRef(CredentialKind.USER, reserved[1]) != claimant:
        pattern, user = reserved
        return path.refuse(ReasonCode.CLIENT_ID_RESERVED,
                           f"clientId '{client_id}' is reserved for user '{user}' (pattern '{pattern}')", method)
    if bootstrap is not None:
        owner = blocking_owner(client_id, directory, bootstrap.ref)
        if owner is not None:
            return path.refuse(
                ReasonCode.CLIENT_ID_TAKEN,
                f"clientId '{client_id}' was last used by {describe_owner(owner)}: bootstrap credential "
                f"'{bootstrap.name}' may not claim it", method)
    return None


def _will_refusal(path: _Path, grant: Grant, directory: Directory, method: Method) -> Decision | None:
    """A will is published on the client's behalf later, so its topic must be writable now (as Mosquitto 2 does)."""
    will_topic = path.request.will_topic
    if will_topic is None:
        return None
    verdict = decide_topic(Kind.PUBLISH, grant, will_topic, directory)
    if verdict.allowed:
        path.add(f"will topic '{will_topic}' may be published")
        return None
    path.add(f"will topic '{will_topic}': {verdict.reason.text}")
    return path.refuse(verdict.reason.code, f"the will message may not be published: {verdict.reason.text}", method)


_VOUCHED = "\x00vouched"  # stands for "the administrator vouches for this identity": never compared to a hash


def decide_vouched(username: str | None, client_id: str, directory: Directory) -> Decision:
    """The CONNECT decision for an identity *as if* its password were right: an administrator acting as it
    (a test publish from the topic monitor) or re-judging a stored refusal, through exactly its permissions."""
    request = ConnectRequest(client_id=client_id, username=username or None, password=_VOUCHED if username else None)
    return decide_connect(request, directory, password_ok=True, live={})


def decide_connect(
    request: ConnectRequest,
    directory: Directory,
    *,
    password_ok: bool | None,
    live: Mapping[str, SessionHolder],
    answer: SourceAnswer | None = None,
) -> Decision:
    """Decide a CONNECT. `password_ok` is the outcome of checking the hash from `password_hash_for`; `answer` is
    what a source that is not local said, when no local source knows the username (see `sources.NOT_LOCAL`)."""
    path = _Path(request)
    if request.authentication_method is not None:
        # before anything else: the client expects an AUTH exchange, not a username and password check
        return path.refuse(ReasonCode.BAD_AUTH_METHOD,
                           f"the client asked for authentication method '{request.authentication_method}', which "
                           "mqttdesk does not support; connect with a username and password instead")
    if not request.client_id and not request.clean_session:
        path.add("empty clientId with clean session false")
        return path.refuse(ReasonCode.CLIENT_ID_EMPTY, "an empty clientId is only allowed with clean session")
    if request.certificate is not None:
        refusal = _certificate_refusal(path, request.certificate, directory)
        if refusal is not None:
            return refusal
    credential = _credential_for(request, directory)
    if credential is None or credential.method is not Method.CERTIFICATE:
        if not request.username:
            if request.password is not None:
                return path.refuse(ReasonCode.MISSING_USERNAME, "a password was sent without a username")
            return _decide_anonymous(path, directory, live)
        if credential is None:
            if answer is None and looks_like_token(request.username):
                # a token in the username field that no issuer reads there: refused like any unknown username,
                # but the token (a secret) is neither logged nor sent back
                path.request = replace(request, username=TOKEN_IN_USERNAME)
                path.add("the username is a token (not shown) → not a user, and no token issuer reads the username "
                         "field")
                return path.refuse(ReasonCode.UNKNOWN_USER, "the username is a token, and no token issuer reads "
                                   "tokens from the username field (token issuer add --field username)")
            path.add(f"username '{request.username}' → not a user, not a bootstrap credential")
            if answer is not None:
                return _decide_answer(path, answer, live, directory)
            return path.refuse(ReasonCode.UNKNOWN_USER, f"no user or bootstrap credential named '{request.username}'")
        record = credential.record
        if isinstance(record, User) and not record.auth.needs_password:
            path.add(f"username '{request.username}' → {credential.label} (logs in by client certificate)")
            presented = (f"its certificate names '{request.certificate.cn}'" if request.certificate is not None
                         else "the client presented none")
            return path.refuse(ReasonCode.CERT_REQUIRED, f"{credential.label} logs in with a client certificate, and "
                               f"{presented}", Method.CERTIFICATE)
    return _decide_credential(path, credential, password_ok, live, directory)


def _certificate_refusal(path: _Path, certificate: PeerCertificate, directory: Directory) -> Decision | None:
    """Refuse a CONNECT whose client certificate cannot log it in as it asks; None: go on (as that certificate's
    user, or by username and password with the certificate only noted)."""
    path.add(certificate.describe())
    request, cn = path.request, certificate.cn
    record = USERS.record(cn, directory) if cn else None
    user = record if isinstance(record, User) else None
    if user is None or not user.auth.takes_certificate:
        if request.username:
            return None  # a login by username; the certificate says who presented it, nothing more
        if user is None:
            named = f"names '{cn}', which is not a user" if cn else "has no CN (common name) to name a user"
            return path.refuse(ReasonCode.CERT_UNKNOWN_USER, f"the client certificate {named}", Method.CERTIFICATE)
        return path.refuse(ReasonCode.CERT_NOT_ALLOWED,
                           f"user '{cn}' logs in with a password only: its client certificate is not a login "
                           f"(mqttdesk user auth {cn} certificate)", Method.CERTIFICATE)
    label = f"user '{cn}'"
    if request.username and request.username != cn:
        return path.refuse(ReasonCode.CERT_USERNAME_MISMATCH,
                           f"the client sent username '{request.username}', but its certificate names {label}",
                           Method.CERTIFICATE)
    which = f"the client certificate of {label} (serial {certificate.serial})"
    if certificate.serial in directory.revoked_serials:
        return path.refuse(ReasonCode.CERT_REVOKED, f"{which} was revoked", Method.CERTIFICATE)
    issuer = next((name for name, subject in directory.trusted_ca_subjects.items() if subject == certificate.issuer),
                  None)
    if issuer != user.certificate_ca:
        accepted = (f"trusted CA '{user.certificate_ca}'" if user.certificate_ca is not None else "mqttdesk's own CA")
        given = f"trusted CA '{issuer}'" if issuer is not None else certificate.issuer
        return path.refuse(ReasonCode.CERT_UNTRUSTED, f"{label} accepts certificates of {accepted} only; {which} "
                           f"was issued by {given}", Method.CERTIFICATE)
    if certificate.not_after <= time.time():
        return path.refuse(ReasonCode.CERT_EXPIRED, f"{which} expired on {format_time(certificate.not_after)}",
                           Method.CERTIFICATE)
    return None


def _decide_answer(path: _Path, answer: SourceAnswer, live: Mapping[str, SessionHolder],
                   directory: Directory) -> Decision:
    """The common rules for an identity a source that is not local vouched for: clientId, ownership, the will."""
    for step in answer.steps:
        path.add(step)
    method = answer.method
    if answer.refusal is not None or answer.grant is None:
        assert answer.refusal is not None
        return path.refuse(answer.refusal.code, answer.refusal.text, method)
    grant = answer.grant
    refusal = _registered_refusal(path, directory, method)
    if refusal:
        return refusal
    refusal, holder = _client_id_check(path, grant.credential, live, method, may_take_over=True)
    refusal = refusal or _claim_refusal(path, grant.credential, directory, method)
    if refusal:
        return refusal
    if not answer.topics_elsewhere:  # else the source decided the will topic itself
        for note in unsafe_value_notes(grant, directory):
            path.add(note)
        refusal = _will_refusal(path, grant, directory, method)
        if refusal:
            return refusal
    return path.accept(ReasonCode.AUTHENTICATED, answer.text, grant, holder)


def decide_unchecked(request: ConnectRequest, directory: Directory, code: ReasonCode, text: str) -> Decision:
    """Refuse a CONNECT whose password was never checked: `server-busy` (no room in the queue of password checks)
    or `client-gone` (the client closed the connection before its turn). Says nothing about the password."""
    path = _Path(request)
    credential = _credential_for(request, directory)
    method = credential.method if credential is not None else None
    if credential is not None:
        path.add(f"username '{request.username}' → {credential.label}")
    path.add("password not checked")
    return path.refuse(code, text, method)


def _decide_anonymous(path: _Path, directory: Directory, live: Mapping[str, SessionHolder]) -> Decision:
    path.add("no username → anonymous")
    policy = directory.anonymous
    if not policy.enabled:
        return path.refuse(
            ReasonCode.ANONYMOUS_REFUSED, "anonymous access is off; the client must send a username and password"
        )
    scope = f" with roles {', '.join(policy.roles)}" if policy.roles else " for all topics"
    path.add("anonymous access is on" + scope)
    refusal = _registered_refusal(path, directory, Method.ANONYMOUS)
    if refusal:
        return refusal
    refusal, holder = _client_id_check(path, ANONYMOUS_REF, live, Method.ANONYMOUS, may_take_over=True)
    refusal = refusal or _claim_refusal(path, ANONYMOUS_REF, directory, Method.ANONYMOUS)
    if refusal:
        return refusal
    grant = Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, path.request.client_id)
    for note in unsafe_value_notes(grant, directory):
        path.add(note)
    refusal = _will_refusal(path, grant, directory, Method.ANONYMOUS)
    if refusal:
        return refusal
    return path.accept(ReasonCode.ANONYMOUS_ALLOWED, "anonymous access is on", grant, holder)


def _decide_credential(
    path: _Path, credential: _Credential, password_ok: bool | None, live: Mapping[str, SessionHolder],
    directory: Directory,
) -> Decision:
    record, label, method = credential.record, credential.label, credential.method
    ref = record.ref
    certificate = path.request.certificate if method is Method.CERTIFICATE else None
    if certificate is not None:
        path.add(f"client certificate → {label} ({record.state.value})")
    else:
        path.add(f"username '{path.request.username}' → {label} ({record.state.value})")
    if certificate is None or isinstance(record, User) and record.auth.needs_password:
        if path.request.password is None:
            why = " (it logs in with its certificate and its password)" if certificate is not None else ""
            return path.refuse(ReasonCode.MISSING_PASSWORD, f"{label} sent no password{why}", method)
        if not password_ok:
            path.add("password ✗")
            return path.refuse(ReasonCode.BAD_PASSWORD, f"wrong password for {label}", method)
        path.add("password ✓")
    if record.state is CredentialState.SUSPENDED:
        return path.refuse(ReasonCode.SUSPENDED, f"{label} is suspended since {format_time(record.state_since)}",
                           method)
    if record.state is CredentialState.REVOKED:
        return path.refuse(ReasonCode.REVOKED, f"{label} was revoked on {format_time(record.state_since)}", method)
    if not isinstance(record, Device):
        refusal = _registered_refusal(path, directory, method)
        if refusal:
            return refusal
    bootstrap = record if isinstance(record, Bootstrap) else None
    refusal, holder = _client_id_check(path, ref, live, method, may_take_over=bootstrap is None)
    refusal = refusal or _claim_refusal(path, ref, directory, method, bootstrap=bootstrap)
    if refusal:
        return refusal
    client_id = path.request.client_id
    if certificate is not None:
        assert isinstance(record, User)
        grant = Grant(method, ref, record.name, client_id, tenant_of(record.name),
                      certificate_serial=certificate.serial, valid_until=certificate.not_after)
        how = "client certificate and password" if record.auth.needs_password else "client certificate"
        text = f"{label} authenticated by {how} (serial {certificate.serial})"
    elif bootstrap is None:
        grant = Grant(method, ref, path.request.username, client_id, tenant_of(path.request.username))
        text = f"{label} authenticated by password"
    elif bootstrap.register_devices:
        grant = Grant(method, CredentialRef(CredentialKind.DEVICE, client_id), bootstrap.name, client_id,
                      tenant_of(bootstrap.name), registers=bootstrap.name)
        path.add(f"bootstrap credential '{bootstrap.name}' registers devices: '{client_id}' becomes a device")
        text = f"device '{client_id}' admitted and registered by bootstrap credential '{bootstrap.name}'"
    else:
        grant = Grant(method, ref, bootstrap.name, client_id, tenant_of(bootstrap.name), virtual=True)
        path.add("not registered (virtual device): its session ends with the connection")
        text = f"virtual device '{client_id}' admitted by bootstrap credential '{bootstrap.name}'"
    for note in unsafe_value_notes(grant, directory):
        path.add(note)
    refusal = _will_refusal(path, grant, directory, method)
    if refusal:
        return refusal
    return path.accept(ReasonCode.AUTHENTICATED, text, grant, holder)


def revalidate(grant: Grant, directory: Directory, password_hash: str | None) -> str | None:
    """Why a live session admitted by `grant` must end after a store change, or None when it may stay.

    `password_hash` is the hash the session was admitted with: a password change ends the session too.
    A device being registered by this very session is not in the directory until its record is written; the
    pipeline adds it to its snapshot at once, so "deleted" here means deleted.
    """
    return source_of(grant.credential.kind).revalidate(grant, directory, password_hash)

"""Mutual TLS as a login: the rules of `decide_connect` for a CONNECT that presented a verified client certificate."""

from __future__ import annotations

import time

import pytest

from mqttdesk.core.decide import decide_connect, password_hash_for, revalidate
from mqttdesk.core.decision import ConnectRequest, Decision, PeerCertificate
from mqttdesk.core.model import AnonymousPolicy, AuthMode, Directory, Method, Role, User
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.core.states import CredentialState

OWN_CA = "CN=mqttdesk lab CA"
PARTNER_CA = "CN=Partner Devices CA,O=Partner"


def _user(name: str, auth: AuthMode, certificate_ca: str | None = None) -> User:
    return User(name, f"hash-{name}", CredentialState.ACTIVE, ("plugs",), 0.0, 0.0, auth=auth,
                certificate_ca=certificate_ca)


def _directory(*users: User, revoked: frozenset[str] = frozenset()) -> Directory:
    return Directory(users={u.name: u for u in users}, roles={"plugs": Role("plugs")},
                     anonymous=AnonymousPolicy(enabled=False), trusted_ca_subjects={"partner": PARTNER_CA},
                     revoked_serials=revoked)


def _certificate(cn: str | None, *, issuer: str = OWN_CA, serial: str = "1a2b", expires_in: float = 86400
                 ) -> PeerCertificate:
    return PeerCertificate(cn=cn, serial=serial, issuer=issuer, not_after=time.time() + expires_in)


def _decide(directory: Directory, certificate: PeerCertificate | None, username: str | None = None,
            password: str | None = None, password_ok: bool | None = None) -> Decision:
    request = ConnectRequest(client_id="DVES_1a2b3C", username=username, password=password, address="127.0.0.1",
                             certificate=certificate)
    return decide_connect(request, directory, password_ok=password_ok, live={})


def test_a_certificate_user_logs_in_with_no_username_and_no_password() -> None:
    decision = _decide(_directory(_user("plug-1", AuthMode.CERTIFICATE)), _certificate("plug-1"))
    assert decision.allowed, decision.reason
    assert decision.method is Method.CERTIFICATE
    assert decision.grant is not None
    assert decision.grant.certificate_serial == "1a2b"
    assert decision.grant.valid_until is not None
    assert decision.reason.text == "user 'plug-1' authenticated by client certificate (serial 1a2b)"
    assert "client certificate CN 'plug-1' (serial 1a2b, issued by CN=mqttdesk lab CA)" in decision.steps


def test_the_same_username_as_the_cn_is_fine_and_a_password_sent_along_is_not_looked_at() -> None:
    directory = _directory(_user("plug-1", AuthMode.CERTIFICATE))
    request = ConnectRequest(client_id="c", username="plug-1", password="anything", certificate=_certificate("plug-1"))
    assert password_hash_for(request, directory) is None
    assert _decide(directory, _certificate("plug-1"), "plug-1", "anything").allowed


def test_both_needs_the_password_too() -> None:
    directory = _directory(_user("plug-1", AuthMode.BOTH))
    request = ConnectRequest(client_id="c", username="plug-1", password="pw", certificate=_certificate("plug-1"))
    assert password_hash_for(request, directory) == "hash-plug-1"
    assert _decide(directory, _certificate("plug-1"), "plug-1", "pw", password_ok=True).allowed
    wrong = _decide(directory, _certificate("plug-1"), "plug-1", "pw", password_ok=False)
    assert wrong.reason.code is ReasonCode.BAD_PASSWORD
    missing = _decide(directory, _certificate("plug-1"))
    assert missing.reason.code is ReasonCode.MISSING_PASSWORD


@pytest.mark.parametrize(("users", "certificate", "username", "code", "words"), [
    ((_user("plug-1", AuthMode.CERTIFICATE),), None, "plug-1", ReasonCode.CERT_REQUIRED,
     "user 'plug-1' logs in with a client certificate, and the client presented none"),
    ((_user("plug-1", AuthMode.PASSWORD),), _certificate("plug-1"), None, ReasonCode.CERT_NOT_ALLOWED,
     "user 'plug-1' logs in with a password only"),
    ((), _certificate("ghost"), None, ReasonCode.CERT_UNKNOWN_USER,
     "the client certificate names 'ghost', which is not a user"),
    ((_user("plug-1", AuthMode.CERTIFICATE),), _certificate("plug-1"), "plug-2", ReasonCode.CERT_USERNAME_MISMATCH,
     "the client sent username 'plug-2', but its certificate names user 'plug-1'"),
    ((_user("plug-1", AuthMode.CERTIFICATE),), _certificate("plug-1", expires_in=-60), None, ReasonCode.CERT_EXPIRED,
     "the client certificate of user 'plug-1' (serial 1a2b) expired on"),
    ((_user("plug-1", AuthMode.CERTIFICATE),), _certificate("plug-1", issuer=PARTNER_CA), None,
     ReasonCode.CERT_UNTRUSTED, "user 'plug-1' accepts certificates of mqttdesk's own CA only"),
    ((_user("plug-1", AuthMode.CERTIFICATE, "partner"),), _certificate("plug-1"), None, ReasonCode.CERT_UNTRUSTED,
     "user 'plug-1' accepts certificates of trusted CA 'partner' only"),
])
def test_refusals_say_precisely_why(users: tuple[User, ...], certificate: PeerCertificate | None,
                                    username: str | None, code: ReasonCode, words: str) -> None:
    decision = _decide(_directory(*users), certificate, username, "pw" if username else None, password_ok=True)
    assert not decision.allowed
    assert decision.reason.code is code
    assert words in decision.reason.text
    assert decision.connack == 5


def test_a_revoked_serial_is_refused_with_it_in_the_sentence() -> None:
    decision = _decide(_directory(_user("plug-1", AuthMode.CERTIFICATE), revoked=frozenset({"1a2b"})),
                       _certificate("plug-1"))
    assert decision.reason.code is ReasonCode.CERT_REVOKED
    assert decision.reason.text == "the client certificate of user 'plug-1' (serial 1a2b) was revoked"


def test_a_partner_ca_certificate_logs_in_only_the_user_bound_to_that_ca() -> None:
    # never "any trusted CA, any CN": the partner's CA may name only users bound to it
    directory = _directory(_user("partner-1", AuthMode.CERTIFICATE, "partner"), _user("plug-1", AuthMode.CERTIFICATE))
    assert _decide(directory, _certificate("partner-1", issuer=PARTNER_CA)).allowed
    assert _decide(directory, _certificate("plug-1", issuer=PARTNER_CA)).reason.code is ReasonCode.CERT_UNTRUSTED


def test_a_password_login_with_a_certificate_of_another_name_is_a_password_login() -> None:
    directory = _directory(User("alice", "hash-alice", CredentialState.ACTIVE, (), 0.0, 0.0))
    decision = _decide(directory, _certificate("laptop"), "alice", "pw", password_ok=True)
    assert decision.allowed
    assert decision.method is Method.PASSWORD
    assert "client certificate CN 'laptop' (serial 1a2b, issued by CN=mqttdesk lab CA)" in decision.steps


def test_a_suspended_certificate_user_is_refused_as_suspended() -> None:
    user = User("plug-1", "h", CredentialState.SUSPENDED, (), 0.0, 0.0, auth=AuthMode.CERTIFICATE)
    assert _decide(_directory(user), _certificate("plug-1")).reason.code is ReasonCode.SUSPENDED


def test_revoking_the_certificate_or_the_certificate_login_ends_the_session() -> None:
    user = _user("plug-1", AuthMode.CERTIFICATE)
    grant = _decide(_directory(user), _certificate("plug-1")).grant
    assert grant is not None
    assert revalidate(grant, _directory(user), None) is None
    assert revalidate(grant, _directory(user, revoked=frozenset({"1a2b"})), None) == \
        "the client certificate of user 'plug-1' (serial 1a2b) was revoked"
    assert revalidate(grant, _directory(_user("plug-1", AuthMode.PASSWORD)), None) == \
        "user 'plug-1' no longer logs in with a client certificate"

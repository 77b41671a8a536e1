"""Tokens (JWT) as a credential source: which issuer, every refusal with its reason, the identity, the acl claim,
local priority, and the token string in no field of a decision or its Auth log entry."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mqttdesk.broker.desk_broker import shown_username
from mqttdesk.core import tokens
from mqttdesk.core.acl import Permission, Rule
from mqttdesk.core.decide import decide_connect, decide_topic, revalidate
from mqttdesk.core.decision import ConnectRequest, Decision, Kind
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import (
    AnonymousPolicy,
    CredentialKind,
    Directory,
    Method,
    Role,
    TokenField,
    TokenIssuer,
    User,
)
from mqttdesk.core.reasons import ReasonCode, connack_code, mqtt5_connack_code
from mqttdesk.core.states import CredentialState
from mqttdesk.store.auth_log_repo import entry_from_decision

NOW = 1_795_000_000.0
SECRET = "a-shared-secret-of-at-least-32-bytes!"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PEM = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _issuer(name: str, key: str, hmac: bool, **fields: object) -> TokenIssuer:
    return TokenIssuer(name, key, hmac, fingerprint=tokens.fingerprint(key), **fields)  # type: ignore[arg-type]


ISSUERS = {
    "lab": _issuer("lab", SECRET, True, issuer="https://lab.example", audience="mqtt", roles=("sensors",)),
    "idp": _issuer("idp", RSA_PEM, False, issuer="https://idp.example"),
    "badge": _issuer("badge", SECRET + "-badge", True, token_field=TokenField.USERNAME, claim="uid"),
    "strict": _issuer("strict", SECRET + "-strict", True, issuer="strict", username_must_match=True),
}
DIRECTORY = Directory(
    users={"alice": User("alice", "$7$hash", CredentialState.ACTIVE, (), NOW, NOW)},
    roles={"sensors": Role("sensors", (Rule("sensors", "sensors/%u/#", Permission.READWRITE),))},
    anonymous=AnonymousPolicy(enabled=False), token_issuers=ISSUERS)


def _hs(claims: dict[str, object], key: str = SECRET, kid: str | None = None, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


def _lab(**claims: object) -> dict[str, object]:
    return {"sub": "sensor-7", "iss": "https://lab.example", "aud": "mqtt", "exp": NOW + 3600, **claims}


def _decide(username: str | None, password: str | None, directory: Directory = DIRECTORY,
            client_id: str = "c-1", will_topic: str | None = None) -> Decision:
    request = ConnectRequest(client_id, username, password, "127.0.0.1", will_topic=will_topic)
    if request.username and directory.users.get(request.username) is None:
        found = tokens.answer(request, directory, NOW)
        if found is not None:
            return decide_connect(found[0], directory, password_ok=None, live={}, answer=found[1])
    return decide_connect(request, directory, password_ok=False, live={})


def test_an_hs256_token_in_the_password_field_admits_its_subject_with_the_issuers_roles() -> None:
    decision = _decide("anything", _hs(_lab()))
    assert decision.allowed, decision.reason.text
    grant = decision.grant
    assert grant is not None
    assert (grant.method, grant.credential.kind, grant.credential.name) == (Method.TOKEN, CredentialKind.TOKEN,
                                                                           "lab:sensor-7")
    assert grant.username == "sensor-7"
    assert grant.valid_until == NOW + 3600
    assert "subject 'sensor-7' (sub)" in decision.steps
    assert decide_topic(Kind.PUBLISH, grant, "sensors/sensor-7/t", DIRECTORY).allowed  # %u is the subject
    assert not decide_topic(Kind.PUBLISH, grant, "sensors/other/t", DIRECTORY).allowed


def test_an_rs256_token_is_verified_with_the_issuers_public_key() -> None:
    token = jwt.encode({"sub": "bob", "iss": "https://idp.example", "exp": NOW + 60}, RSA_KEY, algorithm="RS256")
    decision = _decide("bob", token)
    assert decision.allowed
    assert decision.grant is not None
    assert decision.grant.credential.name == "idp:bob"


def test_a_token_in_the_username_field_and_the_log_shows_its_subject() -> None:
    token = _hs({"uid": "door-3", "exp": NOW + 60}, SECRET + "-badge")
    decision = _decide(token, None)
    assert decision.allowed
    assert decision.username == "door-3"
    assert decision.grant is not None
    assert decision.grant.credential.name == "badge:door-3"


@pytest.mark.parametrize(("make", "code"), [
    (lambda: _decide("x", _hs(_lab(exp=NOW - 5))), ReasonCode.TOKEN_EXPIRED),
    (lambda: _decide("x", _hs(_lab(), key=SECRET + "-wrong")), ReasonCode.TOKEN_BAD_SIGNATURE),
    (lambda: _decide("x", _hs(_lab(aud="other"))), ReasonCode.TOKEN_WRONG_AUDIENCE),
    (lambda: _decide("x", _hs(_lab(nbf=NOW + 600))), ReasonCode.TOKEN_NOT_YET_VALID),
    (lambda: _decide("x", _hs(_lab(iss="https://evil.example"), kid="lab")), ReasonCode.TOKEN_WRONG_ISSUER),
    (lambda: _decide("x", _hs({"sub": "a", "iss": "https://nobody.example"}, kid="nobody")),
     ReasonCode.TOKEN_UNKNOWN_ISSUER),
    (lambda: _decide("x", "aaaa.bbbb.cccc"), ReasonCode.TOKEN_MALFORMED),
    (lambda: _decide("x", _hs(_lab(sub=None))), ReasonCode.TOKEN_MALFORMED),
    (lambda: _decide("x", _hs(_lab(acl=[{"filter": "a/#", "access": "all"}]))), ReasonCode.TOKEN_MALFORMED),
    (lambda: _decide("x", jwt.encode(_lab(), EC_KEY, algorithm="ES256", headers={"kid": "lab"})),
     ReasonCode.TOKEN_BAD_SIGNATURE),  # an HMAC issuer never takes another algorithm
    (lambda: _decide("bob", _hs({"sub": "carol", "iss": "strict"}, SECRET + "-strict")), ReasonCode.BAD_PASSWORD),
])
def test_every_refusal_has_its_reason(make: Callable[[], Decision], code: ReasonCode) -> None:
    decision = make()
    assert not decision.allowed
    assert decision.reason_code is code, decision.reason.text
    assert decision.method is Method.TOKEN


def test_the_expired_sentence_says_when_and_the_codes_are_those_of_the_issue() -> None:
    decision = _decide("x", _hs(_lab(exp=NOW - 5)))
    assert "expired at" in decision.reason.text
    assert "sensor-7" in decision.reason.text
    assert (decision.connack, mqtt5_connack_code(decision.reason_code)) == (5, 0x87)
    assert (connack_code(ReasonCode.TOKEN_BAD_SIGNATURE, False), mqtt5_connack_code(ReasonCode.TOKEN_BAD_SIGNATURE)
            ) == (4, 0x86)


def test_the_acl_claim_becomes_rules_of_that_session_alone() -> None:
    decision = _decide("x", _hs(_lab(acl=[{"filter": "cmd/%u/#", "access": "read"}])))
    grant = decision.grant
    assert grant is not None
    assert len(grant.rules) == 1
    allowed = decide_topic(Kind.SUBSCRIBE, grant, "cmd/sensor-7/#", DIRECTORY)
    assert allowed.allowed
    assert "its token's acl claim allows read" in allowed.reason.text
    assert not decide_topic(Kind.PUBLISH, grant, "cmd/sensor-7/x", DIRECTORY).allowed  # read only


def test_a_local_username_is_never_put_to_the_tokens() -> None:
    decision = _decide("alice", _hs(_lab()))
    assert decision.reason_code is ReasonCode.BAD_PASSWORD
    assert decision.method is Method.PASSWORD


def test_a_value_that_is_no_token_leaves_the_unknown_user_refusal() -> None:
    assert tokens.answer(ConnectRequest("c", "nobody", "plain password"), DIRECTORY, NOW) is None
    assert _decide("nobody", "plain password").reason_code is ReasonCode.UNKNOWN_USER


def test_a_session_ends_when_its_issuer_goes_or_changes_its_key() -> None:
    grant = _decide("x", _hs(_lab())).grant
    assert grant is not None
    assert revalidate(grant, DIRECTORY, None) is None
    gone = dataclasses.replace(DIRECTORY, token_issuers={})
    assert revalidate(grant, gone, None) == "token issuer 'lab' was deleted"
    rekeyed = dataclasses.replace(DIRECTORY, token_issuers={"lab": _issuer("lab", SECRET + "-new", True)})
    assert revalidate(grant, rekeyed, None) == "the key of token issuer 'lab' was changed"


def test_mint_makes_a_token_its_issuer_accepts_and_refuses_public_key_issuers() -> None:
    token = tokens.mint(ISSUERS["lab"], "sensor-9", 60, [tokens.parse_acl_option("cmd/#=readwrite")], now=NOW)
    decision = _decide("x", token)
    assert decision.allowed
    assert decision.grant is not None
    assert decision.grant.username == "sensor-9"
    with pytest.raises(ValidationError):
        tokens.mint(ISSUERS["idp"], "x", 60)
    with pytest.raises(ValidationError):
        tokens.parse_acl_option("cmd/#")


def test_keys_are_checked_when_an_issuer_is_made() -> None:
    with pytest.raises(ValidationError):
        tokens.validate_key("short", True)
    with pytest.raises(ValidationError):
        tokens.validate_key("not a pem", False)
    assert tokens.algorithms_of(RSA_PEM, False)[0] == "RS256"


TOKEN = _hs(_lab())
EXPIRED = _hs(_lab(exp=NOW - 5))
TOKEN_PATHS: dict[str, tuple[ReasonCode, Callable[[], Decision]]] = {
    "token-accepted": (ReasonCode.AUTHENTICATED, lambda: _decide("x", TOKEN)),
    "token-expired": (ReasonCode.TOKEN_EXPIRED, lambda: _decide("x", EXPIRED)),
    "token-bad-signature": (ReasonCode.TOKEN_BAD_SIGNATURE, lambda: _decide("x", TOKEN[:-3] + "AAA")),
    "token-in-username-malformed": (ReasonCode.TOKEN_MALFORMED, lambda: _decide("zzzz.yyyy.xxxx", None)),
    "token-will-refused": (ReasonCode.ACL_NO_RULE, lambda: _decide("x", TOKEN, will_topic="elsewhere")),
}


@pytest.mark.parametrize(("code", "make"), list(TOKEN_PATHS.values()), ids=list(TOKEN_PATHS))
def test_the_token_is_in_no_field_of_the_decision_nor_its_log_entry(code: ReasonCode,
                                                                     make: Callable[[], Decision]) -> None:
    decision = make()
    assert decision.reason_code is code
    secrets = [TOKEN, EXPIRED, "zzzz.yyyy.xxxx", TOKEN[:-3] + "AAA"]
    text = repr(decision) + repr(entry_from_decision(decision).to_json()) + decision.reason_string()
    for secret in secrets:
        assert secret not in text
        assert secret.split(".")[1] not in text  # nor its claims part


def test_a_refusal_before_any_credential_check_never_logs_a_token_sent_as_the_username() -> None:
    assert shown_username(TOKEN) == tokens.TOKEN_IN_USERNAME
    assert shown_username("alice") == "alice"
    assert shown_username(None) is None


def test_a_public_key_is_never_taken_for_an_hmac_secret() -> None:
    """The classic algorithm confusion: a token HMAC-signed with the issuer's public key PEM as the secret."""
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'idp'})}." \
                    f"{part({'sub': 'mallory', 'iss': 'https://idp.example'})}"
    signature = hmac.new(RSA_PEM.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    decision = _decide("mallory", forged)
    assert decision.reason_code is ReasonCode.TOKEN_BAD_SIGNATURE
    assert "accepts RS256" in decision.reason.text


def test_a_token_in_the_username_that_no_issuer_reads_there_is_never_logged() -> None:
    """An issuer reads the password field only: a client putting its token in the username is an unknown user, and
    the decision (Auth log, MQTT 5 Reason String, suggested fix) shows "(token)", never the token."""
    from mqttdesk.core.decide import decide_connect
    from mqttdesk.core.decision import ConnectRequest
    from mqttdesk.core.fixes import suggest_fix
    from mqttdesk.core.reasons import ReasonCode
    from mqttdesk.core.tokens import TOKEN_IN_USERNAME

    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZW5zb3ItOSJ9.c2lnbmF0dXJlLW9mLWEtdG9rZW4tZm9yLXRlc3Rz"
    directory = dataclasses.replace(DIRECTORY, token_issuers={})
    decision = decide_connect(ConnectRequest(client_id="tok-2", username=token, password="x"), directory,
                              password_ok=None, live={})
    assert decision.reason_code is ReasonCode.UNKNOWN_USER
    assert decision.username == TOKEN_IN_USERNAME
    assert token not in repr(decision)
    fix = suggest_fix(decision, directory)
    assert fix is not None
    assert "password field" in fix.description

"""What EMQX and Mosquitto's go-auth ask mqttdesk's auth service, and how answers and configuration look.

EMQX 5 (HTTP authentication and authorization): always HTTP 200 with `{"result": "allow"|"deny"}` — any other
status, a timeout or a body that is not JSON means "ignore" to EMQX, and an authorization nobody answered falls to
`no_match`, which is allow. An accepted login carries `is_superuser: false`, `expire_at` when the session must end
(a token's `exp`), and the session's rules as an `acl` list (deny rules first, because EMQX takes the first match),
so EMQX asks only about topics no rule names — mqttdesk refuses those, and logs why.

go-auth's http backend (and the Stackhero API contract): `POST {"username", "password", "clientid"}` and
`{"username", "clientid", "topic", "acc"}` with acc 1 = read (a delivery), 2 = write, 3 = both, 4 = subscribe;
JSON or form encoded. In its json response mode it reads `{"ok": bool, "error": "..."}` from a 200; in status
mode a 2xx allows and anything else denies (a 5xx is an error it retries, so a refusal is 403).
"""

from __future__ import annotations

from typing import Any

from mqttdesk.core.acl import Effect, Permission
from mqttdesk.core.decision import Decision, Grant, Kind
from mqttdesk.core.model import Directory
from mqttdesk.core.topic_rules import roles_of
from mqttdesk.interop.rules import bind_rules

SECRET_HEADER = "X-Mqttdesk-Secret"
BROKER_HEADER = "X-Mqttdesk-Broker"  # an optional name of the asking broker (node), shown in the Auth log
SECRET_QUERY = "secret"  # for callers that cannot send a header (go-auth sends none of its own)
EMQX_AUTHN = "/emqx/authn"
EMQX_AUTHZ = "/emqx/authz"
GOAUTH_USER = "/mosquitto/user"
GOAUTH_ACL = "/mosquitto/acl"
GOAUTH_STATUS_USER = "/mosquitto/status/user"  # the same questions, answered in go-auth's status mode
GOAUTH_STATUS_ACL = "/mosquitto/status/acl"
EMQX_ACTIONS = {"publish": Kind.PUBLISH, "subscribe": Kind.SUBSCRIBE}
GOAUTH_ACC = {1: (Kind.RECEIVE,), 2: (Kind.PUBLISH,), 3: (Kind.RECEIVE, Kind.PUBLISH), 4: (Kind.SUBSCRIBE,)}
_ACL_ACTION = {Permission.READ: "subscribe", Permission.WRITE: "publish", Permission.READWRITE: "all"}


def text_field(body: dict[str, Any], name: str) -> str | None:
    """A request field as text; EMQX sends an empty string for a placeholder without a value: None then."""
    value = body.get(name)
    if value is None or value == "" or value == "undefined":
        return None
    return str(value)


def session_acl(grant: Grant, directory: Directory) -> list[dict[str, str]]:
    """The rules of an admitted session as EMQX's `acl` list: every pattern bound to its values, denies first."""
    roles = roles_of(grant, directory)
    if roles is None:  # unrestricted anonymous access
        return [{"permission": "allow", "action": "all", "topic": "#"}]
    bound = bind_rules(grant.username, roles, directory, client_id=grant.client_id, extra=grant.rules)
    acl = []
    for rule in bound:
        acl.append({"permission": "allow" if rule.effect is Effect.ALLOW else "deny",
                    "action": _ACL_ACTION[rule.permission], "topic": rule.topic_filter})
    return acl


def emqx_authn_answer(decision: Decision, directory: Directory) -> dict[str, Any]:
    if not decision.allowed or decision.grant is None:
        return {"result": "deny", "is_superuser": False}
    answer: dict[str, Any] = {"result": "allow", "is_superuser": False,
                              "acl": session_acl(decision.grant, directory)}
    if decision.grant.valid_until is not None:
        answer["expire_at"] = int(decision.grant.valid_until)
    return answer


def _headers(secret: str, indent: str) -> str:
    return (f'{indent}headers {{\n{indent}  "content-type" = "application/json"\n'
            f'{indent}  "{SECRET_HEADER}" = "{secret}"\n{indent}}}\n')


def emqx_config(base_url: str, secret: str) -> str:
    """EMQX 5's `authentication` and `authorization` blocks (HOCON) asking this service."""
    return (
        "# EMQX 5: mqttdesk answers logins and topic checks (emqx.conf, or the dashboard's Access Control)\n"
        "authentication = [\n  {\n    mechanism = password_based\n    backend = http\n    method = post\n"
        f'    url = "{base_url}{EMQX_AUTHN}"\n{_headers(secret, "    ")}'
        '    body {\n      username = "${username}"\n      password = "${password}"\n'
        '      clientid = "${clientid}"\n      peerhost = "${peerhost}"\n'
        '      cert_common_name = "${cert_common_name}"\n    }\n    request_timeout = "5s"\n  }\n]\n'
        "authorization {\n  no_match = deny\n  deny_action = ignore\n  cache { enable = true, ttl = 1m }\n"
        "  sources = [\n    {\n      type = http\n      method = post\n"
        f'      url = "{base_url}{EMQX_AUTHZ}"\n{_headers(secret, "      ")}'
        '      body {\n        username = "${username}"\n        clientid = "${clientid}"\n'
        '        peerhost = "${peerhost}"\n        topic = "${topic}"\n        action = "${action}"\n'
        '        qos = "${qos}"\n        retain = "${retain}"\n      }\n    }\n  ]\n}\n'
    )


def mosquitto_config(host: str, port: int, secret: str) -> str:
    """mosquitto-go-auth's options for its http backend (json response mode) asking this service."""
    query = f"?{SECRET_QUERY}={secret}"
    return (
        "# Mosquitto with mosquitto-go-auth: mqttdesk answers logins and topic checks (mosquitto.conf)\n"
        "auth_plugin /usr/lib/mosquitto-go-auth/go-auth.so\n"
        "auth_opt_backends http\n"
        f"auth_opt_http_host {host}\n"
        f"auth_opt_http_port {port}\n"
        f"auth_opt_http_getuser_uri {GOAUTH_USER}{query}\n"
        f"auth_opt_http_aclcheck_uri {GOAUTH_ACL}{query}\n"
        "auth_opt_http_params_mode json\n"
        "auth_opt_http_response_mode json\n"
        "auth_opt_http_timeout 5\n"
        "# go-auth caches answers (denials too) and cannot forget them: keep its cache off, or short\n"
        "auth_opt_cache false\n"
    )


def config_for(broker: str, host: str, port: int, secret: str) -> str:
    """The configuration `broker` ("emqx" or "mosquitto") needs to ask the service listening on `host`:`port`."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    return emqx_config(base, secret) if broker == "emqx" else mosquitto_config(shown, port, secret)

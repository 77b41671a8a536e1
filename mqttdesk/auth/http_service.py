"""mqttdesk as the auth service of another broker: EMQX 5 and go-auth ask over HTTP, the pipeline answers.

Every question is decided by the same `AuthPipeline` as the embedded broker's CONNECTs and topics (states,
bootstrap credentials and device registration, tokens, tenants, roles), recorded in the Auth log like them, with
one more step first that names the broker that asked (`asked by EMQX 'node1' (HTTP authentication) from …`).
The other broker carries the traffic, so mqttdesk does not see sessions: a clientId connected elsewhere is not
"in use" here (the other broker handles take-overs), but the last credential of each clientId is remembered as
usual, and the grant of each admitted login is kept in memory so that its topic checks are judged against it
(re-checked against the store: a credential suspended since is refused its topics).

Callers authenticate with the shared secret (`X-Mqttdesk-Secret`, or a `secret` query parameter for go-auth, which
sends no headers of its own); a request without it gets the dialect's refusal and an Auth log entry
(`caller-refused`), never EMQX's "ignore". The wire formats are in `interop/broker_hooks.py`.
"""

from __future__ import annotations

import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.core.decide import password_hash_for, revalidate
from mqttdesk.core.decision import ConnectRequest, Decision, Grant, Kind
from mqttdesk.core.model import CredentialKind, CredentialRef
from mqttdesk.core.reasons import Reason, ReasonCode, connack_code
from mqttdesk.interop import broker_hooks as hooks

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8091
REMEMBERED_GRANTS = 100_000  # admitted logins kept for their topic checks; the oldest are forgotten beyond
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Caller:
    """The broker that asked, as the Auth log names it."""

    dialect: str  # "EMQX" or "Mosquitto (go-auth)"
    name: str | None  # X-Mqttdesk-Broker, when it sent one
    address: str | None

    def step(self, what: str) -> str:
        who = f"{self.dialect} '{self.name}'" if self.name else self.dialect
        where = f" from {self.address}" if self.address else ""
        return f"asked by {who} ({what}){where}"


@dataclass(frozen=True, slots=True)
class _Admitted:
    grant: Grant
    password_hash: str | None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _emqx_never_ignores(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A failure while answering EMQX must still be an explicit deny: a 500 would be "ignore" to it."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        if request.path not in (hooks.EMQX_AUTHN, hooks.EMQX_AUTHZ):
            raise  # go-auth reads a 500 as an error, which is what it is
        log.exception("auth service: answering %s failed; answered deny", request.path)
        return web.json_response({"result": "deny", "is_superuser": False})


class AuthHttpService:
    """The HTTP endpoints; `start` binds them (loopback unless told otherwise), `stop` closes them."""

    def __init__(self, pipeline: AuthPipeline, recorder: DecisionRecorder, secret: str,
                 anonymous_on: Callable[[], bool]) -> None:
        """`anonymous_on` tells whether anonymous access is switched on explicitly: the automatic access while
        mqttdesk listens on loopback only is about mqttdesk's own listener, never another broker's clients."""
        if not secret:
            raise ValueError("the auth service needs a shared secret")
        self._anonymous_on = anonymous_on
        self._pipeline = pipeline
        self._recorder = recorder
        self._secret = secret.encode("utf-8")
        self._admitted: OrderedDict[str, _Admitted] = OrderedDict()
        self._runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[_emqx_never_ignores])
        app.router.add_post(hooks.EMQX_AUTHN, self._emqx_authn)
        app.router.add_post(hooks.EMQX_AUTHZ, self._emqx_authz)
        app.router.add_post(hooks.GOAUTH_USER, self._goauth(self._goauth_user, status_mode=False))
        app.router.add_post(hooks.GOAUTH_ACL, self._goauth(self._goauth_acl, status_mode=False))
        app.router.add_post(hooks.GOAUTH_STATUS_USER, self._goauth(self._goauth_user, status_mode=True))
        app.router.add_post(hooks.GOAUTH_STATUS_ACL, self._goauth(self._goauth_acl, status_mode=True))
        return app

    async def start(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> tuple[str, int]:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0]
        self.address = (str(bound[0]), int(bound[1]))
        return self.address

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.address = None
        self._recorder.flush()

    @property
    def running(self) -> bool:
        return self._runner is not None

    # -- the common parts -----------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        presented = request.headers.get(hooks.SECRET_HEADER) or request.query.get(hooks.SECRET_QUERY) or ""
        return hmac.compare_digest(presented.encode("utf-8"), self._secret)

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any] | None:
        """The request's fields (JSON, or a form as go-auth's form mode sends); None when there are none."""
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                return dict(await request.post())
            data = await request.json()
        except (ValueError, UnicodeDecodeError, web.HTTPRequestEntityTooLarge):
            return None
        return data if isinstance(data, dict) else None

    def _record(self, decision: Decision, caller: Caller, what: str) -> Decision:
        marked = replace(decision, steps=(caller.step(what), *decision.steps))
        self._recorder.record(marked)
        return marked

    def _refusal(self, kind: Kind, body: dict[str, Any] | None, caller: Caller, code: ReasonCode, text: str,
                 what: str, *, trusted: bool = True) -> Decision:
        """A request answered without a decision of the pipeline; the names it carried are logged as sent, the
        client's address only from a caller that proved itself (`trusted`)."""
        body = body or {}
        address = (hooks.text_field(body, "peerhost") if trusted else None) or caller.address
        decision = Decision(kind=kind, allowed=False, reason=Reason(code, text),
                            client_id=hooks.text_field(body, "clientid") or "",
                            username=hooks.text_field(body, "username"), topic=hooks.text_field(body, "topic"),
                            address=address, steps=(f"refused: {text}",))
        return self._record(decision, caller, what)

    def _caller_refused(self, kind: Kind, body: dict[str, Any] | None, caller: Caller, what: str) -> Decision:
        text = (f"the auth service refused a request from {caller.address or 'an unknown address'}: it did not "
                f"present the shared secret ({hooks.SECRET_HEADER} header, or ?{hooks.SECRET_QUERY}=)")
        return self._refusal(kind, body, caller, ReasonCode.CALLER_REFUSED, text, what, trusted=False)

    async def _login(self, body: dict[str, Any], caller: Caller, what: str) -> Decision:
        username = hooks.text_field(body, "username")
        address = hooks.text_field(body, "peerhost") or None
        request = ConnectRequest(client_id=hooks.text_field(body, "clientid") or "", username=username,
                                 password=hooks.text_field(body, "password"), address=address)
        refused = self._automatic_anonymous(Kind.CONNECT, username, request.client_id, address)
        if refused is not None:
            return self._record(refused, caller, what)
        decision = await self._pipeline.decide_connect(request)
        if decision.allowed and decision.grant is not None:
            self._admit(request, decision.grant, address)
        return self._record(decision, caller, what)

    def _admit(self, request: ConnectRequest, grant: Grant, address: str | None) -> None:
        """What the embedded broker does with an accepted CONNECT: register the device, remember the clientId's
        credential, count the use (inactive → active)."""
        if grant.registers is not None:
            self._recorder.record_registration(self._pipeline.admit_device(grant, address))
            self._recorder.record_use(CredentialRef(CredentialKind.BOOTSTRAP, grant.registers), address)
        else:
            self._recorder.record_use(grant.credential, address)
        self._pipeline.note_client_id(request.client_id, grant.credential)
        self._recorder.record_client_id(request.client_id, grant.credential)
        # with the hash it came in with: a password changed since refuses its topics
        self._admitted[request.client_id] = _Admitted(grant, password_hash_for(request, self._pipeline.directory))
        self._admitted.move_to_end(request.client_id)
        while len(self._admitted) > REMEMBERED_GRANTS:
            self._admitted.popitem(last=False)

    def _automatic_anonymous(self, kind: Kind, username: str | None, client_id: str,
                             address: str | None) -> Decision | None:
        """The refusal of a client without a username while anonymous access is only automatic (or None)."""
        if username or self._anonymous_on() or not self._pipeline.directory.anonymous.enabled:
            return None  # with it off, the pipeline refuses (anonymous-refused) in its own words
        text = ("anonymous access is on automatically for mqttdesk's own loopback listener only; for another "
                "broker's clients switch it on explicitly (mqttdesk anonymous on)")
        return Decision(kind=kind, allowed=False, reason=Reason(ReasonCode.ANONYMOUS_REFUSED, text),
                        client_id=client_id, address=address, steps=(f"refused: {text}",),
                        connack=connack_code(ReasonCode.ANONYMOUS_REFUSED, False) if kind is Kind.CONNECT else None)

    def _grant_for(self, username: str | None, client_id: str) -> Grant | Decision:
        """The grant a topic check is judged against: the login's, re-checked; else the identity's as it stands."""
        admitted = self._admitted.get(client_id)
        directory = self._pipeline.directory
        if admitted is not None and admitted.grant.username == username:
            why = revalidate(admitted.grant, directory, admitted.password_hash)
            if why is None:
                return admitted.grant
            text = f"{why} since this session logged in; its topics are refused"
            return Decision(kind=Kind.CONNECT, allowed=False, reason=Reason(ReasonCode.CREDENTIAL_CHANGED, text),
                            client_id=client_id, username=username, steps=(f"refused: {text}",))
        refused = self._automatic_anonymous(Kind.CONNECT, username, client_id, None)
        if refused is not None:
            return refused
        # not seen logging in (this service restarted): the identity as the store has it now
        vouched = self._pipeline.impersonate(username, client_id)
        if vouched.allowed and vouched.grant is not None:
            return vouched.grant
        return vouched

    def _topic(self, kind: Kind, username: str | None, client_id: str, topic: str, address: str | None) -> Decision:
        grant = self._grant_for(username, client_id)
        if isinstance(grant, Decision):
            return replace(grant, kind=kind, topic=topic, address=address, connack=None)
        return replace(self._pipeline.decide_topic(kind, grant, topic), address=address)

    # -- EMQX 5 ---------------------------------------------------------------------------------

    def _caller(self, request: web.Request, dialect: str) -> Caller:
        return Caller(dialect, request.headers.get(hooks.BROKER_HEADER) or None, request.remote)

    async def _emqx_authn(self, request: web.Request) -> web.Response:
        caller = self._caller(request, "EMQX")
        what = "HTTP authentication"
        body = await self._body(request)
        if not self._authorised(request):
            self._caller_refused(Kind.CONNECT, body, caller, what)
            return web.json_response({"result": "deny", "is_superuser": False})
        if body is None:
            self._refusal(Kind.CONNECT, None, caller, ReasonCode.BAD_REQUEST, "the request body is not a JSON "
                          "object", what)
            return web.json_response({"result": "deny", "is_superuser": False})
        decision = await self._login(body, caller, what)
        return web.json_response(hooks.emqx_authn_answer(decision, self._pipeline.directory))

    async def _emqx_authz(self, request: web.Request) -> web.Response:
        caller = self._caller(request, "EMQX")
        what = "HTTP authorization"
        body = await self._body(request)
        kind = hooks.EMQX_ACTIONS.get(str((body or {}).get("action", "")))
        if not self._authorised(request):
            self._caller_refused(kind or Kind.PUBLISH, body, caller, what)
            return web.json_response({"result": "deny"})
        topic = hooks.text_field(body or {}, "topic")
        if body is None or kind is None or topic is None:
            self._refusal(Kind.PUBLISH, body, caller, ReasonCode.BAD_REQUEST,
                          "the request needs action (publish or subscribe) and topic", what)
            return web.json_response({"result": "deny"})
        decision = self._topic(kind, hooks.text_field(body, "username"), hooks.text_field(body, "clientid") or "",
                               topic, hooks.text_field(body, "peerhost") or caller.address)
        self._record(decision, caller, what)
        return web.json_response({"result": "allow" if decision.allowed else "deny"})

    # -- go-auth (Mosquitto) --------------------------------------------------------------------

    def _goauth(self, handler: Callable[[dict[str, Any], Caller], Awaitable[Decision]], *,
                status_mode: bool) -> Handler:
        async def answer(request: web.Request) -> web.Response:
            caller = self._caller(request, "Mosquitto (go-auth)")
            body = await self._body(request)
            if not self._authorised(request):
                decision = self._caller_refused(Kind.CONNECT, body, caller, "user or ACL check")
            elif body is None:
                decision = self._refusal(Kind.CONNECT, None, caller, ReasonCode.BAD_REQUEST,
                                         "the request body is neither JSON nor a form", "user or ACL check")
            else:
                decision = await handler(body, caller)
            payload = {"ok": decision.allowed, "error": "" if decision.allowed else decision.reason.text}
            status = 403 if status_mode and not decision.allowed else 200
            return web.json_response(payload, status=status)

        return answer

    async def _goauth_user(self, body: dict[str, Any], caller: Caller) -> Decision:
        return await self._login(body, caller, "user check")

    async def _goauth_acl(self, body: dict[str, Any], caller: Caller) -> Decision:
        what = "ACL check"
        topic = hooks.text_field(body, "topic")
        try:
            kinds = hooks.GOAUTH_ACC[int(str(body.get("acc", "")))]
        except (KeyError, ValueError):
            kinds = ()
        if topic is None or not kinds:
            return self._refusal(Kind.PUBLISH, body, caller, ReasonCode.BAD_REQUEST,
                                 "the request needs topic and acc (1 read, 2 write, 3 both, 4 subscribe)", what)
        username, client_id = hooks.text_field(body, "username"), hooks.text_field(body, "clientid") or ""
        decision = None
        for kind in kinds:  # acc 3: both must be allowed; the first refusal is the answer
            decision = self._topic(kind, username, client_id, topic, None)
            if not decision.allowed:
                break
        assert decision is not None
        return self._record(decision, caller, what)

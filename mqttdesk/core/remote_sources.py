"""The credential sources that are not local: tokens (JWT) and the external HTTP service (`sources.NOT_LOCAL`).

They have no records in the snapshot to match a username against: the pipeline asks them (`core/tokens.py`
verifies a token, `auth/external.py` calls the service) only when no local source matched, and these classes answer
the seam's other questions for the sessions they admitted. Imported through `core/sources.py` only, which
registers them.
"""

from __future__ import annotations

from mqttdesk.core.decision import Grant, SessionHolder
from mqttdesk.core.model import CredentialKind, CredentialRef, Directory, Method
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.core.sources import CredentialSource
from mqttdesk.core.timefmt import format_time


class TokenSource(CredentialSource):
    """Tokens signed by an issuer of the store. A session's credential name is "ISSUER:SUBJECT"; store changes
    name the issuer."""

    kind = CredentialKind.TOKEN
    method = Method.TOKEN
    noun = "token"
    change_kind = "token"

    def change_key(self, ref: CredentialRef) -> str:
        return ref.name.partition(":")[0]

    def ref_label(self, ref: CredentialRef) -> str:
        issuer, _, subject = ref.name.partition(":")
        return f"the token of '{subject}' from issuer '{issuer}'"

    def roles(self, grant: Grant, directory: Directory) -> tuple[str, ...] | None:
        issuer = directory.token_issuers.get(self.change_key(grant.credential))
        return issuer.roles if issuer is not None else ()

    def holder_words(self, holder: SessionHolder) -> str:
        return f"token holder '{holder.username}'"

    def subject_words(self, grant: Grant) -> str:
        return f"token holder '{grant.username}'"

    def expired(self, grant: Grant) -> tuple[ReasonCode, str]:
        assert grant.valid_until is not None
        return ReasonCode.TOKEN_EXPIRED, f"{self.subject_words(grant)}: its token expired at " \
                                         f"{format_time(grant.valid_until)}"

    def revalidate(self, grant: Grant, directory: Directory, password_hash: str | None) -> str | None:
        name = self.change_key(grant.credential)
        issuer = directory.token_issuers.get(name)
        if issuer is None:
            return f"token issuer '{name}' was deleted"
        return None if issuer.fingerprint == grant.verified_with else f"the key of token issuer '{name}' was changed"


class ExternalSource(CredentialSource):
    """Usernames the external HTTP service vouched for. Their topics are the service's to decide (ACL route), not
    roles'; its settings are settings (a change re-validates its sessions)."""

    kind = CredentialKind.EXTERNAL
    method = Method.HTTP
    noun = "external user"
    change_kind = None

    def roles(self, grant: Grant, directory: Directory) -> tuple[str, ...] | None:
        return ()

    def holder_words(self, holder: SessionHolder) -> str:
        return f"external user '{holder.username}'"

    def subject_words(self, grant: Grant) -> str:
        return f"external user '{grant.username}'"

    def revalidate(self, grant: Grant, directory: Directory, password_hash: str | None) -> str | None:
        settings = directory.external
        if not settings.active:
            return "the external HTTP service was turned off"
        if settings.fingerprint != grant.verified_with:
            return "the external HTTP service's URL or user route changed"
        return None


TOKENS: CredentialSource = TokenSource()
EXTERNAL: CredentialSource = ExternalSource()

"""What a user name, role name or clientId may look like."""

from __future__ import annotations

from mqttdesk.core.errors import ValidationError

MAX_NAME_LENGTH = 256


def validate_name(what: str, name: str) -> str:
    """Return `name` if it is usable as a `what` ("user", "role", ...); raise `ValidationError` otherwise."""
    if not name or not name.strip():
        raise ValidationError(f"a {what} name must not be empty")
    if name != name.strip():
        raise ValidationError(f"a {what} name must not start or end with spaces")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"a {what} name must be at most {MAX_NAME_LENGTH} characters")
    if any(ord(char) < 32 or char == "\x7f" for char in name):
        raise ValidationError(f"a {what} name must not contain control characters")
    return name


def tenant_of(username: str | None) -> str | None:
    """The tenant of a username written `name@tenant` (after the last '@'), or None.

    Tenants group credentials; `%t` in a topic filter expands to the tenant, so one role such as `tenants/%t/#`
    keeps tenants apart. An '@' at either end does not make a tenant.
    """
    if not username or "@" not in username:
        return None
    name, _, tenant = username.rpartition("@")
    return tenant if name and tenant else None

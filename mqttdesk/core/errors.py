"""One exception hierarchy for mistakes a person can make (as opposed to bugs).

Front-ends (CLI, GUI, control socket) catch `MqttdeskError` and show its message as it is: every message is
written to be read by the user, in one line, without a traceback.
"""

from __future__ import annotations


class MqttdeskError(Exception):
    """A user-facing error: the message says what is wrong and, where possible, what to do."""


class ValidationError(MqttdeskError):
    """Input that can never be valid (a bad topic filter, an empty name, a weak port number)."""


class NotFoundError(MqttdeskError):
    """The named thing does not exist."""


class AlreadyExistsError(MqttdeskError):
    """A name is taken."""


class InvalidTransitionError(MqttdeskError):
    """The credential state machine forbids this action in the current state."""

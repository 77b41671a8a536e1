"""A session's remembered topic decisions: no table of its own until its first decision, never another's."""

from __future__ import annotations

from mqttdesk.broker.session_state import TopicDecisions
from mqttdesk.core.decision import Grant
from mqttdesk.core.model import ANONYMOUS_REF, Method

GRANT = Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, "c")


def test_a_session_gets_tables_of_its_own_at_its_first_reset_and_keeps_them() -> None:
    first, second = TopicDecisions(), TopicDecisions()
    assert (first.epoch, first.publish, first.receive) == (-1, {}, {})
    first.reset(3, GRANT)
    first.publish["a/b"] = first.receive["a/b"] = object()  # type: ignore[assignment]
    assert (second.publish, second.receive) == ({}, {})  # the shared empty table was not written to
    second.reset(3, GRANT)
    assert (second.publish, second.receive) == ({}, {})
    tables = first.publish, first.receive
    first.reset(4, GRANT)
    assert (first.publish, first.receive) == ({}, {})
    assert first.publish is tables[0]  # cleared, not made again
    assert first.receive is tables[1]
    assert first.publish is not first.receive

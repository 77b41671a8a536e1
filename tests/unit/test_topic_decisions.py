"""A session's remembered topic decisions: no memo of its own until its first decision, never another's."""

from __future__ import annotations

from mqttdesk.broker.session_state import TopicDecisions
from mqttdesk.core.decision import Grant
from mqttdesk.core.model import ANONYMOUS_REF, Method

GRANT = Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, "c")


def test_a_memo_is_cleared_by_reset_not_made_again() -> None:
    memo = TopicDecisions(3, GRANT)
    memo.publish["a/b"] = memo.receive["a/b"] = object()  # type: ignore[assignment]
    tables = memo.publish, memo.receive
    memo.reset(4, GRANT)
    assert (memo.epoch, memo.publish, memo.receive) == (4, {}, {})
    assert memo.publish is tables[0]
    assert memo.receive is tables[1]
    assert memo.publish is not memo.receive

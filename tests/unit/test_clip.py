"""Clipping client-supplied strings for the Auth log: what is kept, the marker, and the sentences that repeat them."""

from __future__ import annotations

from mqttdesk.core.clip import CLIP_LENGTH, SENTENCE_LENGTH, clip, clip_optional, clip_sentences, clipped_length
from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.store.auth_log_repo import entry_from_decision


def test_a_short_value_is_kept_as_it_is() -> None:
    value = "x" * CLIP_LENGTH
    assert clip(value) is value
    assert clipped_length(value) is None
    assert clip_optional(None) is None


def test_a_long_value_keeps_its_start_and_says_its_full_length() -> None:
    clipped = clip("a" * 65_535)
    assert clipped == "a" * CLIP_LENGTH + "… (65,535 characters)"
    assert clipped_length(clipped) == 65_535
    assert clipped_length("a name… (3 characters) and more") is None  # only a trailing marker counts


def test_sentences_name_the_clipped_value_and_are_capped() -> None:
    name = "u" * 70_000
    reason, steps = clip_sentences(f"no user named '{name}'", (f"username '{name}' → nobody", "x" * 5000), [name])
    assert reason == f"no user named '{clip(name)}'"
    assert steps[0] == f"username '{clip(name)}' → nobody"
    assert steps[1] == clip("x" * 5000, SENTENCE_LENGTH)


def test_sentences_without_long_values_are_not_copied() -> None:
    steps = ("one", "two")
    reason, same = clip_sentences("fine", steps, ["short", None])
    assert (reason, same) == ("fine", steps)
    assert same is steps


def test_an_entry_from_a_decision_never_carries_the_full_string() -> None:
    username, client_id, topic = "u" * 65_535, "c" * 65_535, "t/" + "x" * 60_000
    decision = Decision(
        Kind.PUBLISH, False, Reason(ReasonCode.ACL_NO_RULE, f"user '{username}' may not publish to '{topic}'"),
        client_id, username=username, topic=topic, address="127.0.0.1",
        steps=(f"user '{username}' (clientId '{client_id}') wants to publish to '{topic}'",),
    )
    entry = entry_from_decision(decision, when=1.0)
    assert (entry.username, entry.client_id, entry.topic) == (clip(username), clip(client_id), clip(topic))
    assert entry.reason == f"user '{clip(username)}' may not publish to '{clip(topic)}'"
    assert entry.steps == (
        f"user '{clip(username)}' (clientId '{clip(client_id)}') wants to publish to '{clip(topic)}'",)
    assert sum(len(part) for part in (entry.reason, *entry.steps, entry.username, entry.client_id)) < 2_000

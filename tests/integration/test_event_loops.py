"""The broker on uvloop, the loop `mqttdesk serve` runs on where it is installed (broker/event_loops.py).

The rest of the integration tests run on asyncio's own loop, as the window's qasync loop is one. uvloop differs
where it matters to listeners: it reads a connection as soon as it is made (a pause asked for in connection_made
is undone), its transports and servers are not asyncio's classes, its TLS is its own copy. So the tests of those
paths run here again, unchanged, on uvloop: each imported test below is collected in this module too, and the
autouse fixture makes every instance they start a uvloop one. `MQTTDESK_TEST_LOOP=uvloop` runs all of them there.
"""

from __future__ import annotations

import sys

import pytest

from mqttdesk.broker.event_loops import loop_name
from tests.integration import harness
from tests.integration.harness import Instance

# Imported to be collected again here, with the fixtures of their modules (hence the noqa: used by name).
from tests.integration.test_connect_auth import (  # noqa: F401
    test_racing_connects_of_one_client_id_leave_exactly_one_connection,
    test_same_credential_takes_its_own_session_over,
    test_wrong_password_gets_4_with_reason,
)
from tests.integration.test_large_subscribe import (  # noqa: F401
    desk,
    test_other_clients_are_served_while_a_big_subscribe_is_handled,
)
from tests.integration.test_mqtt5_connect import (  # noqa: F401
    test_kick_sends_disconnect_0x98_with_its_reason,
    test_stopping_the_broker_sends_disconnect_0x8b,
    test_takeover_sends_disconnect_0x8e_to_the_old_connection,
    test_wrong_password_gets_0x86_with_the_auth_log_sentence_as_reason_string,
)
from tests.integration.test_mqtt5_flow import (  # noqa: F401
    test_a_packet_over_the_brokers_maximum_packet_size_gets_disconnect_0x95,
    test_the_broker_sends_no_more_unacknowledged_messages_than_the_client_receive_maximum,
)
from tests.integration.test_tls_listener import (  # noqa: F401
    refusals,
    test_a_trusted_client_certificate_travels_with_the_connect,
    test_client_certificate_the_server_does_not_trust_is_logged,
    test_client_that_does_not_trust_our_certificate_is_logged,
    test_paho_over_tls_is_authenticated_and_the_entry_says_how_it_came,
    test_plain_mqtt_on_the_tls_port_is_logged,
    test_repeated_handshake_failures_fold_into_one_entry,
    test_sockets_that_never_start_their_handshake_count_against_the_pending_caps,
    tls_instance,
)
from tests.integration.test_websocket_listener import (  # noqa: F401
    made,
    test_packets_split_across_messages_and_packed_into_one_are_one_byte_stream,
    test_paho_over_websocket_is_authenticated_and_exchanges_messages_with_tcp,
    test_paho_over_websocket_with_tls,
    test_plain_tcp_on_the_wss_port_is_in_the_auth_log_and_nothing_is_left_waiting,
    test_sockets_that_never_start_their_websocket_handshake_count_against_the_pending_caps,
    test_wss_client_that_does_not_trust_our_certificate_is_in_the_auth_log,
    ws_instance,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not run on Windows")


@pytest.fixture(autouse=True)
def _on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "test_loop", "uvloop")


def test_the_instances_here_run_on_uvloop(instance: Instance) -> None:
    assert loop_name(instance.loop) == "uvloop"

"""One sans-I/O MQTT protocol core for the server side, MQTT 3.1.1 and MQTT 5: bytes in, events out, bytes to send.

No sockets, no asyncio, no threads (the clock can be injected): the caller owns the I/O, in the style of
python-websockets' `Protocol` and h11.

    protocol = ServerProtocol(maximum_packet_size=..., receive_maximum=..., topic_alias_maximum=...)
    protocol.receive_data(chunk)            # or receive_eof() when the peer closed
    for event in protocol.events_received():
        ...                                 # Connect, Publish, PubAck.., Subscribe, Unsubscribe, PingReq,
                                            # Disconnect, Auth, ProtocolErrorOccurred, KeepAliveTimedOut,
                                            # ConnectionClosed
    protocol.send_connack(0, session_present=False)   # then send_publish / send_puback / send_suback ...
    transport.write(b"".join(protocol.data_to_send()))
    if protocol.close_expected(): transport.close()
    timer = protocol.next_deadline()        # call protocol.handle_deadline() then

Received packets are reported as the version-neutral packet values of packets.py (a 3.1.1 packet gets the MQTT 5
defaults), with inbound topic aliases resolved. A PINGREQ is an event like the others (answer it with
`send_pingresp`, in order with the rest). A protocol error becomes
a `ProtocolErrorOccurred` event (the last of its read) and `close_expected()`; before the CONNACK the core sends the
CONNACK the spec asks for, on an open connection the broker answers the packets before it and then calls
`send_error_disconnect()` for the DISCONNECT.
"""

from mqttdesk.broker.protocol.connection import InvalidState, ServerProtocol, State
from mqttdesk.broker.protocol.encoder import OutgoingPublish
from mqttdesk.broker.protocol.events import ConnectionClosed, Event, KeepAliveTimedOut, ProtocolErrorOccurred
from mqttdesk.broker.protocol.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    PingReq,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Suback,
    Subscribe,
    SubscriptionOptions,
    Unsuback,
    Unsubscribe,
    Will,
)
from mqttdesk.broker.protocol.properties import EMPTY_PROPERTIES, Properties
from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason, ProtocolError

__all__ = [
    "EMPTY_PROPERTIES", "Auth", "Connack", "Connect", "ConnectionClosed", "Disconnect", "Event", "InvalidState",
    "KeepAliveTimedOut", "Mqtt5Reason", "OutgoingPublish", "PingReq", "ProtocolError", "ProtocolErrorOccurred",
    "Properties", "PubAck", "PubComp", "PubRec", "PubRel", "Publish", "ServerProtocol", "State", "Suback", "Subscribe",
    "SubscriptionOptions", "Unsuback", "Unsubscribe", "Will",
]

"""What the benchmark runs: counts (full and `--quick`), the credentials and topics every system is set up with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"

# the same set-up on mqttdesk and mosquitto: one password user and one role/ACL on the bench topics
USER = "benchuser"
PASSWORD = "bench-password-1"
ROLE = "bench"
TOPIC_FILTER = "bench/#"
TOPIC = "bench/load/t1"  # what publishers publish to; subscribers subscribe to TOPIC_FILTER
PROBE_TOPIC = "bench/load/probe"  # one message before a timed run proves every subscription is live
BOOTSTRAP = "fleet"  # mqttdesk only: the bootstrap credential of the storm (registers devices)
BOOTSTRAP_PASSWORD = "fleet-password-1"

PAYLOAD_BYTES = 100
# raised on mosquitto and mqttdesk alike so QoS 1 is not throttled by the defaults (20 in flight, 1000 queued);
# bare amqtt has no such limits
MAX_INFLIGHT = 1000
MAX_QUEUED = 100_000
MAX_PENDING_PER_ADDRESS = 5_000  # the storm's devices all connect from one address (mqttdesk only)
KEEP_ALIVE = 600  # idle clients must not need PINGREQs during a run


@dataclass(frozen=True, slots=True)
class Counts:
    connects: int  # sequential CONNECT+DISCONNECT, and the size of the storm
    storm: int
    qos0: int
    qos1: int
    fanout_messages: int
    fanout_subscribers: int
    idle_clients: int
    startups: int  # process starts per system (the median is reported)
    gui_storm: int
    gui_flood: int
    login_guesses: int  # wrong-password CONNECTs sent and abandoned (login suite)
    login_burst: int  # clients guessing passwords at once (login suite)
    login_burst_seconds: int
    warmup: int  # untimed connects before a timed run (the first one fills mqttdesk's verified-password cache)
    repeats: int  # timed runs of each connect and throughput load per system (the median is reported)

    def to_json(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


FULL = Counts(connects=1000, storm=1000, qos0=50_000, qos1=30_000, fanout_messages=1000, fanout_subscribers=50,
              idle_clients=1000, startups=5, gui_storm=1000, gui_flood=20_000, login_guesses=300, login_burst=50,
              login_burst_seconds=10, warmup=10, repeats=3)
QUICK = Counts(connects=200, storm=200, qos0=2000, qos1=500, fanout_messages=100, fanout_subscribers=50,
               idle_clients=200, startups=2, gui_storm=200, gui_flood=2000, login_guesses=60, login_burst=10,
               login_burst_seconds=3, warmup=3, repeats=1)

# upper bounds on waiting, whatever the counts
START_TIMEOUT = 30.0  # a broker process must say "listening" within this
STOP_TIMEOUT = 15.0
RUN_TIMEOUT = 120.0  # one timed load run
STALL_TIMEOUT = 5.0  # a throughput run ends when nothing arrived for this long

"""What an aggregator knows of the hubs on a broker, built from their MQTT messages (sans-I/O).

:class:`AggregateView` takes one MQTT message at a time (topic, payload, retained flag) and
returns the events to show on the aggregator's websocket. It de-duplicates by envelope
(:class:`~sensorhub.mqtt.seqtrack.SeqTracker` per hub session), counts what is missing, and
rewrites each hub's events into the aggregator's session:

* **names** of participants, sensors and dyad members become ``<hub>/<name>`` (``room-a/p1``),
  so two rooms may both have a ``p1``; a hub's markers keep their label, with source
  ``<hub>/<source>``; its errors say which hub they come from;
* **times** move from the hub's session clock to the aggregator's: each hub session gets one
  fixed offset, estimated from its first timed event as ``(envelope ts - event time)`` minus
  the aggregator's start (Unix time). A fixed offset keeps every duration and the order of a
  hub's events exactly; the hubs line up with each other to within their wall clocks' agreement
  plus the first event's publishing latency.

A hub's ``hello`` is not forwarded: the aggregator announces its own (``aggregator: true``)
listing every hub's participants, again whenever that set grows. A hub's state message is
forwarded as a :class:`~sensorhub.events.HubStatus` carrying the aggregator's own counts.
Nothing is ever removed: a hub that went offline keeps its participants, sensors and state.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sensorhub import events as ev
from sensorhub.errors import DecodeError
from sensorhub.mqtt.protocol import Envelope, decode_message, parse_topic
from sensorhub.mqtt.seqtrack import SeqTracker

__all__ = ["AggregateView", "HubView", "Malformed", "namespaced"]

#: Hub sessions whose trackers are kept per hub (a hub restarting makes a new one); older
#: ones are folded into the hub's totals. A late copy from a forgotten session counts again.
MAX_SESSIONS_PER_HUB = 8
#: Envelope-to-arrival latencies kept per hub for the health figures.
LATENCY_WINDOW = 1000
#: The rate announced when no hub said one (the hubs' default).
DEFAULT_RATE_HZ = 10.0
#: The time field that dates each event (its "now" when the hub produced it).
_PRIMARY_TIME = {
    ev.Angle: "t",
    ev.EpisodeStarted: "confirmed",
    ev.EpisodeEnded: "end",
    ev.DyadEvent: "t",
    ev.SensorStatus: "t",
    ev.Marker: "t",
    ev.ErrorEvent: "t",
}
_TIME_FIELDS = ("t", "onset", "crossing", "confirmed", "end", "exit")


class Malformed(DecodeError):
    """An MQTT message the aggregator cannot use; ``kind`` is ``topic``, ``payload`` or
    ``envelope`` (the health counters' keys)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def namespaced(hub: str, name: str) -> str:
    """A hub's participant, sensor or dyad member as the aggregator names it."""
    return f"{hub}/{name}"


@dataclass
class HubView:
    """One hub as the aggregator sees it. ``state`` is None until the hub said (or a live
    message showed) anything about it."""

    hub: str
    state: str | None = None
    session: str | None = None
    name: str = ""
    reason: str = ""
    outbox: int = 0
    last_seen: float | None = None
    events: int = 0
    state_ts: float = -math.inf
    hello_ts: float = -math.inf
    angle_rate_hz: float | None = None
    participants: dict[str, dict[str, Any]] = field(default_factory=dict)
    sensors: dict[str, dict[str, Any]] = field(default_factory=dict)
    dyads: list[list[str]] = field(default_factory=list)
    trackers: dict[str, SeqTracker] = field(default_factory=dict)
    offsets: dict[str, float] = field(default_factory=dict)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    retired_duplicates: int = 0
    retired_missing: int = 0

    @property
    def duplicates(self) -> int:
        return self.retired_duplicates + sum(t.duplicates for t in self.trackers.values())

    @property
    def missing(self) -> int:
        return self.retired_missing + sum(t.missing for t in self.trackers.values())

    def tracker(self, hub_session: str) -> SeqTracker:
        tracker = self.trackers.get(hub_session)
        if tracker is None:
            if len(self.trackers) >= MAX_SESSIONS_PER_HUB:
                oldest = next(iter(self.trackers))
                old = self.trackers.pop(oldest)
                self.retired_duplicates += old.duplicates
                self.retired_missing += old.missing
                self.offsets.pop(oldest, None)
            tracker = self.trackers[hub_session] = SeqTracker()
        return tracker

    def status(self) -> ev.HubStatus:
        return ev.HubStatus(
            self.hub,
            "online" if self.state == "online" else "offline",
            session=self.session,
            name=self.name,
            reason=self.reason,
            outbox=self.outbox,
            last_seen=self.last_seen,
            events=self.events,
            duplicates=self.duplicates,
            missing=self.missing,
        )

    def latency_summary(self) -> dict[str, Any] | None:
        if not self.latencies:
            return None
        values = sorted(self.latencies)

        def pct(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))], 4)

        return {
            "n": len(values),
            "last": round(self.latencies[-1], 4),
            "p50": pct(0.5),
            "p95": pct(0.95),
            "max": round(values[-1], 4),
        }

    def health(self, now_wall: float) -> dict[str, Any]:
        age = None if self.last_seen is None else round(max(0.0, now_wall - self.last_seen), 3)
        return {
            "state": self.state or "unknown",
            "session": self.session,
            "name": self.name,
            "reason": self.reason,
            "outbox": self.outbox,
            "last_seen": self.last_seen,
            "last_seen_age_s": age,
            "events": self.events,
            "duplicates": self.duplicates,
            "missing": self.missing,
            "sessions": len(self.trackers),
            "participants": list(self.participants),
            "clock_offset_s": {s: round(o, 4) for s, o in self.offsets.items()},
            "latency_s": self.latency_summary(),
        }


class AggregateView:
    """Every hub seen on the broker; see the module docstring.

    ``wall`` is Unix time in seconds (injected: tests use a fake). The aggregator's session
    time is ``wall() - start_wall``.
    """

    def __init__(self, session_id: str, wall: Callable[[], float]) -> None:
        self.session_id = session_id
        self.wall = wall
        self.start_wall = wall()
        self.hubs: dict[str, HubView] = {}
        self.markers: list[ev.Marker] = []
        self.malformed: dict[str, int] = {}
        self.last_malformed = ""
        self._layout: tuple[Any, ...] = ()
        self._layout_dirty = False

    def now(self) -> float:
        """Aggregator session time, seconds."""
        return self.wall() - self.start_wall

    # -- incoming -------------------------------------------------------------------------

    def count_malformed(self, kind: str, message: str) -> None:
        self.malformed[kind] = self.malformed.get(kind, 0) + 1
        self.last_malformed = message

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> list[Any]:
        """The events one MQTT message gives the websocket (none for a copy); raises
        :class:`Malformed` for a message that is not a valid sensorhub message."""
        try:
            hub, _, last = parse_topic(topic)
        except DecodeError as exc:
            raise Malformed("topic", str(exc)) from exc
        try:
            event, env = decode_message(payload)
        except DecodeError as exc:
            raise Malformed("payload", f"{topic}: {exc}") from exc
        is_state = isinstance(event, ev.HubStatus)
        if (last != "state" or not is_state) and last != event.TYPE:
            raise Malformed("topic", f"{topic}: carries a {event.TYPE!r} event")
        if is_state and event.hub != hub:
            raise Malformed("payload", f"{topic}: state of another hub {event.hub!r}")
        if env is None and not is_state:
            raise Malformed("envelope", f"{topic}: {event.TYPE} without an envelope")
        if env is not None and env.hub != hub:
            raise Malformed("envelope", f"{topic}: envelope of hub {env.hub!r}")
        view = self.hubs.get(hub)
        if view is None:
            view = self.hubs[hub] = HubView(hub)
        out: list[Any] = []
        if env is not None:
            if not view.tracker(env.hub_session).accept(env.seq, retained=retained):
                return []
            self._arrived(view, env, retained, None if is_state else out)
        if isinstance(event, ev.HubStatus):
            self._hub_state(view, event, env, out)
        elif isinstance(event, ev.Hello):
            assert env is not None
            self._hello(view, event, env, out)
        else:
            assert env is not None
            out.append(self._forward(view, event, env))
        if self._layout_dirty:  # only a hello or a new participant can change it
            self._layout_dirty = False
            if self._layout_changed():
                out.insert(0, self.hello())
        return out

    def _arrived(self, view: HubView, env: Envelope, retained: bool, out: list[Any] | None) -> None:
        now = self.wall()
        view.events += 1
        if retained:  # an old message: it dates from when the hub sent it
            seen = min(env.ts, now)
            view.last_seen = seen if view.last_seen is None else max(view.last_seen, seen)
            return
        view.last_seen = now
        view.latencies.append(now - env.ts)
        if view.state is None and out is not None:  # data flows, the hub's state is not in
            view.state, view.session = "online", env.hub_session
            out.append(view.status())

    def _hub_state(
        self, view: HubView, event: ev.HubStatus, env: Envelope | None, out: list[Any]
    ) -> None:
        if env is not None:
            if env.ts < view.state_ts:
                return  # an older state than the one shown (a backlog arriving late)
            view.state_ts = env.ts
        view.state = event.state
        view.session = event.session or view.session
        view.name = event.name or view.name
        view.reason = event.reason
        view.outbox = event.outbox
        out.append(view.status())

    def _hello(self, view: HubView, hello: ev.Hello, env: Envelope, out: list[Any]) -> None:
        if env.ts < view.hello_ts:
            return
        view.hello_ts = env.ts
        hub = view.hub
        view.participants = {}
        for p in hello.participants:
            if "id" not in p:
                continue
            entry = dict(p, id=namespaced(hub, str(p["id"])), hub=hub)
            if isinstance(p.get("sensor"), str):
                entry["sensor"] = namespaced(hub, p["sensor"])
            view.participants[entry["id"]] = entry
        for s in hello.sensors:
            entry = _namespace_sensor(hub, s)
            key = entry.get("sensor", entry.get("id"))
            if isinstance(key, str):
                view.sensors.setdefault(key, entry)
        view.dyads = [[namespaced(hub, str(m)) for m in pair] for pair in hello.dyads]
        view.angle_rate_hz = hello.angle_rate_hz
        self._layout_dirty = True

    def _forward(self, view: HubView, event: Any, env: Envelope) -> Any:
        hub = view.hub
        changes: dict[str, Any] = {}
        participant = getattr(event, "participant", None)
        if isinstance(participant, str):
            changes["participant"] = ns = namespaced(hub, participant)
            if ns not in view.participants:  # seen before its hub's hello: show it anyway
                view.participants[ns] = {"id": ns, "hub": hub}
                self._layout_dirty = True
        if isinstance(event, ev.SensorStatus):
            changes["sensor"] = namespaced(hub, event.sensor)
        elif isinstance(event, ev.DyadEvent):
            changes["dyad"] = [namespaced(hub, m) for m in event.dyad]
            if event.leader is not None:
                changes["leader"] = namespaced(hub, event.leader)
        elif isinstance(event, ev.Marker):
            changes["source"] = namespaced(hub, event.source)
        elif isinstance(event, ev.ErrorEvent):
            changes["message"] = f"{hub}: {event.message}"
        offset = self._offset(view, event, env)
        for name in _TIME_FIELDS:
            value = getattr(event, name, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                changes[name] = round(value + offset, 6)
        out = dataclasses.replace(event, **changes)
        if isinstance(out, ev.SensorStatus):
            view.sensors[out.sensor] = ev.to_json(out)
        elif isinstance(out, ev.Marker):
            self.markers.append(out)
        return out

    def _offset(self, view: HubView, event: Any, env: Envelope) -> float:
        offset = view.offsets.get(env.hub_session)
        if offset is None:
            primary = getattr(event, _PRIMARY_TIME.get(type(event), "t"), None)
            if not isinstance(primary, int | float) or isinstance(primary, bool):
                return 0.0  # no time to date the session by (yet)
            offset = view.offsets[env.hub_session] = env.ts - primary - self.start_wall
        return offset

    # -- what the server shows ------------------------------------------------------------

    def _layout_changed(self) -> bool:
        layout = (
            tuple(p for v in self.hubs.values() for p in v.participants),
            tuple(tuple(d) for v in self.hubs.values() for d in v.dyads),
            self.angle_rate_hz(),
        )
        if layout == self._layout:
            return False
        self._layout = layout
        return True

    def angle_rate_hz(self) -> float:
        rates = [v.angle_rate_hz for v in self.hubs.values() if v.angle_rate_hz]
        return max(rates, default=DEFAULT_RATE_HZ)

    def hello(self) -> ev.Hello:
        return ev.Hello(
            self.session_id,
            self.participants(),
            self.sensors(),
            [list(d) for v in self.hubs.values() for d in v.dyads],
            self.angle_rate_hz(),
            aggregator=True,
        )

    def participants(self) -> list[dict[str, Any]]:
        return [dict(p) for v in self.hubs.values() for p in v.participants.values()]

    def sensors(self) -> list[dict[str, Any]]:
        return [dict(s) for v in self.hubs.values() for s in v.sensors.values()]

    def statuses(self) -> list[ev.HubStatus]:
        return [v.status() for v in self.hubs.values() if v.state is not None]

    def hubs_health(self) -> dict[str, Any]:
        now = self.wall()
        return {hub: v.health(now) for hub, v in self.hubs.items()}

    def add_marker(self, label: str) -> ev.Marker:
        marker = ev.Marker(round(self.now(), 6), label, "aggregator")
        self.markers.append(marker)
        return marker

    def all_markers(self) -> list[ev.Marker]:
        return sorted(self.markers, key=lambda m: m.t)


def _namespace_sensor(hub: str, status: dict[str, Any]) -> dict[str, Any]:
    entry = dict(status)
    for key in ("sensor", "id", "participant"):
        if isinstance(entry.get(key), str):
            entry[key] = namespaced(hub, entry[key])
    if "t" in entry:
        entry.pop("t")  # hub session time: meaningless here until the next live status
    return entry

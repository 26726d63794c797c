"""LSL bridge: the session's angles and episodes as Lab Streaming Layer streams.

A lab synchronises sensorhub with EEG, eye tracking or video by recording our streams in
LabRecorder beside theirs. :class:`LslBridge` is an event sink (``Hub.event_sinks``) that opens

* one outlet per participant, ``sensorhub-<participant>-angles`` (type ``Inclination``):
  two float32 channels, ``forward`` and ``lateral`` in degrees (positive forward / to the
  right), at the nominal rate of the hub's angle events (``angle_rate_hz``, 10 Hz by default);
  one sample per :class:`~sensorhub.events.Angle` event;
* one marker outlet, ``sensorhub-markers`` (type ``Markers``, one string channel, irregular
  rate): ``episode_start <participant> <level>``,
  ``episode_end <participant> <level> peak=<deg> mean=<deg>`` (plus `` truncated`` when the
  session ended mid-episode), ``marker <label>`` for researcher markers, and
  ``session_end <session>`` on :meth:`LslBridge.close`. The first three words are fixed;
  anything after them is detail. The default levels are named after their direction
  (``forward``, ``backward``), so the default forward lean reads ``episode_start p1 forward``.

``source_id`` is ``sensorhub:<session>:<participant>:angles`` (``...:markers``): stable for a
session, so an inlet (LabRecorder) that loses the stream reconnects to the same one.

Clock mapping. Events carry *session* times (seconds since the session started). LSL wants
every sample stamped on its own clock, ``local_clock()``. The bridge captures one offset when
it is built: ``offset = local_clock() - session_now_s``, i.e. session time ``t`` is stamped
``t + offset``. Built when the hub starts (``session_now_s`` = 0), session t=0 is the LSL time
of hub start. The offset never changes afterwards, so samples keep the session clock's
spacing exactly (no re-stamping at push time, no jitter from the event loop), and episode
markers are stamped at the episode's onset / end even though they are pushed later, when the
detector confirms them. The offset is also written into every stream's description
(``session/t0_lsl``), so a recording can be mapped back to session times. (There is no
``session_start`` marker: the streams appear when the hub starts, so no recorder could be
connected yet to receive one; ``t0_lsl`` is the record of session start.)

A replay runs on the recorded session clock: its session time is mapped to *now* (t=0 is the
LSL time the replay started). At 1x that is a faithful re-enactment; at other speeds the LSL
timestamps still advance with session time, not with wall time.

The bridge never blocks or raises into the pipeline: pushes are non-blocking in liblsl, and a
failing push is counted (:attr:`LslBridge.errors`) and logged (first failure per stream with
its traceback, later ones at debug level). Where liblsl cannot load, building the bridge raises
:class:`~sensorhub.errors.ConfigError` ("LSL not available: ...").

Network. liblsl's default configuration sends discovery packets to the whole network. A lab
that records on the hub's own PC (and the tests) use :data:`MACHINE_ONLY_CONFIG`, given as
``api_config`` or through the ``LSLAPICFG`` environment variable; liblsl reads its
configuration once per process, so it must be set before the first outlet is created.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from sensorhub import __version__
from sensorhub import events as ev
from sensorhub.errors import ConfigError

__all__ = ["MACHINE_ONLY_CONFIG", "LslBridge", "lsl_version", "read_api_config"]

log = logging.getLogger(__name__)

#: The shipped liblsl configuration that keeps discovery and connections on this machine.
MACHINE_ONLY_CONFIG = Path(__file__).with_name("lsl_api.cfg")

ANGLE_CHANNELS = ("forward", "lateral")
ANGLE_UNIT = "degrees"
ANGLE_STREAM_TYPE = "Inclination"
MARKER_STREAM_TYPE = "Markers"
#: Seconds of samples an outlet keeps for a slow or reconnecting inlet (liblsl's default, 6
#: minutes; angles are tiny). For the irregular marker stream liblsl reads it as 36 000 markers.
MAX_BUFFERED_S = 360
#: How long :meth:`LslBridge.close` keeps the outlets after the final marker when an inlet is
#: connected: liblsl drops what an outlet has not sent yet when it is destroyed, and on one
#: machine or a lab LAN a sample is on its way within a millisecond.
CLOSE_LINGER_S = 0.25

# The config file liblsl has read in this process (it reads one, once, at first use).
_config_in_effect: str | None = None


class _Outlet(Protocol):
    def push_sample(self, x: list[Any], timestamp: float = ..., pushthrough: bool = ...) -> None:
        """Push one sample stamped ``timestamp`` (LSL clock)."""

    def have_consumers(self) -> bool:
        """Whether an inlet is connected."""


def _load_pylsl() -> Any:
    """pylsl, typed ``Any`` at this boundary; ConfigError where liblsl cannot load."""
    try:
        return importlib.import_module("pylsl")
    except (ImportError, RuntimeError, OSError) as exc:
        raise ConfigError(
            f"LSL not available: {exc} (install the `sensorhub[lsl]` extra; on glibc < 2.35 "
            "or ARM, also install liblsl, e.g. `conda install -c conda-forge liblsl`)"
        ) from exc


def lsl_version() -> str:
    """``"liblsl 1.18 (pylsl 1.18.6)"``, or ConfigError ("LSL not available: ...")."""
    pylsl = _load_pylsl()
    try:
        library = int(pylsl.library_version())
    except Exception as exc:
        raise ConfigError(f"LSL not available: liblsl does not answer: {exc}") from exc
    binding = getattr(pylsl, "__version__", "?")
    return f"liblsl {library // 100}.{library % 100} (pylsl {binding})"


def read_api_config(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a liblsl ``lsl_api.cfg`` the way liblsl does: ``section.Key`` -> value.

    liblsl's reader skips lines starting with ``;`` and blank lines, takes ``[section]``
    headers and ``Key = value`` pairs, and rejects anything else (and duplicate keys). When it
    rejects a file it silently falls back to its network-wide defaults, so this raises a
    ConfigError for the same mistakes instead.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"LSL config {p}: cannot read it: {exc.strerror or exc}") from exc
    values: dict[str, str] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith(";"):
            continue
        if line.startswith("["):
            if "]" not in line:
                raise ConfigError(f"LSL config {p}: line {number}: no closing bracket")
            section = line[1 : line.index("]")] + "."
            continue
        key, eq, value = line.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ConfigError(f"LSL config {p}: line {number}: not a `Key = value` pair")
        name = section + key.strip()
        if name in values:
            raise ConfigError(f"LSL config {p}: line {number}: duplicate key {name}")
        values[name] = value.strip()
    return values


def _check_api_config(path: str | os.PathLike[str] | None) -> str:
    """Validate the config liblsl will read (``path``, else ``LSLAPICFG``), point LSLAPICFG
    at ``path``, and refuse a change once liblsl has read one. Returns what will be in
    effect."""
    wanted = os.environ.get("LSLAPICFG") if path is None else os.fspath(Path(path).resolve())
    if wanted is not None:
        read_api_config(wanted)
    effective = wanted or "(liblsl defaults)"
    if _config_in_effect is not None:
        if effective != _config_in_effect:
            raise ConfigError(
                f"LSL config {effective}: liblsl already read {_config_in_effect} in this "
                "process (it reads its configuration once); restart to change it"
            )
    elif path is not None and wanted is not None:
        os.environ["LSLAPICFG"] = wanted
    return effective


class LslBridge:
    """LSL outlets for one session's participants; see the module docstring.

    ``participants`` are the session's participant ids; ``session_now_s`` is the session
    time at the moment the bridge is built (0 when built as the hub starts). ``api_config``
    is a liblsl config file to use (default: ``LSLAPICFG`` or liblsl's own search).
    """

    def __init__(
        self,
        participants: Iterable[str],
        *,
        session_id: str,
        session_name: str = "session",
        angle_rate_hz: float = 10.0,
        session_now_s: float = 0.0,
        name_prefix: str = "sensorhub",
        api_config: str | os.PathLike[str] | None = None,
    ) -> None:
        if not (angle_rate_hz > 0 and math.isfinite(angle_rate_hz)):
            raise ConfigError(f"lsl: angle_rate_hz must be > 0, got {angle_rate_hz!r}")
        ids = list(participants)
        if len(set(ids)) != len(ids):
            raise ConfigError(f"lsl: participant ids repeat: {ids}")
        config = _check_api_config(api_config)
        self._lsl = _load_pylsl()
        global _config_in_effect
        _config_in_effect = config  # liblsl reads it at its first use, just below
        self.session_id = session_id
        self.session_name = session_name
        self.angle_rate_hz = float(angle_rate_hz)
        #: LSL time of session t=0: a session time ``t`` is stamped ``t + offset``.
        self.offset = float(self._lsl.local_clock()) - session_now_s
        #: Failed pushes (the first per stream logged with its traceback); never raised.
        self.errors = 0
        #: Events for participants this bridge has no outlet for (ignored, counted).
        self.ignored = 0
        self.samples_pushed = 0
        self.markers_pushed = 0
        self._failed_streams: set[str] = set()
        self._closed = False
        try:
            self._angle_outlets: dict[str, _Outlet] = {
                pid: self._open(self._angle_info(pid, name_prefix)) for pid in ids
            }
            self._marker_outlet: _Outlet = self._open(self._marker_info(name_prefix))
        except Exception as exc:
            raise ConfigError(f"LSL not available: cannot create an outlet: {exc}") from exc

    # -- stream descriptions ----------------------------------------------------------------

    def _describe(self, info: Any, participant: str | None) -> None:
        desc = info.desc()
        desc.append_child_value("manufacturer", "sensorhub")
        desc.append_child_value("version", __version__)
        session = desc.append_child("session")
        session.append_child_value("id", self.session_id)
        session.append_child_value("name", self.session_name)
        session.append_child_value("t0_lsl", repr(self.offset))
        if participant is not None:
            desc.append_child_value("participant", participant)

    def _angle_info(self, pid: str, prefix: str) -> Any:
        info = self._lsl.StreamInfo(
            f"{prefix}-{pid}-angles",
            ANGLE_STREAM_TYPE,
            len(ANGLE_CHANNELS),
            self.angle_rate_hz,
            "float32",
            f"sensorhub:{self.session_id}:{pid}:angles",
        )
        self._describe(info, pid)
        channels = info.desc().append_child("channels")
        for label in ANGLE_CHANNELS:
            channel = channels.append_child("channel")
            channel.append_child_value("label", label)
            channel.append_child_value("unit", ANGLE_UNIT)
            channel.append_child_value("type", "Angle")
        info.desc().append_child_value(
            "reference", "trunk inclination; forward positive forward, lateral positive right"
        )
        return info

    def _marker_info(self, prefix: str) -> Any:
        info = self._lsl.StreamInfo(
            f"{prefix}-markers",
            MARKER_STREAM_TYPE,
            1,
            self._lsl.IRREGULAR_RATE,
            "string",
            f"sensorhub:{self.session_id}:markers",
        )
        self._describe(info, None)
        channel = info.desc().append_child("channels").append_child("channel")
        channel.append_child_value("label", "marker")
        channel.append_child_value("type", "Marker")
        return info

    def _open(self, info: Any) -> _Outlet:
        outlet: _Outlet = self._lsl.StreamOutlet(info, max_buffered=MAX_BUFFERED_S)
        return outlet

    # -- events ------------------------------------------------------------------------------

    def lsl_time(self, session_t: float) -> float:
        """The LSL timestamp of session time ``session_t`` (seconds)."""
        return session_t + self.offset

    def on_event(self, event: Any) -> None:
        """Push one schema event; other event types are ignored. Never raises."""
        if self._closed:
            return
        if isinstance(event, ev.Angle):
            outlet = self._angle_outlets.get(event.participant)
            if outlet is None:
                self.ignored += 1
                return
            sample = [event.forward, event.lateral]
            stamp = self.lsl_time(event.t)
            if self._push(f"angles {event.participant}", lambda: outlet.push_sample(sample, stamp)):
                self.samples_pushed += 1
        elif isinstance(event, ev.EpisodeStarted):
            self._push_marker(f"episode_start {event.participant} {event.level}", event.onset)
        elif isinstance(event, ev.EpisodeEnded):
            text = (
                f"episode_end {event.participant} {event.level} "
                f"peak={event.peak_deg:.1f} mean={event.mean_deg:.1f}"
            )
            self._push_marker(text + (" truncated" if event.truncated else ""), event.end)
        elif isinstance(event, ev.Marker):
            self._push_marker(f"marker {event.label}", event.t)

    def _push_marker(self, text: str, session_t: float) -> None:
        outlet, stamp = self._marker_outlet, self.lsl_time(session_t)
        if self._push("markers", lambda: outlet.push_sample([text], stamp)):
            self.markers_pushed += 1

    def _push(self, stream: str, push: Callable[[], None]) -> bool:
        try:
            push()
        except Exception:
            self.errors += 1
            if stream in self._failed_streams:
                log.debug("LSL push to %s failed again (%d failures)", stream, self.errors)
            else:
                self._failed_streams.add(stream)
                log.exception("LSL push to %s failed (later failures are only counted)", stream)
            return False
        return True

    @staticmethod
    def _consumed(outlet: _Outlet) -> bool:
        try:
            return bool(outlet.have_consumers())
        except Exception:
            return False

    def close(self, session_now_s: float | None = None) -> None:
        """Push ``session_end`` (at ``session_now_s``, default now) and drop the outlets.

        When an inlet is connected this waits :data:`CLOSE_LINGER_S` first, so the final
        marker reaches it (call it from a thread, or accept that pause at shutdown).
        Idempotent; events after close are ignored."""
        if self._closed:
            return
        if session_now_s is None:
            session_now_s = float(self._lsl.local_clock()) - self.offset
        self._push_marker(f"session_end {self.session_id}", session_now_s)
        self._closed = True
        outlets = [self._marker_outlet, *self._angle_outlets.values()]
        if any(self._consumed(outlet) for outlet in outlets):
            time.sleep(CLOSE_LINGER_S)
        # liblsl destroys an outlet (and tells its inlets) when the last reference goes.
        self._angle_outlets.clear()
        del self._marker_outlet

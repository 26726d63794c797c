"""Simulator configuration: one frozen dataclass of named, documented defaults.

Every number below is a modelling choice, not a measurement of real conversations; the
comment on each says where it comes from. Ranges are ``(low, high)`` tuples sampled
uniformly unless the comment says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from sensorhub.errors import ConfigError

__all__ = ["Mounting", "SimConfig"]

#: "strap": the nominal chest-strap orientation (see :class:`SimConfig`) perturbed by a few
#: degrees; "random": a rotation drawn uniformly from SO(3) (the worst case for calibration).
Mounting = Literal["strap", "random"]

Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Parameters of a simulated conversation session.

    Participants are paired into dyads in order: (0, 1), (2, 3), ...; an odd last
    participant has no partner. ``duration_s`` is only used by
    :func:`~sensorhub.sim.simulate_session`; streams run for as long as they are read.
    """

    n_participants: int = 2
    duration_s: float = 600.0
    #: Quiet upright start (no leans, shifts or gestures) so a still period exists for
    #: calibration, as in a lab protocol that asks people to sit still first.
    settle_s: float = 15.0
    #: If > 0, each participant starts with a two-pose calibration protocol: upright and still
    #: for 10 s, then a deliberate forward lean of this many degrees (see
    #: :data:`~sensorhub.sim.plan.CALIBRATION_UPRIGHT_S` / ``CALIBRATION_LEAN_S`` for the
    #: still windows), back upright by 19 s. Needs ``settle_s >= 25``.
    calibration_pose_deg: float = 0.0

    # --- sensor (Polar H10 ACC stream: 200 Hz, 16 bit, +-8 g, samples in whole mG) ---
    fs_hz: float = 200.0
    range_g: float = 8.0
    #: Typical MEMS accelerometer noise density (e.g. LIS3DH-class parts list ~150-220
    #: ug/sqrt(Hz)); white over the Nyquist band, so sigma = density * sqrt(fs / 2).
    noise_ug_per_rthz: float = 180.0
    #: Residual zero-g offset per axis after factory calibration (SD, mG).
    bias_mg_sd: float = 8.0
    #: Device crystal error: clock drift drawn uniformly from +-this many ppm.
    drift_ppm_max: float = 50.0
    mounting: Mounting = "strap"
    #: Perturbation of the nominal strap orientation: tilt about the body's lateral axis
    #: (the sternum slopes back, so mostly positive), rotation on the chest surface, and
    #: yaw about the vertical (a curved chest turns the sensor a little sideways), in deg.
    mount_tilt_deg: Range = (-5.0, 20.0)
    mount_twist_deg: Range = (-15.0, 15.0)
    mount_yaw_deg: Range = (-10.0, 10.0)
    #: Distance from the hip pivot to the sensor; sets the linear acceleration a lean makes.
    pivot_radius_m: float = 0.45

    # --- lean episodes (deg and s) ---
    #: Time between one participant's spontaneous lean onsets ("every 20-60 s").
    onset_interval_s: Range = (20.0, 60.0)
    lean_depth_deg: Range = (10.0, 35.0)
    #: Held duration, half-depth to half-depth, drawn log-uniformly.
    lean_duration_s: Range = (2.0, 60.0)
    #: Movement time of each raised-cosine onset and offset ramp.
    ramp_s: Range = (0.6, 2.0)
    #: Slow sway while leaning: amplitude (deg) and frequency (Hz).
    sway_deg: Range = (0.5, 2.0)
    sway_hz: Range = (0.04, 0.15)
    #: Minimum quiet time between the end of one episode's offset and the next onset.
    min_gap_s: float = 4.0
    #: Probability that the partner answers a lean onset with their own, and the lag.
    response_prob: float = 0.4
    response_lag_s: Range = (0.5, 5.0)
    #: Occasional backward (relaxed) leans: mean interval (s; 0 disables) and depth (deg).
    backward_interval_s: float = 240.0
    backward_depth_deg: Range = (6.0, 15.0)

    # --- background: breathing, posture, gestures ---
    breath_hz: Range = (0.2, 0.3)
    breath_deg: Range = (0.5, 1.5)
    #: Slow postural wander (sum of sines below 0.03 Hz), amplitude in deg.
    wander_deg: float = 1.0
    #: Posture shifts: mean interval (s, exponential), lasting offset SD (deg, clipped to
    #: +-2 SD), transition time (s), and the dynamic acceleration while shifting (g).
    shift_interval_s: float = 90.0
    shift_offset_deg_sd: float = 2.0
    shift_s: Range = (0.8, 2.0)
    shift_acc_g: Range = (0.05, 0.25)
    #: Gestures: mean interval (s, exponential), duration (s), amplitude (g), frequency (Hz).
    gesture_interval_s: float = 8.0
    gesture_s: Range = (0.4, 3.0)
    gesture_acc_g: Range = (0.02, 0.15)
    gesture_hz: Range = (1.0, 4.0)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple) and not (len(value) == 2 and value[0] <= value[1]):
                raise ConfigError(f"SimConfig.{f.name}: need (low, high) with low <= high")
        positive = ("fs_hz", "range_g", "duration_s", "pivot_radius_m", "shift_interval_s")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"SimConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.calibration_pose_deg > 0 and self.settle_s < 25.0:
            raise ConfigError("SimConfig.settle_s must be >= 25 with calibration_pose_deg")
        if self.n_participants < 1:
            raise ConfigError(f"SimConfig.n_participants must be >= 1, got {self.n_participants}")
        if not 0.0 <= self.response_prob <= 1.0:
            raise ConfigError(
                f"SimConfig.response_prob must be in [0, 1], got {self.response_prob}"
            )
        if self.mounting not in ("strap", "random"):
            raise ConfigError(
                f"SimConfig.mounting must be 'strap' or 'random', not {self.mounting!r}"
            )
        if self.response_lag_s[0] < 0 or self.lean_depth_deg[0] <= 0:
            raise ConfigError("SimConfig.response_lag_s must be >= 0 and lean_depth_deg > 0")
        if self.lean_duration_s[0] <= 0 or self.onset_interval_s[0] <= 0:
            raise ConfigError("SimConfig.lean_duration_s and onset_interval_s must be > 0")
        if self.gesture_interval_s < 0 or self.backward_interval_s < 0:
            raise ConfigError("SimConfig interval means must be >= 0 (0 disables)")
        if self.gesture_s[1] > 10.0 or self.shift_s[1] > 10.0 or self.gesture_s[0] <= 0:
            raise ConfigError("SimConfig.gesture_s and shift_s must lie in (0, 10] s")
        if self.shift_s[0] <= 0 or self.ramp_s[0] <= 0:
            raise ConfigError("SimConfig.shift_s and ramp_s must be > 0")
        if abs(self.lean_depth_deg[1]) >= 80 or abs(self.backward_depth_deg[1]) >= 80:
            raise ConfigError("SimConfig lean depths must stay below 80 deg")

"""Real-data evaluation of the forward-lean detector on the UMAFall chest recordings.

Runs ``sensorhub detect``'s code (:func:`sensorhub.commands.detect.analyse_recording`) over
``../shared/data/umafall_chest`` and prints, per activity: trials, trials with a forward-lean
episode, with a lying episode, and the overall sensitivity (Bending) and specificity (Walking,
Jogging, Hopping, GoUpstairs, GoDownstairs), at the defaults and at ``--min-duration 1``.

Calibration, per subject from the subject's own data, without labels or thresholds fitted:
upright is the subject's mean gravity direction over their Walking trials (people walk upright;
this is Acti4's automatic trunk reference, methods review section 1.3, without its 6 degree
offset). It replaces the fallback's "stillest 2 s", which on these data picks reclined sitting
or a pause mid-activity: the sensor sits 0-40 degrees off the x axis depending on the subject.
Forward comes from the documented fallback (:func:`sensorhub.dsp.inclination.calibrate_fallback`)
over all of the subject's ADL recordings except ``LyingDown_OnABed`` (a lab does not calibrate
on a bed): the principal axis of the tilt excursions from upright, signed by the sensor's
known mounting (+z out of the chest, data README). Detector defaults are the methods review's
(20/15 degrees, merge 1 s, motion gate 0.10 g); nothing is tuned per subject or per trial.

Usage: ``.venv/bin/python bench/eval_umafall.py [DATA_DIR]``
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sensorhub.commands.detect import analyse_recording, build_config
from sensorhub.dsp.conditioning import Resampler
from sensorhub.dsp.inclination import Calibration, calibrate_fallback
from sensorhub.io_csv import Recording, read_acc_csv

RATE_HZ = 50.0
SENSITIVITY = ("Bending",)
SPECIFICITY = ("Walking", "Jogging", "Hopping", "GoUpstairs", "GoDownstairs")
NOT_FOR_CALIBRATION = ("LyingDown_OnABed",)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class ActivityRow:
    trials: int = 0
    forward: int = 0
    lying: int = 0
    backward: int = 0
    files_with_forward: list[str] = field(default_factory=list)


@dataclass
class Evaluation:
    min_duration_s: float
    rows: dict[str, ActivityRow]
    calibrations: dict[str, Calibration]

    @property
    def sensitivity(self) -> float:
        rows = [self.rows[a] for a in SENSITIVITY]
        return sum(r.forward for r in rows) / sum(r.trials for r in rows)

    @property
    def specificity(self) -> float:
        rows = [self.rows[a] for a in SPECIFICITY]
        return 1.0 - sum(r.forward for r in rows) / sum(r.trials for r in rows)


def load_trials(data_dir: Path) -> list[tuple[dict[str, str], Recording]]:
    root = data_dir / "umafall_chest"
    with open(root / "index.csv", newline="") as fh:
        index = list(csv.DictReader(fh))
    return [(row, read_acc_csv(root / "trials" / row["file"])) for row in index]


def subject_calibrations(trials: list[tuple[dict[str, str], Recording]]) -> dict[str, Calibration]:
    """Per subject: upright from walking, forward from the fallback (module docstring)."""
    per_subject: dict[str, list[np.ndarray]] = defaultdict(list)
    walking: dict[str, list[np.ndarray]] = defaultdict(list)
    for row, rec in trials:
        if row["kind"] == "ADL" and row["activity"] not in NOT_FOR_CALIBRATION:
            grid = Resampler(RATE_HZ).process(rec.t_ns, rec.acc_g)
            n = grid.acc.shape[0] // int(RATE_HZ) * int(RATE_HZ)  # whole 1-s blocks per trial
            per_subject[row["subject"]].append(grid.acc[:n])
            if row["activity"] == "Walking":
                # Mean direction per trial, so a quarter-scale stretch weighs like the rest.
                d = grid.acc / np.linalg.norm(grid.acc, axis=1, keepdims=True)
                walking[row["subject"]].append(d.mean(axis=0))
    out = {}
    for s, parts in per_subject.items():
        up = np.mean(walking[s], axis=0)
        out[s] = calibrate_fallback(
            np.concatenate(parts), RATE_HZ, up=up.tolist(), forward_hint="+z"
        )
    return out


def evaluate(
    trials: list[tuple[dict[str, str], Recording]],
    calibrations: dict[str, Calibration],
    min_duration_s: float,
) -> Evaluation:
    config = build_config(rate_hz=RATE_HZ, min_duration_s=min_duration_s)
    rows: dict[str, ActivityRow] = defaultdict(ActivityRow)
    for row, rec in trials:
        result = analyse_recording(rec, calibrations[row["subject"]], config)
        key = row["activity"] if row["kind"] == "ADL" else f"Fall:{row['activity']}"
        r = rows[key]
        r.trials += 1
        directions = {e["direction"] for e in result["episodes"]}
        if "forward" in directions:
            r.forward += 1
            r.files_with_forward.append(row["file"])
        r.backward += "backward" in directions
        r.lying += bool(result["lying"])
    return Evaluation(min_duration_s, dict(rows), calibrations)


def format_table(ev: Evaluation) -> str:
    lines = [
        f"min-duration {ev.min_duration_s:g} s",
        f"{'activity':<28}{'trials':>7}{'forward':>9}{'backward':>10}{'lying':>7}",
    ]
    for name in sorted(ev.rows, key=lambda k: (k.startswith("Fall:"), k)):
        r = ev.rows[name]
        lines.append(f"{name:<28}{r.trials:>7}{r.forward:>9}{r.backward:>10}{r.lying:>7}")
    lines.append(
        f"sensitivity (Bending) {ev.sensitivity:.3f}   "
        f"specificity ({', '.join(SPECIFICITY)}) {ev.specificity:.3f}"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    data_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA
    trials = load_trials(data_dir)
    cals = subject_calibrations(trials)
    print(f"UMAFall chest, subjects 1-10, {len(trials)} trials, resampled at {RATE_HZ:g} Hz")
    print("calibration per subject (fallback; up, forward in device axes; forward vs +z):")
    for s in sorted(cals, key=int):
        c = cals[s]
        print(
            f"  S{int(s):02d} up {np.round(c.up, 3)} forward {np.round(c.forward, 3)} "
            f"{c.quality.get('forward_source')} ({c.quality.get('axis_vs_mounting_deg')} deg)"
        )
    for min_dur in (2.0, 1.0):
        ev = evaluate(trials, cals, min_dur)
        print()
        print(format_table(ev))
        missed = sorted(
            {row["file"] for row, _ in trials if row["activity"] in SENSITIVITY}
            - set(ev.rows["Bending"].files_with_forward)
        )
        false = [f for a in SPECIFICITY for f in ev.rows[a].files_with_forward]
        print(f"missed bends: {missed}")
        print(f"false forward leans: {false}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

"""``sensorhub detect PATH...``: offline lean detection for acceleration files labs already have.

All files run in this one process. Each file is read (:mod:`sensorhub.io_csv`), calibrated
(explicit ``--up``/``--forward`` mounting if both are given, otherwise the documented fallback
on the file's own data, using whichever of the two was given), and fed whole to the same
streaming :class:`~sensorhub.dsp.detector.LeanDetector` the live hub uses. A bad file gets one
line on stderr naming the file and the reason; the others still run; the exit status is 1 if
any file failed.

Times in the output are seconds from the file's first timestamp. ``start``/``end`` are the
latency-corrected onset and end, ``crossing``/``exit`` the raw threshold crossings; angles are
the signed forward angle in degrees (backward episodes are negative).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, TextIO

from sensorhub.dsp.detector import DEFAULT_LEVELS, DetectorChunk, DetectorConfig, detect
from sensorhub.dsp.episodes import Episode
from sensorhub.dsp.inclination import (
    Calibration,
    calibrate_fallback,
    calibrate_mounting,
    parse_axis,
)
from sensorhub.errors import ConfigError, SensorhubError
from sensorhub.io_csv import Recording, read_acc_csv

__all__ = ["analyse_recording", "build_config", "calibrate", "register"]

_FIELDS = ["file", "direction", "start", "end", "peak_deg", "mean_deg", "crossing", "exit"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "detect",
        help="detect lean episodes in acceleration CSV files",
        description=(
            "Offline lean detection for acceleration files (t_s/t_ms + ax_g/ax_mg/ax_ms2 "
            "columns, or Polar Sensor Logger ACC exports), all in one process. Without both "
            "--up and --forward, each file is calibrated from its own data (fallback)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="CSV files")
    p.add_argument("--rate", type=float, default=50.0, metavar="HZ", help="processing rate")
    p.add_argument("--up", metavar="AXIS|x,y,z", help="upright direction in device axes, e.g. +x")
    p.add_argument("--forward", metavar="AXIS|x,y,z", help="forward (out of the chest), e.g. +z")
    p.add_argument("--enter-deg", type=float, default=20.0, metavar="DEG", help="enter threshold")
    p.add_argument("--exit-deg", type=float, default=15.0, metavar="DEG", help="exit threshold")
    p.add_argument("--min-duration", type=float, default=2.0, metavar="S", help="min duration")
    p.add_argument("--merge-gap", type=float, default=1.0, metavar="S", help="merge gaps up to")
    p.add_argument("--format", choices=["csv", "json", "jsonl"], default="csv")
    p.set_defaults(handler=_run)


def build_config(
    *,
    rate_hz: float = 50.0,
    enter_deg: float = 20.0,
    exit_deg: float = 15.0,
    min_duration_s: float = 2.0,
    merge_gap_s: float = 1.0,
) -> DetectorConfig:
    """Detector configuration for the CLI's options (validated, ConfigError naming the flag)."""
    if not rate_hz >= 5.0:
        raise ConfigError(f"--rate {rate_hz}: must be at least 5 Hz")
    if not 0 < exit_deg <= enter_deg < 90:
        raise ConfigError(
            f"--exit-deg {exit_deg} / --enter-deg {enter_deg}: need 0 < exit <= enter < 90"
        )
    if min_duration_s < 0 or merge_gap_s < 0:
        raise ConfigError("--min-duration and --merge-gap must be >= 0")
    forward = replace(
        DEFAULT_LEVELS[0],
        enter_deg=enter_deg,
        exit_deg=exit_deg,
        min_duration_s=min_duration_s,
        merge_gap_s=merge_gap_s,
    )
    backward = replace(DEFAULT_LEVELS[1], min_duration_s=min_duration_s, merge_gap_s=merge_gap_s)
    return DetectorConfig(rate_hz=rate_hz, levels=(forward, backward))


def calibrate(rec: Recording, rate_hz: float, up: str | None, forward: str | None) -> Calibration:
    """Mounting if both directions are given, else the fallback on the file's own data."""
    if up is not None and forward is not None:
        return calibrate_mounting(up, forward)
    from sensorhub.dsp.conditioning import Resampler

    grid = Resampler(rate_hz).process(rec.t_ns, rec.acc_g)
    return calibrate_fallback(grid.acc, rate_hz, up=up, forward_hint=forward)


def analyse_recording(
    rec: Recording, calibration: Calibration, config: DetectorConfig
) -> dict[str, Any]:
    """Detect and summarise one recording as the JSON-friendly record the CLI prints."""
    result = detect(rec.t_ns, rec.acc_g, calibration, config)
    t0 = int(rec.t_ns[0])
    episodes = [_episode_record(e, t0) for e in _sorted(result.ended) if e.direction != "lying"]
    lying = [_episode_record(e, t0) for e in _sorted(result.ended) if e.direction == "lying"]
    return {
        "file": rec.path,
        "episodes": episodes,
        "lying": lying,
        "calibration": calibration.describe(),
        "dynamic_fraction": _fraction(result),
        "breaks": len(result.breaks),
    }


def _sorted(episodes: Iterable[Episode]) -> list[Episode]:
    return sorted(episodes, key=lambda e: (e.crossing_ns, e.level))


def _fraction(result: DetectorChunk) -> float:
    n = result.dynamic.size
    return round(float(result.dynamic.sum()) / n, 4) if n else 0.0


def _episode_record(e: Episode, t0: int) -> dict[str, Any]:
    def sec(ns: int) -> float:
        return round(max(0, ns - t0) / 1e9, 3)

    sign = -1.0 if e.direction == "backward" else 1.0
    return {
        "direction": e.direction,
        "start": sec(e.onset_ns),
        "end": sec(e.end_ns),
        "peak_deg": round(sign * e.peak_deg, 2),
        "mean_deg": round(sign * e.mean_deg, 2),
        "crossing": sec(e.crossing_ns),
        "exit": sec(e.exit_ns),
        "level": e.level,
        "truncated": e.truncated,
    }


def _run(args: argparse.Namespace) -> int:
    config = build_config(
        rate_hz=args.rate,
        enter_deg=args.enter_deg,
        exit_deg=args.exit_deg,
        min_duration_s=args.min_duration,
        merge_gap_s=args.merge_gap,
    )
    for flag, value in (("--up", args.up), ("--forward", args.forward)):
        if value is not None:
            parse_axis(value, flag)  # refuse a bad flag before touching any file
    failed = 0
    out: TextIO = sys.stdout
    writer = csv.writer(out, lineterminator="\n") if args.format == "csv" else None
    if writer is not None:
        writer.writerow([*_FIELDS, "level", "truncated"])
    records: list[dict[str, Any]] = []
    for path in args.paths:
        try:
            rec = read_acc_csv(path)
            record = analyse_recording(
                rec, calibrate(rec, args.rate, args.up, args.forward), config
            )
        except SensorhubError as exc:
            failed += 1
            reason = str(exc)
            line = reason if reason.startswith(str(path)) else f"{path}: {reason}"
            print(f"sensorhub detect: {line}", file=sys.stderr)
            continue
        if args.format == "jsonl":
            out.write(json.dumps(record) + "\n")
        elif args.format == "json":
            records.append(record)
        elif writer is not None:
            for ep in record["episodes"] + record["lying"]:
                writer.writerow(
                    [record["file"], *(ep[k] for k in _FIELDS[1:]), ep["level"], ep["truncated"]]
                )
    if args.format == "json":
        json.dump(records, out, indent=2)
        out.write("\n")
    return 1 if failed else 0

"""``sensorhub detect``: readers, output formats, many files, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sensorhub.cli import main
from sensorhub.errors import DecodeError
from sensorhub.io_csv import read_acc_csv
from tests.conftest import SHARED_DATA
from tests.dsp.geometry import reading

BEND = next((SHARED_DATA / "umafall_chest" / "trials").glob("S02_ADL_Bending_1_*.csv"))
UP = np.array([1.0, 0.0, 0.0])
FWD = np.array([0.0, 0.0, 1.0])


def _lean_profile(fs: float = 50.0) -> np.ndarray:
    """5 s upright, a 6 s lean to 30 deg (1 s ramps), 5 s upright."""
    t = np.arange(0, 17, 1 / fs)
    return np.interp(t, [0, 5, 6, 12, 13, 17], [0, 0, 30, 30, 0, 0])


def _write(path: Path, header: str, rows: np.ndarray, delim: str = ",") -> Path:
    lines = [header] + [delim.join(f"{v:.6f}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def lean_files(tmp_path: Path) -> dict[str, Path]:
    fwd = _lean_profile()
    acc = reading(UP, FWD, fwd)
    t = np.arange(fwd.size) / 50.0
    g = _write(tmp_path / "g.csv", "t_s,ax_g,ay_g,az_g", np.column_stack([t, acc]))
    mg = _write(
        tmp_path / "mg.csv",
        "t_ms;ax_mg;ay_mg;az_mg;extra",
        np.column_stack([t * 1e3, acc * 1e3, t]),
        ";",
    )
    ms2 = _write(
        tmp_path / "ms2.csv", "ax_ms2,ay_ms2,az_ms2,t_s", np.column_stack([acc * 9.80665, t])
    )
    polar = tmp_path / "Polar_H10_ACC.txt"
    t0 = 599_628_000_000_000_123
    rows = [
        f"2026-06-10T22:00:00.000;{t0 + i * 20_000_000};{a[0] * 1e3:.0f};{a[1] * 1e3:.0f};"
        f"{a[2] * 1e3:.0f}"
        for i, a in enumerate(acc)
    ]
    polar.write_text(
        "Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg] \n" + "\n".join(rows) + "\n"
    )
    return {"g": g, "mg": mg, "ms2": ms2, "polar": polar}


def test_readers_agree_across_layouts(lean_files: dict[str, Path]) -> None:
    recs = {k: read_acc_csv(p) for k, p in lean_files.items()}
    assert recs["polar"].layout == "polar-sensor-logger"
    assert recs["polar"].t_ns[1] - recs["polar"].t_ns[0] == 20_000_000  # exact integers
    for k in ("mg", "ms2", "polar"):
        np.testing.assert_allclose(recs[k].acc_g, recs["g"].acc_g, atol=1e-3)
        assert np.array_equal(recs[k].t_ns - recs[k].t_ns[0], recs["g"].t_ns - recs["g"].t_ns[0])


def test_jsonl_one_line_per_file_with_forward_episode(
    lean_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [str(p) for p in lean_files.values()]
    assert main(["detect", *paths, "--up", "+x", "--forward", "+z", "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for path, line in zip(paths, lines, strict=True):
        rec = json.loads(line)
        assert rec["file"] == path
        (ep,) = rec["episodes"]
        assert ep["direction"] == "forward"
        assert 4.5 < ep["start"] < 5.7  # true onset 5 s
        assert 11.8 < ep["end"] < 13.3
        assert 29 < ep["peak_deg"] < 32
        assert 20 < ep["mean_deg"] <= ep["peak_deg"]
        assert rec["calibration"]["method"] == "mounting"


def test_thresholds_and_durations_are_honoured(
    lean_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    g = str(lean_files["g"])
    assert (
        main(
            [
                "detect",
                g,
                "--up",
                "+x",
                "--forward",
                "+z",
                "--enter-deg",
                "35",
                "--exit-deg",
                "30",
                "--format",
                "jsonl",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["episodes"] == []
    assert (
        main(
            [
                "detect",
                g,
                "--up",
                "+x",
                "--forward",
                "+z",
                "--min-duration",
                "8",
                "--format",
                "jsonl",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["episodes"] == []


def test_csv_and_json_formats(
    lean_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    g = str(lean_files["g"])
    assert main(["detect", g, "--up", "+x", "--forward", "+z"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("file,direction,start,end,peak_deg,mean_deg")
    assert rows[1].startswith(f"{g},forward,")
    assert main(["detect", g, g, "--up", "+x", "--forward", "+z", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["file"] for d in doc] == [g, g]


def test_bad_files_are_named_others_still_run(
    tmp_path: Path, lean_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad_header = _write(tmp_path / "bad_header.csv", "time,x,y,z", np.ones((5, 4)))
    bad_value = tmp_path / "bad_value.csv"
    bad_value.write_text("t_s,ax_g,ay_g,az_g\n0,1,0,0\n0.02,1,zero,0\n")
    missing = tmp_path / "missing.csv"
    good = str(lean_files["g"])
    code = main(
        [
            "detect",
            str(bad_header),
            good,
            str(bad_value),
            str(missing),
            "--forward",
            "+z",
            "--format",
            "jsonl",
        ]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert [json.loads(x)["file"] for x in captured.out.splitlines()] == [good]
    errors = captured.err.splitlines()
    assert len(errors) == 3
    assert str(bad_header) in errors[0]
    assert "unrecognised header" in errors[0]
    assert str(bad_value) in errors[1]
    assert "bad value" in errors[1]
    assert str(missing) in errors[2]
    assert "cannot read" in errors[2]


def test_bad_flag_is_a_config_error(
    lean_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["detect", str(lean_files["g"]), "--up", "+q"]) == 1
    assert "--up" in capsys.readouterr().err
    assert main(["detect", str(lean_files["g"]), "--enter-deg", "10", "--exit-deg", "12"]) == 1
    assert "--exit-deg" in capsys.readouterr().err


def test_empty_and_short_files_are_decode_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DecodeError, match="empty file"):
        read_acc_csv(empty)
    short = _write(tmp_path / "short.csv", "t_s,ax_g,ay_g,az_g", np.ones((1, 4)))
    with pytest.raises(DecodeError, match="at least 2 samples"):
        read_acc_csv(short)


def test_real_umafall_bend_without_flags_uses_the_fallback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(["detect", str(BEND), "--forward", "+z", "--min-duration", "1", "--format", "jsonl"])
        == 0
    )
    rec = json.loads(capsys.readouterr().out)
    assert rec["calibration"]["method"] == "fallback"
    assert [e["direction"] for e in rec["episodes"]].count("forward") == 1


def test_all_umafall_files_in_one_call(capsys: pytest.CaptureFixture[str]) -> None:
    """Hundreds of files in one process; each calibrated from its own data (fallback)."""
    paths = sorted(str(p) for p in (SHARED_DATA / "umafall_chest" / "trials").glob("*.csv"))
    assert len(paths) == 272
    code = main(["detect", *paths, "--forward", "+z", "--min-duration", "1", "--format", "jsonl"])
    captured = capsys.readouterr()
    assert captured.err == ""
    assert code == 0
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["file"] for r in records] == paths
    bends = [r for r in records if "_ADL_Bending_" in r["file"]]
    assert sum(any(e["direction"] == "forward" for e in r["episodes"]) for r in bends) >= 27
    gait = [r for r in records if any(f"_ADL_{a}_" in r["file"] for a in ("Walking", "Jogging"))]
    assert not [r["file"] for r in gait if any(e["direction"] == "forward" for e in r["episodes"])]

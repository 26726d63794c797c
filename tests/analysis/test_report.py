"""analyze_sessions: tables, JSON, figures, group summaries and the progress bar."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from sensorhub import events as ev
from sensorhub.analysis import analyze_sessions
from sensorhub.analysis.metrics import participant_metrics
from sensorhub.analysis.report import group_rows
from sensorhub.dsp.detector import DetectorConfig
from sensorhub.dsp.dyad import DyadConfig
from sensorhub.errors import ConfigError
from sensorhub.store.model import SessionData
from tests.analysis.conftest import episode, participant, session

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _assert_real_figure(path: Path, min_px: tuple[int, int] = (800, 300)) -> None:
    """A PNG of a reasonable size that is not blank (has dark ink and colour)."""
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert w >= min_px[0]
    assert h >= min_px[1]
    rgb = img[..., :3]
    assert float(rgb.min()) < 0.2  # axes, text
    assert float(np.ptp(rgb, axis=2).max()) > 0.3  # some saturated (coloured) pixels


@pytest.fixture(scope="module")
def analysed(sim_sessions: list[SessionData], tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("analysis")
    cfg = DyadConfig(n_surrogates=50)  # fewer surrogates than the default 200: test speed
    result = analyze_sessions(
        sim_sessions[:2], out, group_by="condition", progress=False, dyad_config=cfg
    )
    return result, out


def test_tables_have_one_row_per_participant_and_dyad(analysed: tuple) -> None:
    result, out = analysed
    rows = _read_csv(out / "participants.csv")
    assert [(r["session"], r["participant"]) for r in rows] == [
        (f"sim{s}", p) for s in (11, 12) for p in ("p1", "p2")
    ]
    assert [r["condition"] for r in rows[::2]] == ["control", "treatment"]
    assert {r["seat"] for r in rows} == {"left", "right"}
    for r, m in zip(rows, result.participants, strict=True):
        assert float(r["fwd_frac_20"]) == pytest.approx(m.fwd_frac_20, abs=1e-6)
        assert int(r["episodes"]) == m.episodes
    dyads = _read_csv(out / "dyads.csv")
    assert len(dyads) == 2
    assert {d["a_condition"] for d in dyads} == {"control", "treatment"}
    assert all(0 <= float(d["colean_p"]) <= 1 for d in dyads)
    assert all(d["leader"] in ("p1", "p2", "") for d in dyads)


def test_json_matches_csv_and_has_no_nan(analysed: tuple) -> None:
    _, out = analysed
    data = json.loads((out / "participants.json").read_text())  # strict: NaN would be "NaN"
    assert len(data) == 4
    assert data[0]["participant"] == "p1"
    assert "NaN" not in (out / "dyads.json").read_text()
    prov = json.loads((out / "analysis.json").read_text())
    assert [s["id"] for s in prov["sessions"]] == ["sim11", "sim12"]
    assert prov["thresholds_deg"] == [10.0, 20.0, 30.0]
    assert prov["group_by"] == "condition"


def test_group_summaries_aggregate_the_participant_rows(analysed: tuple) -> None:
    result, out = analysed
    rows = _read_csv(out / "groups.csv")
    by = {(r["unit"], r["condition"], r["metric"]): r for r in rows}
    for cond in ("control", "treatment"):
        members = [m for m in result.participants if (m.session == "sim11") == (cond == "control")]
        r = by[("participant", cond, "episodes_per_min")]
        assert int(r["n"]) == len(members) == 2
        assert float(r["mean"]) == pytest.approx(np.mean([m.episodes_per_min for m in members]))
        assert int(by[("dyad", cond, "colean_ratio")]["n"]) == 1


def test_figures_exist_and_are_drawn(analysed: tuple) -> None:
    result, out = analysed
    names = {p.name for p in result.figures}
    for s in (11, 12):
        assert {f"sim{s}_p1_trace.png", f"sim{s}_p2_trace.png"} <= names
        assert {f"sim{s}_p1-p2_timeline.png", f"sim{s}_p1-p2_lagmap.png"} <= names
    assert "groups_condition.png" in names
    assert len(result.figures) == 2 * 4 + 1
    for path in result.figures:
        assert path.parent == out / "figures"
        _assert_real_figure(path)


def test_group_rows_with_known_values_and_mixed_dyads() -> None:
    cfg = DetectorConfig()
    ps = [
        participant(pid, np.zeros(3000), episodes=[episode(pid, 1, 1 + k) for k in range(n)])
        for pid, n in (("a", 1), ("b", 3), ("c", 2))
    ]
    ms = [participant_metrics(p, cfg, session="s") for p in ps]
    attrs = {("s", "a"): {"sex": "f"}, ("s", "b"): {"sex": "f"}, ("s", "c"): {}}
    rows = group_rows(ms, [], attrs, "sex")
    got = {(r["sex"], r["metric"]): r for r in rows}
    f = got[("f", "episodes_per_min")]  # 60 s each: 1 and 3 episodes per minute
    assert (f["n"], f["mean"], f["median"]) == (2, 2.0, 2.0)
    assert f["sd"] == pytest.approx(math.sqrt(2))
    assert got[("NA", "episodes_per_min")]["n"] == 1
    assert math.isnan(got[("NA", "episodes_per_min")]["sd"])


def test_dyad_of_different_groups_is_a_mixed_group(tmp_path: Path) -> None:
    fwd = np.r_[np.zeros(3000), np.full(3000, 25.0), np.zeros(3000)]
    a = participant("a", fwd, episodes=[episode("a", 60, 120)], attributes={"sex": "m"})
    b = participant("b", fwd, episodes=[episode("b", 62, 118)], attributes={"sex": "f"})
    s = session("s1", [a, b], [("a", "b")], [ev.Marker(30.0, "start")])
    result = analyze_sessions([s], tmp_path, group_by="sex", progress=False)
    groups = {r["sex"] for r in result.groups if r["unit"] == "dyad"}
    assert groups == {"f+m"}
    assert {r["sex"] for r in result.groups if r["unit"] == "participant"} == {"f", "m"}
    for path in result.figures:
        _assert_real_figure(path, (600, 250))


def test_progress_bar_only_on_a_terminal(
    sim_sessions: list[SessionData], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for tty, progress, shown in ((False, True, False), (True, False, False), (True, True, True)):
        err = Terminal() if tty else io.StringIO()
        monkeypatch.setattr("sys.stderr", err)
        analyze_sessions(sim_sessions[:1], tmp_path, progress=progress, figures=False)
        assert ("analyze" in err.getvalue()) is shown, (tty, progress)
        if shown:
            assert "3/3" in err.getvalue()  # two participants and one dyad


def test_a_participant_without_data_is_reported_not_fatal(tmp_path: Path) -> None:
    fwd = np.r_[np.zeros(3000), np.full(3000, 25.0)]
    a = participant("a", fwd, episodes=[episode("a", 60, 120)])
    none = np.zeros(0, np.int64)
    b = participant("b", np.zeros(0), t_ns=none, raw_t_ns=none)
    s = session("s1", [a], [("a", "b")])
    s = SessionData(s.meta, (a, b), s.dyads)
    result = analyze_sessions([s], tmp_path, progress=False)
    assert [p.name for p in result.figures] == ["s1_a_trace.png"]
    assert result.participants[1].samples == 0
    assert math.isnan(result.participants[1].fwd_frac_20)
    (row,) = result.dyads
    assert (row.a, row.b, row.wcc_windows) == ("a", "b", 0)
    assert math.isnan(row.colean_ratio)
    assert any("b has no data" in w for w in result.warnings)
    assert any("dyad a-b" in w for w in result.warnings)
    dyads = _read_csv(tmp_path / "dyads.csv")
    assert dyads[0]["colean_ratio"] == ""


def test_dyad_p_values_do_not_depend_on_the_other_sessions(
    sim_sessions: list[SessionData], analysed: tuple, tmp_path: Path
) -> None:
    """Surrogate seeds come from the session and partner ids, not from the position."""
    result, _ = analysed
    cfg = DyadConfig(n_surrogates=50)
    alone = analyze_sessions(sim_sessions[1:2], tmp_path, progress=False, figures=False,
                             dyad_config=cfg)  # fmt: skip
    assert repr(alone.dyads[0]) == repr(result.dyads[1])  # repr: NaN fields compare equal


def test_report_md_summarises_and_links_every_figure(analysed: tuple) -> None:
    result, out = analysed
    text = (out / "report.md").read_text()
    assert "# Lean analysis: 2 session(s)" in text
    for fig in result.figures:
        assert f"]({fig.relative_to(out)})" in text
    for m in result.participants:
        assert f"| {m.session} | {m.participant} | {100 * m.fwd_frac_20:.1f} |" in text
    assert "## Groups by `condition`" in text
    assert "## Warnings" not in text


def test_a_session_given_twice_is_an_error(sim_sessions: list[SessionData], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sim11 given more than once"):
        analyze_sessions([sim_sessions[0], sim_sessions[0]], tmp_path, progress=False)
    assert not list(tmp_path.iterdir())

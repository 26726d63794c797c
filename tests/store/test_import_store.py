"""``sensorhub import``: existing files as a recorded session in the store, so ``sessions``,
``replay``, ``export`` and ``analyze`` treat them as any recording, with the episodes
``sensorhub detect`` finds in the same file."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorhub import events as ev
from sensorhub.cli import main
from sensorhub.commands import import_files as cmd
from sensorhub.commands.detect import build_config
from sensorhub.config import NOMINAL_MOUNTING, DetectionConfig, parse_config
from sensorhub.dsp.detector import detect
from sensorhub.dsp.inclination import calibrate_mounting
from sensorhub.errors import ConfigError
from sensorhub.ingest import SensorDecoder
from sensorhub.io_csv import read_acc_csv
from sensorhub.protocols.samples import SAMPLES_UUID, encode_block
from sensorhub.sources.base import LinkState, LinkStatus, RawFrame, SensorKind
from sensorhub.sources.drivers import driver_for, identify
from sensorhub.sources.replay import replay_session
from sensorhub.store.importing import POLAR_EPOCH
from sensorhub.store.sqlite import connect, iter_items, list_sessions, load_events
from tests.conftest import SHARED_DATA
from tests.store.test_export_bids import bids_problems

BENDING = SHARED_DATA / "umafall_chest" / "trials" / "S01_ADL_Bending_1_2016-06-13_20-25-34.csv"
#: UMAFall's SensorTag: x points up, +z forward out of the chest (data README).
UMAFALL = ["--up", "+x", "--forward", "+z"]


def run_import(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> str:
    """Import; returns the new session id (printed alone on stdout)."""
    assert main(["import", *map(str, argv)]) == 0
    out = capsys.readouterr().out.split()
    assert len(out) == 1
    return out[0]


def replay_events(db: Path, session: str) -> list[Any]:
    events: list[Any] = []
    result = asyncio.run(replay_session(db, session, on_event=events.append))
    assert result.complete
    return events


def sessions_json(db: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(["sessions", "--db", str(db), "--json"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


# -- a real UMAFall trial -------------------------------------------------------------------


def test_a_umafall_trial_replays_to_the_episodes_detect_finds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.sqlite"
    sid = run_import(capsys, BENDING, "--db", db, *UMAFALL, "--attr", "gender=F",
                     "--attr", "age=22", "--attr", "subject=01")  # fmt: skip

    (row,) = sessions_json(db, capsys)
    assert row["id"] == sid
    assert row["ended_cleanly"] is True
    assert row["duration_s"] == pytest.approx(14.978)
    (p,) = row["participants"]
    assert p["id"] == BENDING.stem
    assert p["kind"] == "imported"
    assert p["attributes"] == {"gender": "F", "age": 22, "subject": "01"}

    events = replay_events(db, sid)
    ended = [e for e in events if isinstance(e, ev.EpisodeEnded)]
    assert row["episodes"] == len(ended)  # stored at import = what a replay finds

    # What `sensorhub detect FILE --up +x --forward +z` computes, with its default settings,
    # which are the session's default detection settings.
    config = build_config()
    assert config == DetectionConfig().detector
    rec = read_acc_csv(BENDING)
    offline = detect(rec.t_ns, rec.acc_g, calibrate_mounting("+x", "+z"), config).ended
    expected = sorted((e.level, e.onset_ns, e.end_ns, e.peak_deg) for e in offline)
    got = sorted((e.level, round(e.onset * 1e9), round(e.end * 1e9), e.peak_deg) for e in ended)
    assert got == expected
    forward = [e for e in ended if e.level == "forward"]
    assert forward
    assert max(e.peak_deg for e in forward) > 25.0

    # ... and the CLI's own report (seconds from the file's first sample, 3 decimals).
    assert main(["detect", str(BENDING), *UMAFALL, "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    t0 = rec.t_ns[0] / 1e9
    cli = sorted((e["level"], e["start"], e["end"], abs(e["peak_deg"])) for e in record["episodes"])
    mine = sorted(
        (e.level, round(e.onset - t0, 3), round(e.end - t0, 3), round(e.peak_deg, 2)) for e in ended
    )
    assert mine == cli


def test_stored_events_are_exactly_what_a_replay_publishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.sqlite"
    sid = run_import(capsys, BENDING, "--db", db, *UMAFALL)
    replayed = [json.loads(ev.dumps(e)) for e in replay_events(db, sid)]
    conn = connect(db, create=False)
    try:
        stored = load_events(conn, sid)
    finally:
        conn.close()
    assert any(e["type"] == "angle" for e in stored)
    assert stored == replayed


def test_samples_are_stored_as_one_second_blocks_between_link_statuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.sqlite"
    sid = run_import(capsys, BENDING, "--db", db)
    conn = connect(db, create=False)
    try:
        items = [item for _, item in iter_items(conn, sid)]
    finally:
        conn.close()
    first, *frames, last = items
    rec = read_acc_csv(BENDING)
    assert isinstance(first, LinkStatus)
    assert first.state is LinkState.STREAMING
    assert first.kind is SensorKind.IMPORTED
    assert first.at_ns == rec.t_ns[0]
    assert isinstance(last, LinkStatus)
    assert last.state is LinkState.STOPPED
    assert last.at_ns == rec.t_ns[-1]
    assert all(isinstance(f, RawFrame) and f.characteristic == SAMPLES_UUID for f in frames)
    dec = SensorDecoder("x", SensorKind.IMPORTED)
    blocks = [dec.feed(f)[0] for f in frames if isinstance(f, RawFrame)]
    for f, b in zip(frames, blocks, strict=True):
        assert isinstance(f, RawFrame)
        assert f.receive_ns == b.t_ns[-1]  # received when its last sample was
        assert b.t_ns[-1] - b.t_ns[0] < 1_000_000_000
    assert len(blocks) == math.ceil((rec.t_ns[-1] - rec.t_ns[0]) / 1e9)
    assert np.array_equal(np.concatenate([b.t_ns for b in blocks]), rec.t_ns)
    assert np.array_equal(np.concatenate([b.acc_g for b in blocks]), rec.acc_g)


def test_export_csv_of_an_import_reproduces_the_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.sqlite"
    sid = run_import(capsys, BENDING, "--db", db, *UMAFALL, "--participant", "s01")
    out = tmp_path / "csv"
    assert main(["export", sid, "--db", str(db), "--format", "csv", "--out", str(out)]) == 0
    capsys.readouterr()
    rec, back = read_acc_csv(BENDING), read_acc_csv(out / "s01" / "samples.csv")
    assert np.array_equal(back.t_ns, rec.t_ns)
    assert np.array_equal(back.acc_g, rec.acc_g)
    record = json.loads((out / "session.json").read_text())
    assert record["participants"][0]["kind"] == "imported"
    assert record["participants"][0]["calibration"]["method"] == "mounting"
    assert ",forward,forward," in (out / "episodes.csv").read_text()
    # ... and that export imports again to the very same samples and episodes.
    again = run_import(capsys, out / "s01" / "samples.csv", "--db", db, *UMAFALL)
    a = [e for e in replay_events(db, sid) if isinstance(e, ev.EpisodeEnded)]
    b = [e for e in replay_events(db, again) if isinstance(e, ev.EpisodeEnded)]
    assert [(e.onset, e.end, e.peak_deg) for e in a] == [(e.onset, e.end, e.peak_deg) for e in b]
    assert [r["participants"][0]["id"] for r in sessions_json(db, capsys)] == ["s01", "s01"]


# -- Polar Sensor Logger files ----------------------------------------------------------------


def polar_file(path: Path, t0_ns: int, n: int, *, lean: tuple[int, int] = (0, 0)) -> None:
    """A Polar Sensor Logger ACC export at 50 Hz, worn y up, z forward (the H10's nominal
    mounting), leaning 35 degrees forward for samples ``lean[0]:lean[1]``."""
    lines = ["Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]"]
    for i in range(n):
        a = math.radians(35.0) if lean[0] <= i < lean[1] else 0.0
        y, z = round(1000 * math.cos(a)), -round(1000 * math.sin(a))  # z tilts down
        lines.append(f"2021-03-25T12:05:13.{i % 1000:03d};{t0_ns + i * 20_000_000};12;{y};{z}")
    path.write_text("\n".join(lines) + "\n")


def test_polar_sensor_logger_files_import_as_a_dyad_and_analyze(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = 669_900_000_123_456_789  # ns since 2000-01-01: 2021-03-24 11:20 UTC
    left, right = tmp_path / "Polar_H10_AAAA_ACC.txt", tmp_path / "Polar_H10_BBBB_ACC.txt"
    polar_file(left, t0, 1500, lean=(500, 900))
    polar_file(right, t0 + 2_500_000_000, 1000, lean=(300, 600))
    db = tmp_path / "s.sqlite"
    sid = run_import(capsys, left, right, "--db", db, "--participant", "L", "--participant",
                     "R", "--dyad", "L,R", "--attr", "L:group=a", "--attr", "R:group=b",
                     "--name", "pilot")  # fmt: skip

    (row,) = sessions_json(db, capsys)
    assert row["name"] == "pilot"
    started = POLAR_EPOCH + dt.timedelta(microseconds=t0 // 1000)  # the sensor's clock
    assert row["start"] == started.isoformat()
    assert row["start"].startswith("2021-03-24T11:20")
    assert [(p["id"], p["sensor"], p["attributes"]) for p in row["participants"]] == [
        ("L", "Polar_H10_AAAA_ACC", {"group": "a"}),
        ("R", "Polar_H10_BBBB_ACC", {"group": "b"}),
    ]
    # No --up/--forward: auto calibration from the imported kind's nominal mounting (y up,
    # z forward), which is how these files were worn: each lean is found.
    ended = [e for e in replay_events(db, sid) if isinstance(e, ev.EpisodeEnded)]
    forward = {e.participant: e for e in ended if e.level == "forward"}
    assert set(forward) == {"L", "R"}
    assert 35.0 <= forward["L"].peak_deg < 40.0  # a step: the low-pass overshoots a little
    assert 9.0 < forward["L"].onset < 11.0  # sample 500 at 50 Hz, session clock from L's start
    assert 8.0 < forward["R"].onset < 9.5  # 2.5 s later start + sample 300

    out = tmp_path / "csv"
    assert main(["export", sid, "--db", str(db), "--format", "csv", "--out", str(out)]) == 0
    for path, pid, shift in ((left, "L", 0), (right, "R", 2_500_000_000)):
        rec, back = read_acc_csv(path), read_acc_csv(out / pid / "samples.csv")
        assert np.array_equal(back.t_ns, rec.t_ns - t0)
        assert back.t_ns[0] == shift
        assert np.array_equal(back.acc_g, rec.acc_g)

    bids = tmp_path / "bids"
    assert main(["export", sid, "--db", str(db), "--format", "bids", "--out", str(bids)]) == 0
    capsys.readouterr()
    assert bids_problems(bids) == []

    report = tmp_path / "analysis"
    argv = ["analyze", sid, "--db", str(db), "--out", str(report), "--group-by", "group",
            "--no-figures", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert "1 dyad(s)" in capsys.readouterr().out
    participants = json.loads((report / "participants.json").read_text())
    assert {p["participant"] for p in participants} == {"L", "R"}


# -- refusals: nothing half-written ---------------------------------------------------------


def test_a_malformed_file_creates_no_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.sqlite"
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,ax_g,ay_g,az_g\n0,0,1,0\n0.02,0,one,0\n")
    assert main(["import", str(BENDING), str(bad), "--db", str(db)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(bad) in err[0]
    assert "bad value" in err[0]
    assert not db.exists()  # the store is not even opened

    run_import(capsys, BENDING, "--db", db)
    backwards = tmp_path / "backwards.csv"
    backwards.write_text("t_s,ax_g,ay_g,az_g\n0,0,1,0\n0.04,0,1,0\n0.02,0,1,0\n")
    assert main(["import", str(backwards), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"{backwards}: time goes backwards at sample 3" in err
    assert main(["import", str(tmp_path / "missing.csv"), "--db", str(db)]) == 1
    assert "missing.csv: cannot read" in capsys.readouterr().err
    assert len(sessions_json(db, capsys)) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--up", "+x"], "give both --up and --forward"),
        (["--up", "sideways", "--forward", "+z"], "--up 'sideways'"),
        (["--participant", "a", "--participant", "b"], "1 files but 2 participant ids"),
        (["--attr", "novalue"], "expected KEY=VALUE"),
        (["--attr", "nobody:group=a"], "no participant 'nobody'"),
        (["--dyad", "a"], "expected two participant ids"),
        (["--dyad", f"{BENDING.stem},ghost"], "dyads[0]: unknown participant 'ghost'"),
    ],
)
def test_bad_options_are_refused_before_the_store_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    db = tmp_path / "s.sqlite"
    assert main(["import", str(BENDING), "--db", str(db), *argv]) == 1
    assert message in capsys.readouterr().err
    assert not db.exists()


def test_a_store_that_fails_mid_import_keeps_no_partial_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.sqlite"
    run_import(capsys, BENDING, "--db", db)
    real = cmd.Recorder

    def small_disk(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **kwargs, max_pages=connect_pages(db) + 2)

    monkeypatch.setattr(cmd, "Recorder", small_disk)
    assert main(["import", str(BENDING), "--db", str(db)]) == 1
    assert "import not stored" in capsys.readouterr().err
    monkeypatch.undo()
    conn = connect(db, create=False)
    try:
        assert len(list_sessions(conn)) == 1
        counts = [
            conn.execute(f"SELECT COUNT(DISTINCT session_id) FROM {t}").fetchone()[0]
            for t in ("items", "events", "participants")
        ]
    finally:
        conn.close()
    assert counts == [1, 1, 1]


def connect_pages(db: Path) -> int:
    conn = connect(db, create=False)
    try:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])
    finally:
        conn.close()


# -- the imported kind in the shared layers --------------------------------------------------


def test_the_decoder_hands_blocks_on_with_their_own_times_and_counts_bad_ones() -> None:
    dec = SensorDecoder("file", SensorKind.IMPORTED)
    acc = np.array([[0.0, 1.0, 0.0], [0.1, 1.0, 0.0]])

    def frame(t: list[int], payload: bytes | None = None) -> RawFrame:
        data = encode_block(np.array(t), acc[: len(t)]) if payload is None else payload
        return RawFrame("file", SAMPLES_UUID, data, t[-1] if t else 0)

    (out,) = dec.feed(frame([5, 7]))
    assert out.t_ns.tolist() == [5, 7]  # no device-clock mapping
    assert np.array_equal(out.acc_g, acc)
    assert dec.feed(frame([9], b"\x01\x00")) == []
    assert dec.stats.malformed == 1
    assert "header" in dec.stats.last_error
    assert dec.feed(frame([12, 11])) == []
    assert dec.stats.malformed == 2
    assert "decrease" in dec.stats.last_error
    assert dec.feed(frame([6, 20])) == []  # starts before the previous block ended
    assert dec.stats.out_of_order == 1
    assert dec.feed(RawFrame("file", "00002a37-0000-1000-8000-00805f9b34fb", b"\x00", 1)) == []
    (out,) = dec.feed(frame([7, 8]))
    assert out.t_ns.tolist() == [7, 8]
    assert (dec.stats.frames, dec.stats.samples, dec.stats.gaps) == (2, 4, 0)
    dec.restart()
    assert dec.feed(frame([1]))[0].t_ns.tolist() == [1]


def test_imported_has_no_driver_and_is_never_identified() -> None:
    with pytest.raises(ConfigError, match="imported from a file"):
        driver_for(SensorKind.IMPORTED)
    with pytest.raises(ConfigError, match="imported from a file"):
        driver_for("imported")
    assert driver_for(SensorKind.POLAR_H10).kind is SensorKind.POLAR_H10
    names = ["Polar H10 1234", "Movesense 1", "leanfw-1", "imported", "sensorhub:samples", ""]
    for name in names:
        assert identify(name, [SAMPLES_UUID]) is not SensorKind.IMPORTED


def test_the_config_accepts_the_imported_kind() -> None:
    config = parse_config({"participants": [{"id": "a", "sensor": "f", "kind": "imported"}]})
    assert config.participants[0].kind is SensorKind.IMPORTED
    assert NOMINAL_MOUNTING[SensorKind.IMPORTED] == ("+y", "+z")


def test_attribute_values_keep_numbers_and_text() -> None:
    assert cmd.parse_value("22") == 22
    assert cmd.parse_value("1.5") == 1.5
    assert cmd.parse_value("true") is True
    assert cmd.parse_value("01") == "01"
    assert cmd.parse_value("NaN") == "NaN"
    assert cmd.parse_value("F") == "F"
    assert cmd.parse_value('"quoted"') == '"quoted"'

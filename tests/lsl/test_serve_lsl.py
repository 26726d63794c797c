"""`serve --virtual 2 --lsl` publishes each participant's angles and the markers over LSL."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.serve_process import start_serve


def test_serve_opens_an_angle_outlet_per_participant(
    tmp_path: Path, pylsl: Any, lsl_test_config: Path
) -> None:
    serve = start_serve(
        tmp_path, "--virtual", "2", "--no-record", "--lsl", "--lsl-config", str(lsl_test_config)
    )
    try:
        found = {}
        for pid in ("p1", "p2"):
            streams = pylsl.resolve_byprop("name", f"sensorhub-{pid}-angles", timeout=20.0)
            assert streams, f"no LSL angle stream for {pid}"
            found[pid] = streams[0]
        inlet = pylsl.StreamInlet(found["p1"])
        assert inlet.info().channel_count() == 2
        sample, stamp = inlet.pull_sample(timeout=20.0)
        assert sample is not None
        assert len(sample) == 2
        assert abs(sample[0]) < 90  # a forward angle in degrees
        assert stamp > 0
        inlet.close_stream()
        serve.proc.send_signal(signal.SIGTERM)
        serve.proc.wait(timeout=30)
        assert serve.proc.returncode == 0, serve.stderr
    finally:
        serve.stop()

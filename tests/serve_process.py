"""Start `sensorhub serve` as a real process for end-to-end tests, and find its URL.

stderr goes to a file, not a pipe: a process that logs more than a pipe holds while nobody
reads it would block, and the test would hang instead of failing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class ServeProcess:
    proc: subprocess.Popen[str]
    url: str
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_serve(workdir: Path, *args: str) -> ServeProcess:
    """`serve --port 0 --db workdir/sessions.sqlite ARGS...`; returns once it listens."""
    stderr_path = workdir / "serve.stderr"
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sensorhub.cli", "serve", "--port", "0",
             "--db", str(workdir / "sessions.sqlite"), *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"dashboard on (http://127\.0\.0\.1:\d+/)", line)
        if match:
            return ServeProcess(proc, match.group(1), stderr_path)
    proc.wait()
    raise AssertionError(f"serve did not start: {stderr_path.read_text()}")

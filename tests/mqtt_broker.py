"""A real Mosquitto broker for tests: loopback only, a free port, restartable mid-test.

Debian's ``mosquitto`` package provides ``/usr/sbin/mosquitto`` (``make test`` installs it).
The broker listens on 127.0.0.1 only, keeps its state in a temporary folder (persistence on,
so a restart keeps retained messages and the queued QoS 1 messages of persistent sessions,
as a real deployment's broker does), and logs to a file that a failing test prints.

Usage::

    with Mosquitto(tmp_path) as broker:   # started on a free port
        url = broker.url                  # "mqtt://127.0.0.1:PORT"
        broker.stop()                     # an outage...
        broker.start()                    # ...and the broker is back on the same port

``extra_config`` is appended to the configuration (a TLS listener, a ``password_file``);
``allow_anonymous=False`` makes every listener require a user name and password.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["MOSQUITTO", "Mosquitto", "free_port"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """One broker process; ``start``/``stop`` may be called repeatedly (same port)."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        extra_config: str = "",
        *,
        allow_anonymous: bool = True,
    ) -> None:
        if not Path(MOSQUITTO).is_file():
            raise RuntimeError(
                f"mosquitto not found at {MOSQUITTO}: `make test` installs Debian's mosquitto "
                "package (apt-get install mosquitto)"
            )
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = workdir / "mosquitto.log"
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if allow_anonymous else 'false'}\n"
            "user root\n"  # as root it would switch to user mosquitto, who cannot write here
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            f"log_dest file {self.log_path}\n"
            "log_type all\n"
            "max_queued_messages 0\n"  # 0 = unlimited: a queued session never drops
            f"{extra_config}"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and wait until it accepts TCP connections."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited at start: {err}\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} in {timeout_s} s")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the broker (SIGTERM: it saves its persistence file; ``kill``: SIGKILL)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

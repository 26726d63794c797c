"""Server settings: one frozen value, validated once, passed to :func:`create_app`."""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sensorhub.errors import ConfigError

__all__ = ["DEFAULT_DASHBOARD_DIR", "ServerSettings", "is_loopback"]

#: ``dashboards/live`` of the source checkout (the package is installed editable).
DEFAULT_DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "dashboards" / "live"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the server listens and what it tolerates from clients.

    ``token``: when set, required on ``/ws`` and every ``/api`` endpoint except
    ``/api/health``. On a non-loopback ``host`` a token is mandatory: :meth:`resolved` generates
    one when none is configured (``serve`` prints it).
    ``allowed_origins``: extra websocket ``Origin`` values accepted besides the server's own
    (``"*"`` accepts any).
    ``flood_rate_per_s`` / ``flood_burst``: a token bucket per websocket; a client that sends
    faster than the rate for longer than the burst allows is closed (1008).
    ``compress``: permessage-deflate on websockets. Off by default: deflating every small
    JSON message per client costs more CPU than it saves on a lab network.
    ``clock``: monotonic seconds, injected so tests can drive the flood limiter.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()
    max_message_bytes: int = 16 * 1024
    max_request_bytes: int = 64 * 1024
    client_queue: int = 1000
    flood_rate_per_s: float = 20.0
    flood_burst: int = 60
    max_clients: int = 200
    heartbeat_s: float = 20.0
    close_timeout_s: float = 2.0
    compress: bool = False
    dashboard_dir: Path = DEFAULT_DASHBOARD_DIR
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"server.port: {self.port} is not a TCP port (0-65535)")
        positive = {
            "max_message_bytes": self.max_message_bytes,
            "max_request_bytes": self.max_request_bytes,
            "client_queue": self.client_queue,
            "flood_rate_per_s": self.flood_rate_per_s,
            "flood_burst": self.flood_burst,
            "max_clients": self.max_clients,
            "heartbeat_s": self.heartbeat_s,
            "close_timeout_s": self.close_timeout_s,
        }
        for key, value in positive.items():
            if not value > 0:
                raise ConfigError(f"server.{key}: must be positive, got {value!r}")
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("server.token: use at least 8 characters")

    @property
    def token_required(self) -> bool:
        return self.token is not None or not is_loopback(self.host)

    def resolved(self) -> ServerSettings:
        """These settings, with a generated token if the host needs one and none is set."""
        if self.token is None and not is_loopback(self.host):
            return dataclasses.replace(self, token=secrets.token_urlsafe(24))
        return self

"""Types shared by every protocol codec.

:class:`AccBlock` is what the rest of the pipeline sees from any accelerometer, whatever the
sensor: per-sample device timestamps and acceleration in g on the device's own axes. Each
protocol module has an adapter that builds one from its own frame type, because only the
protocol knows how its timestamps are defined (Polar stamps the *last* sample, Movesense and
leanfw-v1 the *first*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["STANDARD_GRAVITY", "AccBlock"]

#: m/s² per g (CGPM 1901), to convert Movesense's m/s² samples to g.
STANDARD_GRAVITY = 9.80665


@dataclass(frozen=True, slots=True, eq=False)
class AccBlock:
    """Accelerometer samples from one frame.

    ``t_device_ns``: int64, shape (N,), each sample's time on the *device* clock in ns.
    ``acc_g``: float64, shape (N, 3), acceleration in g, device axes x, y, z.
    ``seq``: the frame's sequence number where the protocol has one (leanfw-v1), else None.
    """

    t_device_ns: NDArray[np.int64]
    acc_g: NDArray[np.float64]
    seq: int | None = None

    def __post_init__(self) -> None:
        n = self.t_device_ns.shape[0]
        if self.t_device_ns.ndim != 1 or self.acc_g.shape != (n, 3):
            raise ValueError(
                f"AccBlock shapes disagree: t {self.t_device_ns.shape}, acc {self.acc_g.shape}"
            )

    def __len__(self) -> int:
        return int(self.t_device_ns.shape[0])

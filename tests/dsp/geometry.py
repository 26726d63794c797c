"""Synthetic gravity readings for a known mounting and known trunk angles (test helper)."""

from __future__ import annotations

import numpy as np


def random_mounting(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random proper rotation: (up, forward) unit vectors in device axes."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 2] = -q[:, 2]
    return q[:, 0], q[:, 1]


def reading(up: np.ndarray, forward: np.ndarray, fwd_deg, lat_deg=0.0) -> np.ndarray:
    """Device-axis gravity for a trunk leaning ``fwd_deg`` forward, then ``lat_deg`` right."""
    right = np.cross(forward, up)
    f = np.radians(np.atleast_1d(np.asarray(fwd_deg, dtype=float)))[:, None]
    s = np.radians(np.broadcast_to(np.asarray(lat_deg, dtype=float), f.shape[:1]))[:, None]
    # Forward tilt about the right axis, then a lateral tilt about the forward axis.
    v = np.cos(f) * up - np.sin(f) * forward
    return np.cos(s) * v - np.sin(s) * right

"""Bridges: hand the hub's schema events to existing, well-kept systems (LSL for lab sync).

Each bridge is an event sink (``on_event(event)``, added to ``Hub.event_sinks``) that never
blocks or raises into the pipeline, plus a ``close()``. Optional dependencies (``pylsl``) are
imported when a bridge is built, so importing this package needs none of them.
"""

from __future__ import annotations

__all__: list[str] = []

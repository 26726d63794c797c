"""Keeps docs/websocket.md's JSON Schema blocks equal to the schema in code.

The document is hand-written prose with one generated block per message type::

    <!-- schema: angle -->
    ```json
    { ...events.json_schema(Angle)... }
    ```
    <!-- /schema -->

``python -m sensorhub.server.docs docs/websocket.md`` rewrites the blocks in place;
``--check`` exits non-zero if any block is stale or missing (the test suite does the same).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from sensorhub.events import CLIENT_MESSAGES, EVENT_TYPES, json_schema
from sensorhub.server.messages import SERVER_MESSAGES

__all__ = ["ALL_MESSAGES", "missing", "render_schema", "update"]

#: Every message on the websocket, by ``type`` tag: server -> client, then client -> server.
ALL_MESSAGES: dict[str, type[Any]] = {**EVENT_TYPES, **SERVER_MESSAGES, **CLIENT_MESSAGES}

_BLOCK = re.compile(
    r"(<!-- schema: (?P<tag>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /schema -->)", re.DOTALL
)


def render_schema(cls: type[Any]) -> str:
    return "```json\n" + json.dumps(json_schema(cls), indent=2) + "\n```\n"


def update(text: str) -> str:
    """``text`` with every schema block regenerated (unknown tags are left as they are)."""

    def block(match: re.Match[str]) -> str:
        cls = ALL_MESSAGES.get(match["tag"])
        if cls is None:
            return match[0]
        return match[1] + render_schema(cls) + match[4]

    return _BLOCK.sub(block, text)


def missing(text: str) -> list[str]:
    """Message types that have no schema block in ``text``."""
    present = {m["tag"] for m in _BLOCK.finditer(text)}
    return [tag for tag in ALL_MESSAGES if tag not in present]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate the schema blocks of websocket.md.")
    ap.add_argument("path", type=Path)
    ap.add_argument("--check", action="store_true", help="only report stale or missing blocks")
    args = ap.parse_args(argv)
    text = args.path.read_text()
    new = update(text)
    absent = missing(text)
    if absent:
        print(f"{args.path}: no schema block for {absent}", file=sys.stderr)
    if args.check:
        if new != text:
            print(f"{args.path}: schema blocks are stale; regenerate them", file=sys.stderr)
        return 1 if new != text or absent else 0
    if new != text:
        args.path.write_text(new)
    return 1 if absent else 0


if __name__ == "__main__":
    raise SystemExit(main())

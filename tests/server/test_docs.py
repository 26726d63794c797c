"""docs/websocket.md cannot drift from the code: every message type has a schema block equal
to ``events.json_schema`` of its class, and every example decodes with the real codec."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sensorhub.events import from_json, json_schema
from sensorhub.server import docs
from tests.conftest import REPO_ROOT

WEBSOCKET_MD = REPO_ROOT / "docs" / "websocket.md"


def test_every_message_type_has_a_current_schema_block() -> None:
    text = WEBSOCKET_MD.read_text()
    assert docs.missing(text) == []
    for tag, cls in docs.ALL_MESSAGES.items():
        assert f"<!-- schema: {tag} -->\n{docs.render_schema(cls)}<!-- /schema -->" in text, tag
    assert docs.update(text) == text, (
        "regenerate: python -m sensorhub.server.docs docs/websocket.md"
    )


def test_check_mode_detects_a_stale_block(tmp_path: Path) -> None:
    stale = WEBSOCKET_MD.read_text().replace('"minimum": 1', '"minimum": 0', 1)
    path = tmp_path / "ws.md"
    path.write_text(stale)
    assert docs.main(["--check", str(path)]) == 1
    assert docs.main([str(path)]) == 0
    assert path.read_text() == WEBSOCKET_MD.read_text()


def test_every_example_decodes_and_every_type_has_one() -> None:
    text = WEBSOCKET_MD.read_text()
    examples = re.findall(r"<!-- example -->\n```json\n(.*?)\n```", text, re.DOTALL)
    seen = []
    for example in examples:
        obj = json.loads(example)
        message = from_json(obj, docs.ALL_MESSAGES)
        assert set(obj) - {"type", "v"} <= set(json_schema(type(message))["properties"])
        seen.append(obj["type"])
    assert sorted(seen) == sorted(docs.ALL_MESSAGES)

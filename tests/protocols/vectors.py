"""Load ``firmware_specs/vectors/*.json`` and check decoders against them.

The vector files are shared by every protocol (firmware authors read them too)::

    {"protocol": "<name>", "spec": "firmware_specs/<file>.md", "description": "...",
     "source": "where the bytes come from",
     "vectors": [
       {"name": "unique_snake_case", "kind": "data_frame", "hex": "0a0b...",
        "params": {...decoder kwargs...}, "expect": {...decoded values...}},
       {"name": "...", "kind": "...", "hex": "...",
        "error": "DecodeError", "error_contains": "substring of the message"}]}

Usage in a protocol's test module::

    from .vectors import vector_params, check_vector

    DECODERS = {"data_frame": parse_data_frame, "heart_rate": parse_heart_rate}

    @pytest.mark.parametrize("vector", vector_params("polar_pmd"))
    def test_vector(vector):
        check_vector(vector, DECODERS)

``expect`` is compared field by field against the decoded object: each key is read as an
attribute (or a mapping key), numpy arrays and tuples become lists, sets sorted lists,
floats compare with a relative tolerance of 1e-9, nested dicts recurse. Only the keys named in
``expect`` are checked, so a vector states what it pins and nothing more.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorhub import errors

VECTORS_DIR = Path(__file__).resolve().parents[2] / "firmware_specs" / "vectors"

Decoder = Callable[..., Any]

_TOP_KEYS = {"protocol", "spec", "description", "source", "vectors"}
_VECTOR_KEYS = {"name", "kind", "hex", "params", "expect", "error", "error_contains", "note"}
_NAME_RE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
_HEX_RE = re.compile(r"^([0-9a-f]{2})*$")


def load_vector_file(protocol: str) -> dict[str, Any]:
    """Read ``firmware_specs/vectors/<protocol>.json`` and validate its shape."""
    path = VECTORS_DIR / f"{protocol}.json"
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    validate_vector_file(doc, where=str(path))
    return doc


def validate_vector_file(doc: Mapping[str, Any], *, where: str = "vector file") -> None:
    """Assert the shared format: required keys, unique snake_case names, clean hex."""
    missing = _TOP_KEYS - doc.keys()
    assert not missing, f"{where}: missing top-level keys {sorted(missing)}"
    spec = VECTORS_DIR.parents[1] / doc["spec"]
    assert spec.is_file(), f"{where}: spec {doc['spec']} does not exist"
    seen: set[str] = set()
    for v in doc["vectors"]:
        name = v.get("name", "?")
        unknown = v.keys() - _VECTOR_KEYS
        assert not unknown, f"{where}:{name}: unknown keys {sorted(unknown)}"
        assert _NAME_RE.match(name), f"{where}: name {name!r} is not snake_case"
        assert name not in seen, f"{where}: duplicate vector name {name!r}"
        seen.add(name)
        assert isinstance(v.get("kind"), str), f"{where}:{name}: kind missing"
        assert _HEX_RE.match(v.get("hex", "x")), f"{where}:{name}: hex must be lowercase pairs"
        has_expect, has_error = "expect" in v, "error" in v
        assert has_expect != has_error, f"{where}:{name}: exactly one of expect/error"
        if has_error:
            assert hasattr(errors, v["error"]), f"{where}:{name}: unknown error {v['error']}"
            assert v.get("error_contains"), f"{where}:{name}: error_contains missing"


def vector_params(
    protocol: str,
    *,
    kinds: set[str] | None = None,
    errors: bool | None = None,
    where: Callable[[dict[str, Any]], bool] | None = None,
) -> list[Any]:
    """``pytest.param`` per vector (id = vector name).

    Filters: ``kinds``; ``errors`` True = only error vectors, False = only decodable ones;
    ``where`` any predicate. Filter here rather than returning early inside a test, so no
    test case passes without checking anything.
    """
    doc = load_vector_file(protocol)
    return [
        pytest.param(v, id=v["name"])
        for v in doc["vectors"]
        if (kinds is None or v["kind"] in kinds)
        and (errors is None or ("error" in v) == errors)
        and (where is None or where(v))
    ]


def to_plain(value: Any) -> Any:
    """Turn decoded values into plain JSON-like values for comparison."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [to_plain(x) for x in value]
    if isinstance(value, set | frozenset):
        return sorted(to_plain(x) for x in value)
    if isinstance(value, Mapping):
        return {k: to_plain(x) for k, x in value.items()}
    return value


def _field(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj[key]
    attr = getattr(obj, key)
    return attr() if callable(attr) else attr


def assert_plain_equal(actual: Any, expected: Any, *, path: str = "") -> None:
    """Deep comparison; floats with rel 1e-9 (abs 1e-12), everything else exactly."""
    if isinstance(expected, dict):
        for key, exp in expected.items():
            assert_plain_equal(_field(actual, key), exp, path=f"{path}.{key}")
        return
    actual = to_plain(actual)
    if isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), (
            f"{path}: length {len(actual)} != expected {len(expected)}"
        )
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_plain_equal(a, e, path=f"{path}[{i}]")
        return
    if isinstance(expected, float) or isinstance(actual, float):
        assert expected is not None, f"{path}: got {actual!r}, expected None"
        assert actual is not None, f"{path}: got None, expected {expected!r}"
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12), (
            f"{path}: {actual!r} != expected {expected!r}"
        )
        return
    assert actual == expected, f"{path}: {actual!r} != expected {expected!r}"


def check_vector(vector: Mapping[str, Any], decoders: Mapping[str, Decoder]) -> Any:
    """Decode ``vector["hex"]`` with ``decoders[vector["kind"]]`` and check the outcome.

    Returns the decoded object (None for error vectors) so a test can add its own checks.
    """
    kind = vector["kind"]
    assert kind in decoders, f"{vector['name']}: no decoder registered for kind {kind!r}"
    decode = decoders[kind]
    payload = bytes.fromhex(vector["hex"])
    params = dict(vector.get("params", {}))
    if "error" in vector:
        exc_type: type[BaseException] = getattr(errors, vector["error"])
        with pytest.raises(exc_type) as info:
            decode(payload, **params)
        message = str(info.value)
        assert vector["error_contains"] in message, (
            f"{vector['name']}: message {message!r} lacks {vector['error_contains']!r}"
        )
        return None
    decoded = decode(payload, **params)
    assert_plain_equal(decoded, vector["expect"], path=vector["name"])
    return decoded

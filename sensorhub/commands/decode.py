"""Decode one sensor frame given as hex and print what the hub reads from it, as JSON.

``sensorhub decode --protocol NAME HEX...`` is for firmware engineers checking what their
bytes mean to the hub. The hex may contain spaces
or colons (``02 ea 54 ...`` or ``02:ea:54``). Decoder keyword arguments go in ``--param``
(``--param factor=0.001``; values are read as JSON, else kept as strings).

The protocol names come from the protocol modules themselves: any module in
:mod:`sensorhub.protocols` whose name does not start with ``_`` may define

    CLI_DECODERS: dict[str, Callable[..., object]]   # name -> decoder(payload, **params)

and this command finds it, so a new protocol adds entries in its own module, not here.
Decoded objects become JSON generically: dataclass fields plus public properties, numpy
arrays as nested lists, bytes as hex, enums by name, sets as sorted lists.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import inspect
import json
import pkgutil
import string
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sensorhub import protocols
from sensorhub.errors import ConfigError

__all__ = ["discover_decoders", "parse_hex", "register", "to_jsonable"]

Decoder = Callable[..., object]


def discover_decoders() -> dict[str, Decoder]:
    """Collect ``CLI_DECODERS`` from every public module of :mod:`sensorhub.protocols`."""
    found: dict[str, Decoder] = {}
    for info in sorted(pkgutil.iter_modules(protocols.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{protocols.__name__}.{info.name}")
        entries: Mapping[str, Decoder] = getattr(module, "CLI_DECODERS", {})
        for name, decoder in entries.items():
            if name in found:
                raise RuntimeError(f"decoder name {name!r} defined twice ({info.name})")
            found[name] = decoder
    return found


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    decoders = discover_decoders()
    p = subparsers.add_parser(
        "decode",
        help="decode one sensor frame given as hex and print it as JSON",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--protocol", required=True, choices=sorted(decoders), help="frame kind")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="decoder keyword argument, e.g. factor=0.001 (repeatable)",
    )
    p.add_argument("hex", nargs="+", metavar="HEX", help="frame bytes in hex")
    p.set_defaults(handler=lambda args: _run(args, decoders))


def parse_hex(parts: list[str]) -> bytes:
    """Join hex fragments; spaces, colons and a ``0x`` prefix are allowed."""
    text = "".join(parts).replace(":", "").replace(" ", "").lower().removeprefix("0x")
    bad = sorted(set(text) - set(string.hexdigits.lower()))
    if bad:
        raise ConfigError(f"HEX: not a hex digit: {''.join(bad)!r}")
    if len(text) % 2:
        raise ConfigError(f"HEX: odd number of hex digits ({len(text)})")
    return bytes.fromhex(text)


def _params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def to_jsonable(value: Any) -> Any:
    """Plain JSON values for a decoded object (see the module docstring)."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"type": type(value).__name__}
        out |= {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name, attr in vars(type(value)).items():
            if isinstance(attr, property) and not name.startswith("_"):
                out[name] = to_jsonable(getattr(value, name))
        return out
    return repr(value)


def _dumps(obj: Any) -> str:
    """One top-level key per line, each value compact: readable for long sample arrays."""
    if not isinstance(obj, dict):
        return json.dumps(obj)
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in obj.items()]
    return "{\n" + ",\n".join(lines) + "\n}"


def _run(args: argparse.Namespace, decoders: Mapping[str, Decoder]) -> int:
    payload = parse_hex(args.hex)
    decoder, params = decoders[args.protocol], _params(args.param)
    try:
        inspect.signature(decoder).bind(payload, **params)
    except TypeError as exc:
        raise ConfigError(f"--param for {args.protocol}: {exc}") from exc
    decoded = decoder(payload, **params)
    result = to_jsonable(decoded)
    if not isinstance(result, dict):
        result = {"value": result}
    sys.stdout.write(_dumps({"protocol": args.protocol, **result}) + "\n")
    return 0

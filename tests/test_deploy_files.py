"""deploy/: the example config covers every option and loads; the systemd unit is valid, runs
an existing ``serve`` command line, and keeps its hardening."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sensorhub.cli import build_parser
from sensorhub.config import CONFIG_SCHEMA, load_config
from sensorhub.doctor import CHECKS
from sensorhub.sources.base import SensorKind

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
EXAMPLE = DEPLOY / "sensorhub.example.toml"
UNIT = DEPLOY / "sensorhub.service"

#: Keys the example shows only as a commented-out line, with the reason.
COMMENTED_OUT = {
    # A token in an example file would be copied into real deployments and become public.
    "server.token": "token",
}
#: Schema values the example need not mention: files imported by `sensorhub import` carry this
#: kind; a live configuration never names it.
UNMENTIONED_VALUES = {SensorKind.IMPORTED.value}


def schema_keys(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Every key path of the schema: ``detection.levels[].name``, ``participants[].id``..."""
    for branch in schema.get("oneOf", []):
        yield from schema_keys(branch, prefix)
    if "items" in schema and isinstance(schema["items"], dict):
        yield from schema_keys(schema["items"], prefix + "[]")
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        yield path
        yield from schema_keys(sub, path)


def schema_enum_values(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for value in schema.get("enum", []):
            yield str(value)
        for sub in schema.values():
            yield from schema_enum_values(sub)
    elif isinstance(schema, list):
        for sub in schema:
            yield from schema_enum_values(sub)


def present(data: Any, path: str) -> bool:
    """Whether ``path`` (as from :func:`schema_keys`) is set anywhere in ``data``."""
    head, _, rest = path.partition(".")
    is_array = head.endswith("[]")
    key = head.removesuffix("[]")
    if not isinstance(data, dict) or key not in data:
        return False
    value = data[key]
    if is_array and not isinstance(value, list):
        return False
    values = value if is_array else [value]
    if not rest:
        return bool(values)
    return any(present(v, rest) for v in values)


def test_schema_walk_finds_nested_keys() -> None:
    keys = set(schema_keys(CONFIG_SCHEMA))
    assert {"detection.levels[].direction", "participants[].calibration.up", "dyads"} <= keys
    assert present({"a": [{"b": 1}, {"c": 2}]}, "a[].c")
    assert not present({"a": [{"b": 1}]}, "a[].c")


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert len(config.participants) >= 2
    methods = {p.calibration.method for p in config.participants}
    assert methods == {"auto", "two-pose", "mounting"}  # every calibration form is shown
    assert config.dyads


def test_example_config_sets_every_option() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    text = EXAMPLE.read_text(encoding="utf-8")
    missing = []
    for path in schema_keys(CONFIG_SCHEMA):
        if path in COMMENTED_OUT:
            assert re.search(rf"^# {COMMENTED_OUT[path]} = ", text, re.MULTILINE), path
            assert not present(data, path), f"{path} should stay commented out"
        elif not present(data, path):
            missing.append(path)
    assert not missing, f"deploy/sensorhub.example.toml lacks {missing}: add them with a comment"


def test_example_config_mentions_every_choice() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    values = set(schema_enum_values(CONFIG_SCHEMA)) - UNMENTIONED_VALUES
    assert values  # kinds, calibration methods, level directions
    assert [v for v in sorted(values) if f'"{v}"' not in text and v not in text] == []


def unit_directives() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_unit_runs_serve_with_the_deploy_paths() -> None:
    service = unit_directives()["Service"]
    argv = shlex.split(service["ExecStart"][0])
    assert argv[0].endswith("/bin/sensorhub")
    args = build_parser().parse_args(argv[1:])  # the flags exist in today's CLI
    assert args.command == "serve"
    assert str(args.config) == "/etc/sensorhub/sensorhub.toml"
    assert str(args.db) == "/var/lib/sensorhub/sessions.sqlite"
    assert service["StateDirectory"] == ["sensorhub"]
    assert service["ConfigurationDirectory"] == ["sensorhub"]


def test_unit_runs_unprivileged_with_bluetooth_access() -> None:
    service = unit_directives()["Service"]
    assert service["User"] == ["sensorhub"]
    assert "bluetooth" in service["SupplementaryGroups"][0].split()
    assert service["CapabilityBoundingSet"] == [""]
    assert service["AmbientCapabilities"] == [""]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartSec"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }.items():
        assert service[key] == [value], key
    assert "/var/lib/sensorhub" in service["ReadWritePaths"][0].split()
    families = set(service["RestrictAddressFamilies"][0].split())
    assert {"AF_UNIX", "AF_INET", "AF_INET6", "AF_BLUETOOTH"} <= families


def _systemd_analyze() -> str:
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze (package systemd) is needed to check deploy/sensorhub.service"
    return exe


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify also checks that ExecStart's program exists: point it at this venv's sensorhub.
    here = Path(sys.executable).parent / "sensorhub"
    assert here.exists()
    text = UNIT.read_text(encoding="utf-8").replace("/opt/sensorhub/venv/bin/sensorhub", str(here))
    unit = tmp_path / "sensorhub.service"
    unit.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    # Unknown or misspelt directives are only warnings to systemd: any output is a failure.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_unit_exposure_stays_low() -> None:
    done = subprocess.run(
        [_systemd_analyze(), "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= 2.5  # systemd rates <= 3.9 as OK


README = DEPLOY / "README.md"


@pytest.mark.parametrize(
    "words",
    [
        "journalctl -u sensorhub",
        "VACUUM INTO",
        ".backup",
        "-wal",
        "usermod -aG bluetooth",
        "BlueZ 5.55",
        "pip install --upgrade",
        "/var/lib/sensorhub/sessions.sqlite",
        "/etc/sensorhub/sensorhub.toml",
        "Raspberry Pi",
    ],
)
def test_readme_covers_operations(words: str) -> None:
    assert words in README.read_text(encoding="utf-8")


def test_readme_commands_exist() -> None:
    text = README.read_text(encoding="utf-8")
    used = set(re.findall(r"bin/sensorhub (\w+)|\$SH (\w+)|`sensorhub (\w+)", text))
    commands = {name for group in used for name in group if name}
    assert {"doctor", "serve", "sessions", "export", "scan"} <= commands
    for command in commands:
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([command, "--help"])
        assert done.value.code == 0, command


def test_readme_lists_every_doctor_check() -> None:
    text = README.read_text(encoding="utf-8")
    assert [c.title for c in CHECKS if f"| {c.title} |" not in text] == []

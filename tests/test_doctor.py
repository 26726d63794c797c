"""``sensorhub doctor``: every check with injected probes (adapter present/absent, BlueZ
reachable or not, permissions...), the real probes against loopback fakes (a private
dbus-daemon with a fake BlueZ, a busy port, sysfs trees), and the real command on this machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sensorhub.cli import main
from sensorhub.doctor import (
    CHECKS,
    REQUIRED_PACKAGES,
    AdapterInfo,
    BluezProbe,
    Check,
    CheckResult,
    DoctorContext,
    Identity,
    Probes,
    Status,
    _pins,
    bind_port,
    exit_status,
    package_requirements,
    parse_btmgmt_info,
    probe_bluez_dbus,
    read_sysfs_adapters,
    run_checks,
)
from sensorhub.errors import ConfigError
from sensorhub.store.sqlite import connect

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "deploy" / "sensorhub.example.toml"
LSL_CFG = REPO / "sensorhub" / "bridges" / "lsl_api.cfg"
PINS = ["bleak>=1.0", "bumble==0.0.236", "numpy>=1.26", 'pytest>=8.0; extra == "test"']
VERSIONS = {"sensorhub": "0.1.0", "bleak": "1.1.0", "bumble": "0.0.236", "dbus-fast": "2.44.0"}


def _never(*args: Any) -> Any:
    raise AssertionError("this probe must not be called")


def healthy(**changes: Any) -> Probes:
    """A Linux machine with one powered adapter, BlueZ 5.66, the user in group bluetooth."""
    probes = Probes(
        platform=lambda: "linux",
        sysfs_adapters=lambda: [AdapterInfo("hci0", blocked=False)],
        bluez=lambda timeout: BluezProbe(
            True, True, adapters=(AdapterInfo("hci0", "00:1A:7D:DA:71:13", powered=True),)
        ),
        btmgmt=_never,
        bluez_version=lambda: "5.66",
        # This process's uid, so that the stores the tests create belong to "lab".
        identity=lambda: Identity(
            os.geteuid(), "lab", frozenset({"lab", "bluetooth"}), frozenset({"lab"})
        ),
        bind=lambda host, port: None,
        package_version=VERSIONS.get,
        requirements=lambda: PINS,
        python_version=lambda: (3, 11, 7),
        free_bytes=lambda path: 50 << 30,
        mqtt_connect=lambda settings, timeout: None,
        lsl_version=lambda: "liblsl 1.16 (pylsl 1.16.2)",
        environ=lambda: {"LSLAPICFG": str(LSL_CFG)},
    )
    return dataclasses.replace(probes, **changes)


def context(tmp_path: Path, probes: Probes, **kwargs: Any) -> DoctorContext:
    options: dict[str, Any] = {"config_path": EXAMPLE, "db_path": tmp_path / "s.sqlite"}
    options.update(kwargs)
    return DoctorContext(probes=probes, **options)


def results(tmp_path: Path, probes: Probes, **kwargs: Any) -> dict[str, CheckResult]:
    return {r.name: r for r in run_checks(context(tmp_path, probes, **kwargs))}


def test_healthy_machine_passes_every_check(tmp_path: Path) -> None:
    config = feature_config(tmp_path)
    found = results(tmp_path, healthy(), config_path=config)
    assert list(found) == [c.name for c in CHECKS]
    assert {n: r.status for n, r in found.items()} == {n: Status.OK for n in found}
    assert "hci0 (00:1A:7D:DA:71:13) powered" in found["bluetooth-adapter"].summary
    assert "BlueZ 5.66" in found["bluez"].summary
    assert "bumble 0.0.236 (pinned)" in found["versions"].summary
    assert exit_status(list(found.values())) == 0


# --- adapter -------------------------------------------------------------------------------


def test_no_adapter_is_said_plainly_with_the_virtual_radio_as_way_out(tmp_path: Path) -> None:
    probes = healthy(sysfs_adapters=list, bluez=lambda t: BluezProbe(True, True))
    found = results(tmp_path, probes)
    adapter = found["bluetooth-adapter"]
    assert adapter.status is Status.FAIL
    assert adapter.summary.startswith("no Bluetooth adapter found")
    assert adapter.fix is not None
    assert "--virtual" in adapter.fix
    assert "lsusb" in adapter.fix
    assert exit_status(list(found.values())) == 1


def test_adapter_powered_off(tmp_path: Path) -> None:
    off = BluezProbe(True, True, adapters=(AdapterInfo("hci0", "AA:BB:CC:DD:EE:FF", False),))
    adapter = results(tmp_path, healthy(bluez=lambda t: off))["bluetooth-adapter"]
    assert adapter.status is Status.FAIL
    assert "powered off" in adapter.summary
    assert adapter.fix is not None
    assert "bluetoothctl power on" in adapter.fix
    assert "AutoEnable=true" in adapter.fix


def test_adapter_blocked_by_rfkill(tmp_path: Path) -> None:
    probes = healthy(sysfs_adapters=lambda: [AdapterInfo("hci0", blocked=True)])
    adapter = results(tmp_path, probes)["bluetooth-adapter"]
    assert adapter.status is Status.FAIL
    assert "rfkill" in adapter.summary
    assert adapter.fix is not None
    assert "rfkill unblock bluetooth" in adapter.fix


def test_without_dbus_btmgmt_tells_the_power_state(tmp_path: Path) -> None:
    probes = healthy(
        bluez=lambda t: BluezProbe(False, error="no socket"),
        btmgmt=lambda: [AdapterInfo("hci0", "00:11:22:33:44:55", powered=True)],
    )
    found = results(tmp_path, probes)
    assert found["bluetooth-adapter"].status is Status.OK
    assert "00:11:22:33:44:55" in found["bluetooth-adapter"].summary
    assert found["bluez"].status is Status.FAIL


def test_adapter_of_unknown_power_is_a_warning(tmp_path: Path) -> None:
    probes = healthy(bluez=lambda t: BluezProbe(False, error="no socket"), btmgmt=lambda: None)
    adapter = results(tmp_path, probes)["bluetooth-adapter"]
    assert adapter.status is Status.WARN
    assert "hci0 present" in adapter.summary


def test_other_platforms_skip_the_bluez_probes(tmp_path: Path) -> None:
    probes = healthy(
        platform=lambda: "darwin", sysfs_adapters=_never, bluez=_never, identity=_never
    )
    found = results(tmp_path, probes)
    assert found["bluetooth-adapter"].status is Status.WARN
    assert "darwin" in found["bluetooth-adapter"].summary
    assert found["bluez"].status is Status.OK
    assert "dbus-fast" not in found["versions"].summary  # only bleak's Linux backend needs it


# --- BlueZ -----------------------------------------------------------------------------------


def test_system_bus_unreachable(tmp_path: Path) -> None:
    probes = healthy(bluez=lambda t: BluezProbe(False, error="ENOENT"), btmgmt=lambda: None)
    bluez = results(tmp_path, probes)["bluez"]
    assert bluez.status is Status.FAIL
    assert "cannot reach the D-Bus system bus (ENOENT)" in bluez.summary
    assert bluez.fix is not None
    assert "systemctl enable --now dbus bluetooth" in bluez.fix


def test_bluez_not_running(tmp_path: Path) -> None:
    probes = healthy(bluez=lambda t: BluezProbe(True, False), btmgmt=lambda: None)
    bluez = results(tmp_path, probes)["bluez"]
    assert bluez.status is Status.FAIL
    assert "not running" in bluez.summary
    assert bluez.fix is not None
    assert "apt install bluez" in bluez.fix


def test_bluez_refusing_the_user_fails_bluez_and_permission(tmp_path: Path) -> None:
    denied = BluezProbe(True, True, denied=True, error="org.freedesktop.DBus.Error.AccessDenied")
    identity = Identity(1000, "lab", frozenset({"lab"}), frozenset())
    found = results(
        tmp_path, healthy(bluez=lambda t: denied, btmgmt=lambda: None, identity=lambda: identity)
    )
    for name in ("bluez", "scan-permission"):
        assert found[name].status is Status.FAIL, name
        assert "usermod -aG bluetooth lab" in (found[name].fix or ""), name


@pytest.mark.parametrize(
    ("version", "status"), [("5.53", Status.FAIL), ("5.55", Status.OK), ("5.72", Status.OK)]
)
def test_bluez_version_floor(tmp_path: Path, version: str, status: Status) -> None:
    bluez = results(tmp_path, healthy(bluez_version=lambda: version))["bluez"]
    assert bluez.status is status
    assert version in bluez.summary
    if status is Status.FAIL:
        assert "5.55" in bluez.summary


def test_bluez_version_unknown_is_a_warning(tmp_path: Path) -> None:
    bluez = results(tmp_path, healthy(bluez_version=lambda: None))["bluez"]
    assert bluez.status is Status.WARN
    assert "version is unknown" in bluez.summary


# --- permission ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "status", "words"),
    [
        (Identity(0, "root", frozenset({"root"}), frozenset()), Status.OK, "root"),
        (Identity(1000, "lab", frozenset({"lab", "bluetooth"}), frozenset()), Status.OK, "is in"),
        (
            Identity(1000, "lab", frozenset({"lab"}), frozenset({"lab"})),
            Status.WARN,
            "after this login session started",
        ),
        (Identity(1000, "lab", frozenset({"lab"}), frozenset()), Status.WARN, "not in group"),
        (Identity(1000, "lab", frozenset({"lab"}), None), Status.WARN, "no group bluetooth"),
    ],
)
def test_scan_permission(tmp_path: Path, identity: Identity, status: Status, words: str) -> None:
    check = results(tmp_path, healthy(identity=lambda: identity))["scan-permission"]
    assert check.status is status
    assert words in check.summary
    if status is Status.WARN:
        assert check.fix is not None


# --- config, database, port, versions ---------------------------------------------------------


def test_config_error_is_shown_with_its_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[participants]]\nid = "A"\nsensor = "X"\ncolour = "red"\n')
    found = results(tmp_path, healthy(), config_path=bad)
    assert found["config"].status is Status.FAIL
    assert "'colour' was unexpected" in found["config"].summary
    assert exit_status(list(found.values())) == 1


def test_missing_config_file_and_no_config(tmp_path: Path) -> None:
    missing = results(tmp_path, healthy(), config_path=tmp_path / "nope.toml")["config"]
    assert missing.status is Status.FAIL
    assert "cannot read config" in missing.summary
    assert results(tmp_path, healthy(), config_path=None)["config"].status is Status.WARN


def test_new_database_can_be_created_and_nothing_is_left_behind(tmp_path: Path) -> None:
    db = tmp_path / "data" / "sessions.sqlite"
    check = results(tmp_path, healthy(), db_path=db)["database"]
    assert check.status is Status.OK, check
    assert "does not exist yet" in check.summary
    assert list(tmp_path.iterdir()) == []


def test_existing_database_is_opened_and_locked_for_writing(tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite"
    connect(db).close()
    check = results(tmp_path, healthy(), db_path=db)["database"]
    assert check.status is Status.OK, check
    assert "is writable (0 session(s))" in check.summary
    conn = connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert not any("doctor" in t for t in tables)  # the probe table was rolled back


@pytest.mark.parametrize("damage", ["garbage", "newer", "under_a_file"])
def test_unusable_database_fails(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "sessions.sqlite"
    if damage == "garbage":
        db.write_bytes(b"not a database at all" * 100)
        words = "not a usable SQLite database"
    elif damage == "newer":
        conn = connect(db)
        conn.execute("PRAGMA user_version = 99")
        conn.close()
        words = "newer than this sensorhub"
    else:
        (tmp_path / "afile").write_text("x")
        db = tmp_path / "afile" / "sessions.sqlite"
        words = "is not a folder"
    check = results(tmp_path, healthy(), db_path=db)["database"]
    assert check.status is Status.FAIL
    assert words in check.summary
    assert check.fix is not None


def test_a_store_checked_by_another_user_than_its_owner_is_a_warning(tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite"
    connect(db).close()
    owner = db.stat().st_uid
    other = Identity(owner + 4242, "visitor", frozenset({"visitor"}), frozenset())
    check = results(tmp_path, healthy(identity=lambda: other), db_path=db)["database"]
    assert check.status is Status.WARN
    assert "this check ran as visitor" in check.summary
    assert "sudo -u " in (check.fix or "")
    me = Identity(owner, "me", frozenset({"me", "bluetooth"}), frozenset())
    assert results(tmp_path, healthy(identity=lambda: me), db_path=db)["database"].status is (
        Status.OK
    )


def test_little_free_space_is_a_warning(tmp_path: Path) -> None:
    check = results(tmp_path, healthy(free_bytes=lambda p: 200 << 20))["database"]
    assert check.status is Status.WARN
    assert "200 MiB free" in check.summary


def test_port_comes_from_the_option_then_the_config(tmp_path: Path) -> None:
    bound: list[tuple[str, int]] = []
    probes = healthy(bind=lambda host, port: bound.append((host, port)))
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[participants]]\nid = "A"\nsensor = "X"\n[server]\nport = 9123\n')
    results(tmp_path, probes, config_path=cfg)
    results(tmp_path, probes, config_path=cfg, port=9555)
    results(tmp_path, probes, config_path=None)
    assert bound == [("127.0.0.1", 9123), ("127.0.0.1", 9555), ("127.0.0.1", 8080)]
    check = results(tmp_path, healthy(bind=_never), port=0)["port"]
    assert check.status is Status.OK


def test_busy_port_fails_with_the_real_bind_probe(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        check = results(tmp_path, healthy(bind=bind_port), port=port)["port"]
    assert check.status is Status.FAIL
    assert f"port {port} on 127.0.0.1 is in use" in check.summary
    assert check.fix is not None
    assert "ss -ltnp" in check.fix


def test_privileged_port_fails_with_advice(tmp_path: Path) -> None:
    def refuse(host: str, port: int) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    check = results(tmp_path, healthy(bind=refuse), port=80)["port"]
    assert check.status is Status.FAIL
    assert "1024" in (check.fix or "")


def test_bumble_off_its_pin_fails(tmp_path: Path) -> None:
    versions = {**VERSIONS, "bumble": "0.0.220"}
    check = results(tmp_path, healthy(package_version=versions.get))["versions"]
    assert check.status is Status.FAIL
    assert "bumble 0.0.220 is installed but sensorhub pins 0.0.236" in check.summary


def test_missing_or_old_packages_fail(tmp_path: Path) -> None:
    versions = {k: v for k, v in VERSIONS.items() if k != "dbus-fast"} | {"bleak": "0.22.3"}
    check = results(tmp_path, healthy(package_version=versions.get))["versions"]
    assert check.status is Status.FAIL
    assert "dbus-fast is not installed" in check.summary
    assert "bleak 0.22.3 is older than the required 1.0" in check.summary


def test_required_packages_match_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    pins = _pins(project["project"]["dependencies"])
    for name, pin in REQUIRED_PACKAGES.items():
        assert pins[name] == pin, name
    assert _pins(package_requirements())["bleak"][0] == ">="  # installed metadata is read
    assert "pytest" not in _pins(PINS)  # test extras are not checked


def test_metadata_pins_win_over_the_built_in_ones(tmp_path: Path) -> None:
    probes = healthy(requirements=lambda: ["bumble==0.0.240"])
    check = results(tmp_path, probes)["versions"]
    assert check.status is Status.FAIL
    assert "sensorhub pins 0.0.240" in check.summary


# --- registry and exit status ------------------------------------------------------------------


def test_checks_that_do_not_apply_are_neither_run_nor_shown(tmp_path: Path) -> None:
    def extra(ctx: DoctorContext) -> CheckResult:
        return CheckResult("extra", "Extra", Status.FAIL, "unreachable", "start it")

    ctx = context(tmp_path, healthy(mqtt_connect=_never, lsl_version=_never))
    default = [r.name for r in run_checks(ctx)]  # the example config: no MQTT, no LSL
    assert default == [c.name for c in CHECKS if c.name not in ("mqtt", "lsl")]
    skipped = Check("extra", "Extra", _never, applies=lambda c: False)
    applied = Check("extra", "Extra", extra, applies=lambda c: c.config is not None)
    assert [r.name for r in run_checks(ctx, (*CHECKS, skipped))] == default
    found = run_checks(ctx, (*CHECKS, applied))
    assert found[-1].name == "extra"
    assert exit_status(found) == 1


def test_warnings_alone_exit_zero() -> None:
    warn = CheckResult("x", "X", Status.WARN, "meh", "do y")
    ok = CheckResult("y", "Y", Status.OK, "fine")
    assert exit_status([warn, ok]) == 0
    assert exit_status([]) == 0


# --- real probes on loopback fakes -------------------------------------------------------------


def test_sysfs_adapters_and_rfkill(tmp_path: Path) -> None:
    (tmp_path / "hci0" / "rfkill3").mkdir(parents=True)
    (tmp_path / "hci0" / "rfkill3" / "soft").write_text("1\n")
    (tmp_path / "hci0" / "rfkill3" / "hard").write_text("0\n")
    (tmp_path / "hci1").mkdir()
    (tmp_path / "hci0:11").mkdir()  # a connection, not a controller
    assert read_sysfs_adapters(tmp_path) == [
        AdapterInfo("hci0", blocked=True),
        AdapterInfo("hci1", blocked=None),
    ]
    assert read_sysfs_adapters(tmp_path / "absent") == []


def test_parse_btmgmt_info() -> None:
    text = (
        "Index list with 2 items\n"
        "hci1:\tPrimary controller\n"
        "\taddr 5C:F3:70:8B:12:34 version 9 manufacturer 2 class 0x000000\n"
        "\tsupported settings: powered connectable discoverable bondable le\n"
        "\tcurrent settings: bondable ssp br/edr le\n"
        "\tname \n"
        "hci0:\tPrimary controller\n"
        "\taddr 00:1A:7D:DA:71:13 version 6 manufacturer 10 class 0x000000\n"
        "\tsupported settings: powered connectable\n"
        "\tcurrent settings: powered bondable le secure-conn\n"
    )
    assert parse_btmgmt_info(text) == [
        AdapterInfo("hci1", "5C:F3:70:8B:12:34", False),
        AdapterInfo("hci0", "00:1A:7D:DA:71:13", True),
    ]


def test_dbus_probe_times_out_on_a_silent_bus(tmp_path: Path) -> None:
    path = tmp_path / "silent"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.bind(str(path))
        silent.listen()
        probe = probe_bluez_dbus(0.3, f"unix:path={path}")
    assert not probe.bus_reachable
    assert probe.error is not None
    assert "0.3 s" in probe.error


def test_dbus_probe_without_a_bus(tmp_path: Path) -> None:
    probe = probe_bluez_dbus(1.0, f"unix:path={tmp_path / 'nothing-here'}")
    assert not probe.bus_reachable
    assert "nothing-here" in (probe.error or "")


@pytest.fixture
def dbus_daemon(tmp_path: Path) -> Iterator[str]:
    """A private dbus-daemon on a unix socket in tmp_path (loopback only)."""
    exe = shutil.which("dbus-daemon")
    assert exe, "the D-Bus tests need dbus-daemon (Debian package dbus-daemon)"
    address = f"unix:path={tmp_path / 'bus'}"
    proc = subprocess.Popen(
        [exe, "--session", "--nofork", "--nopidfile", "--print-address", f"--address={address}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # printed once it listens
        assert line.startswith("unix:"), line
        yield line
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_dbus_probe_reads_a_fake_bluez(dbus_daemon: str) -> None:
    from dbus_fast.aio import MessageBus
    from dbus_fast.constants import PropertyAccess
    from dbus_fast.service import ServiceInterface, dbus_property

    class Adapter(ServiceInterface):
        def __init__(self, address: str, powered: bool) -> None:
            super().__init__("org.bluez.Adapter1")
            self._address, self._powered = address, powered

        @dbus_property(access=PropertyAccess.READ)
        def Address(self) -> s:  # type: ignore[name-defined]  # noqa: F821
            return self._address

        @dbus_property(access=PropertyAccess.READ)
        def Powered(self) -> b:  # type: ignore[name-defined]  # noqa: F821
            return self._powered

    # Before BlueZ is on the bus: reachable, but nobody owns org.bluez.
    absent = await asyncio.to_thread(probe_bluez_dbus, 5.0, dbus_daemon)
    assert (absent.bus_reachable, absent.bluez_running) == (True, False)

    bus = await MessageBus(bus_address=dbus_daemon).connect()
    try:
        bus.export("/org/bluez/hci0", Adapter("00:1A:7D:DA:71:13", True))
        bus.export("/org/bluez/hci1", Adapter("5C:F3:70:8B:12:34", False))
        await bus.request_name("org.bluez")
        probe = await asyncio.to_thread(probe_bluez_dbus, 5.0, dbus_daemon)
    finally:
        bus.disconnect()
    assert probe == BluezProbe(
        True,
        True,
        adapters=(
            AdapterInfo("hci0", "00:1A:7D:DA:71:13", powered=True),
            AdapterInfo("hci1", "5C:F3:70:8B:12:34", powered=False),
        ),
    )


# --- the real command on this machine -----------------------------------------------------------


def _check_this_machine(doc: dict[str, Any], code: int) -> None:
    by_name = {c["name"]: c for c in doc["checks"]}
    adapter = by_name["bluetooth-adapter"]
    if read_sysfs_adapters():
        assert "no Bluetooth adapter found" not in adapter["summary"]
    else:  # this CI machine: no adapter, no system bus
        assert adapter["status"] == "fail"
        assert adapter["summary"].startswith("no Bluetooth adapter found")
        assert "--virtual" in adapter["fix"]
        assert code == 1
        assert doc["ok"] is False
    assert by_name["database"]["status"] == "ok"
    assert by_name["port"]["status"] == "ok"
    assert by_name["versions"]["status"] == "ok", by_name["versions"]


def test_doctor_command_on_this_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor", "--format", "json", "--db", str(tmp_path / "s.sqlite"), "--port", "0"])
    _check_this_machine(json.loads(capsys.readouterr().out), code)


def test_doctor_process_on_this_machine_prints_text_and_never_a_traceback(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "sensorhub.cli", "doctor", "--config", str(EXAMPLE)]
    argv += ["--db", str(tmp_path / "s.sqlite"), "--port", "0"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in done.stderr
    assert done.returncode in (0, 1)
    lines = done.stdout.splitlines()
    assert any(line.startswith("[ ok ] Configuration file:") for line in lines), done.stdout
    assert any(line.startswith("[") and "Bluetooth adapter:" in line for line in lines)
    assert lines[-1].endswith(" ok")
    as_json = subprocess.run(
        [*argv, "--format", "json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert as_json.returncode == done.returncode
    _check_this_machine(json.loads(as_json.stdout), as_json.returncode)


# --- optional features: MQTT and LSL ---------------------------------------------------------


def feature_config(tmp_path: Path) -> Path:
    """A valid config with MQTT (anonymous password-less account) and LSL turned on."""
    config = tmp_path / "hub.toml"
    config.write_text(
        '[[participants]]\nid = "A"\nsensor = "Polar H10 0A1B2C3D"\n\n'
        '[mqtt]\nurl = "mqtt://broker.lab:1883"\nusername = "room-a"\n\n'
        f'[lsl]\nenabled = true\napi_config = "{LSL_CFG}"\n'
    )
    return config


def test_mqtt_and_lsl_checks_apply_only_when_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENSORHUB_MQTT_PASSWORD", raising=False)
    found = results(tmp_path, healthy(mqtt_connect=_never, lsl_version=_never))
    assert "mqtt" not in found
    assert "lsl" not in found
    config = feature_config(tmp_path)
    seen: list[Any] = []

    def connect(settings: Any, timeout: float) -> None:
        seen.append(settings)

    found = results(tmp_path, healthy(mqtt_connect=connect), config_path=config)
    assert found["mqtt"].status is Status.OK, found["mqtt"]
    assert found["mqtt"].summary == "mqtt://broker.lab:1883 as room-a: connection accepted"
    assert [(s.host, s.port, s.username) for s in seen] == [("broker.lab", 1883, "room-a")]
    disabled = tmp_path / "off.toml"
    disabled.write_text(config.read_text().replace("[mqtt]\n", "[mqtt]\nenabled = false\n"))
    assert "mqtt" not in results(tmp_path, healthy(mqtt_connect=_never), config_path=disabled)
    assert found["lsl"].status is Status.OK
    assert "discovery scope machine" in found["lsl"].summary


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        ("[Errno 111] Connection refused", "systemctl status mosquitto"),
        ("[code:135] Not authorized", "password_file"),
        ("[code:134] Bad user name or password", "password_file"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "ca_file"),
        ("[Errno -2] Name or service not known", "does not resolve"),
        ("no answer within 5 s", "firewall"),
    ],
)
def test_mqtt_failures_name_the_fix(tmp_path: Path, error: str, advice: str) -> None:
    probes = healthy(mqtt_connect=lambda settings, timeout: error)
    found = results(tmp_path, probes, mqtt_url="mqtt://broker.lab", config_path=None)
    mqtt = found["mqtt"]
    assert mqtt.status is Status.FAIL
    assert mqtt.summary == f"mqtt://broker.lab:1883: {error}"
    assert mqtt.fix is not None
    assert advice in mqtt.fix
    assert exit_status(list(found.values())) == 1


def test_a_bad_mqtt_url_fails_the_check_not_the_doctor(tmp_path: Path) -> None:
    found = results(
        tmp_path, healthy(mqtt_connect=_never), mqtt_url="http://broker.lab", config_path=None
    )
    assert found["mqtt"].status is Status.FAIL
    assert "MQTT broker URL" in found["mqtt"].summary


def test_real_mqtt_probe_against_mosquitto(tmp_path: Path) -> None:
    from sensorhub.doctor import probe_mqtt
    from sensorhub.mqtt.protocol import MqttSettings
    from tests.mqtt_broker import Mosquitto, free_port

    with Mosquitto(tmp_path / "broker") as broker:
        assert probe_mqtt(MqttSettings.from_url(broker.url), 5.0) is None
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "lab", "s3cret"], check=True)
    locked = f"allow_anonymous false\npassword_file {passwords}\n"
    with Mosquitto(tmp_path / "locked", extra_config=locked) as closed:
        good = MqttSettings.from_url(f"mqtt://lab:s3cret@127.0.0.1:{closed.port}")
        assert probe_mqtt(good, 5.0) is None
        bad = MqttSettings.from_url(f"mqtt://lab:wrong@127.0.0.1:{closed.port}")
        found = results(
            tmp_path, healthy(mqtt_connect=probe_mqtt), mqtt_url=bad.url, config_path=None
        )
        assert found["mqtt"].status is Status.FAIL
        assert found["mqtt"].fix is not None
        assert "password_file" in found["mqtt"].fix
    refused = probe_mqtt(MqttSettings("127.0.0.1", free_port()), 5.0)
    assert refused is not None
    assert "refused" in refused.lower()
    found = results(
        tmp_path, healthy(mqtt_connect=probe_mqtt), mqtt_url=broker.url, config_path=None
    )
    assert found["mqtt"].status is Status.FAIL  # the broker has stopped
    assert found["mqtt"].fix is not None
    assert "systemctl status mosquitto" in found["mqtt"].fix


def test_lsl_check_missing_library_and_unsafe_or_broken_config(tmp_path: Path) -> None:
    def missing() -> str:
        raise ConfigError("LSL not available: No module named 'pylsl'")

    found = results(tmp_path, healthy(lsl_version=missing), lsl=True, config_path=None)
    assert found["lsl"].status is Status.FAIL
    assert found["lsl"].fix is not None
    assert "sensorhub[lsl]" in found["lsl"].fix
    found = results(tmp_path, healthy(environ=dict), lsl=True, config_path=None)
    assert found["lsl"].status is Status.WARN
    assert "whole network" in found["lsl"].summary
    broken = tmp_path / "lsl_api.cfg"
    broken.write_text("[multicast]\nResolveScope machine\n")
    found = results(
        tmp_path,
        healthy(environ=lambda: {"LSLAPICFG": str(broken)}),
        lsl=True,
        config_path=None,
    )
    assert found["lsl"].status is Status.FAIL
    assert "line 2" in found["lsl"].summary

"""``sensorhub doctor``: check what a real deployment needs, each result with its fix.

Each check is a :class:`Check` in :data:`CHECKS`: a function from a :class:`DoctorContext` to a
:class:`CheckResult` (``ok``, ``warn`` or ``fail``, what was found, and a concrete fix), plus an
``applies`` predicate. Everything a check learns from the machine comes through
:class:`Probes`, plain functions that tests replace to simulate an adapter present or absent,
BlueZ reachable or not, a user in group ``bluetooth`` or not. Probes never raise: a failure to
learn something is a value (``None``, an ``error`` field) that the check turns into advice.

Optional features have checks that apply only when the feature is asked for (``--mqtt URL`` /
``[mqtt] url``, ``--lsl`` / ``[lsl] enabled``): a check that does not apply is neither run nor
shown, so a hub without MQTT never reports on a broker. To add one, write
``def check_x(ctx: DoctorContext) -> CheckResult``, wrap it as
``Check("x", "Title", check_x, applies=...)``, add it to :data:`CHECKS`, and give it a row in
deploy/README.md's table of checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.metadata
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from sensorhub.config import HubConfig, MqttConfig, ServerConfig, load_config
from sensorhub.errors import ConfigError
from sensorhub.mqtt.protocol import MqttSettings
from sensorhub.store.sqlite import StoreError, connect

__all__ = [
    "CHECKS",
    "MIN_BLUEZ",
    "AdapterInfo",
    "BluezProbe",
    "Check",
    "CheckResult",
    "DoctorContext",
    "Identity",
    "Probes",
    "Status",
    "exit_status",
    "run_checks",
]

#: bleak's BlueZ backend needs BlueZ 5.55 or newer (older releases lack the D-Bus API it uses).
MIN_BLUEZ = (5, 55)
#: What sensorhub's pyproject.toml requires of the BLE stack, for when the installed package
#: metadata does not say (an old editable install); tests/test_doctor.py pins these to
#: pyproject.toml.
REQUIRED_PACKAGES = {"bleak": (">=", "1.0"), "bumble": ("==", "0.0.236")}
#: How long the D-Bus probe waits for the system bus and for BlueZ's answer. A healthy bus
#: answers in milliseconds; a hung one must not hang the doctor.
DBUS_TIMEOUT_S = 2.0
#: How long the MQTT probe waits for the broker's CONNACK.
MQTT_TIMEOUT_S = 5.0
#: Below this much free space next to the database, a day of sessions may fill the disk. (An
#: estimate, not a measurement: an H10 at 200 Hz sends about 1.5 kB/s of frames and its 10 Hz
#: angle events add as much, so a room of four sensors stores some tens of MB an hour.)
MIN_FREE_BYTES = 1 << 30
#: Where the bluetoothd binary lives on Debian-family systems (it is not on PATH).
BLUETOOTHD_PATHS = ("/usr/libexec/bluetooth/bluetoothd", "/usr/lib/bluetooth/bluetoothd")
#: The system bus when DBUS_SYSTEM_BUS_ADDRESS is unset (the D-Bus specification's default).
SYSTEM_BUS_DEFAULT = "unix:path=/var/run/dbus/system_bus_socket"
NO_HARDWARE_HINT = "without hardware, try the virtual radio: sensorhub serve --virtual 2"


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    title: str
    status: Status
    summary: str
    fix: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """A Bluetooth controller. ``powered``/``blocked``: None where the source cannot tell."""

    name: str
    address: str | None = None
    powered: bool | None = None
    blocked: bool | None = None


@dataclass(frozen=True, slots=True)
class BluezProbe:
    """What the D-Bus system bus said. ``error`` says what went wrong: the bus unreachable
    (``bus_reachable`` False), or BlueZ not answering; ``denied``: BlueZ's D-Bus policy
    refused this user."""

    bus_reachable: bool
    bluez_running: bool = False
    adapters: tuple[AdapterInfo, ...] = ()
    denied: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    uid: int
    user: str
    #: Groups of this process (what D-Bus sees).
    process_groups: frozenset[str]
    #: Members of group ``bluetooth`` in the group database; None when it does not exist.
    bluetooth_members: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class Probes:
    """Everything the checks learn from the machine; tests pass fakes."""

    platform: Callable[[], str] = lambda: sys.platform
    sysfs_adapters: Callable[[], list[AdapterInfo]] = lambda: read_sysfs_adapters()
    bluez: Callable[[float], BluezProbe] = lambda timeout: probe_bluez_dbus(timeout)
    btmgmt: Callable[[], list[AdapterInfo] | None] = lambda: read_btmgmt()
    bluez_version: Callable[[], str | None] = lambda: read_bluez_version()
    identity: Callable[[], Identity] = lambda: read_identity()
    bind: Callable[[str, int], None] = lambda host, port: bind_port(host, port)
    package_version: Callable[[str], str | None] = lambda name: package_version(name)
    requirements: Callable[[], list[str]] = lambda: package_requirements()
    python_version: Callable[[], tuple[int, int, int]] = lambda: sys.version_info[:3]
    free_bytes: Callable[[Path], int] = lambda path: shutil.disk_usage(path).free
    #: None when the broker accepted an MQTT connection; otherwise what went wrong.
    mqtt_connect: Callable[[MqttSettings, float], str | None] = lambda settings, timeout: (
        probe_mqtt(settings, timeout)
    )
    #: liblsl's version text; raises ConfigError when liblsl cannot load.
    lsl_version: Callable[[], str] = lambda: read_lsl_version()
    environ: Callable[[], Mapping[str, str]] = lambda: os.environ


class DoctorContext:
    """The options of one doctor run and what the probes found, each learnt once."""

    def __init__(
        self,
        *,
        config_path: Path | None,
        db_path: Path,
        port: int | None = None,
        probes: Probes | None = None,
        dbus_timeout_s: float = DBUS_TIMEOUT_S,
        mqtt_url: str | None = None,
        lsl: bool = False,
    ) -> None:
        self.config_path = config_path
        self.db_path = db_path
        self.port_option = port
        self.mqtt_url = mqtt_url
        self.lsl_option = lsl
        self.probes = probes or Probes()
        self.dbus_timeout_s = dbus_timeout_s

    @cached_property
    def config_result(self) -> HubConfig | ConfigError | None:
        if self.config_path is None:
            return None
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            return exc

    @property
    def config(self) -> HubConfig | None:
        """The configuration when one was given and is valid (what optional checks read)."""
        result = self.config_result
        return result if isinstance(result, HubConfig) else None

    @cached_property
    def mqtt_settings(self) -> MqttSettings | ConfigError | None:
        """The broker the hub would publish to: ``--mqtt URL``, else the config's ``[mqtt] url``
        (with its credentials and TLS options either way); None when MQTT is not asked for."""
        config = self.config
        section = config.mqtt if config is not None else None
        url = self.mqtt_url or (section.url if section is not None and section.publishing else None)
        if url is None:
            return None
        try:
            return (section or MqttConfig()).settings(url)
        except ConfigError as exc:
            return exc

    @cached_property
    def linux(self) -> bool:
        return self.probes.platform().startswith("linux")

    @cached_property
    def bluez(self) -> BluezProbe:
        return self.probes.bluez(self.dbus_timeout_s)

    @cached_property
    def identity(self) -> Identity:
        return self.probes.identity()


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    title: str
    run: Callable[[DoctorContext], CheckResult]
    applies: Callable[[DoctorContext], bool] = field(default=lambda ctx: True)


# --- probes (real machine) -------------------------------------------------------------------


def read_sysfs_adapters(root: Path = Path("/sys/class/bluetooth")) -> list[AdapterInfo]:
    """Controllers the kernel knows (``hci0``...), with their rfkill block state."""
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    adapters = []
    for entry in entries:
        if not re.fullmatch(r"hci\d+", entry.name):
            continue  # hci0:11 and the like are connections, not controllers
        blocked: bool | None = None
        for rfkill in entry.glob("rfkill*"):
            with contextlib.suppress(OSError, ValueError):
                soft = int((rfkill / "soft").read_text().strip())
                hard = int((rfkill / "hard").read_text().strip())
                blocked = bool(soft or hard)
        adapters.append(AdapterInfo(entry.name, blocked=blocked))
    return adapters


def probe_bluez_dbus(timeout: float, bus_address: str | None = None) -> BluezProbe:
    """Connect to the D-Bus system bus (as bleak's BlueZ backend does, with dbus-fast), ask
    whether BlueZ is running and list its adapters with their ``Powered`` state."""
    try:
        return asyncio.run(_probe_bluez(timeout, bus_address))
    except ImportError as exc:
        return BluezProbe(False, error=f"dbus-fast is not installed ({exc})")


async def _probe_bluez(timeout: float, bus_address: str | None) -> BluezProbe:
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    try:
        bus = await asyncio.wait_for(
            MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect(), timeout
        )
    except TimeoutError:
        return BluezProbe(False, error=f"no answer within {timeout:g} s")
    except Exception as exc:  # any failure to reach the bus is a finding, not a crash
        where = bus_address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", SYSTEM_BUS_DEFAULT)
        return BluezProbe(False, error=f"{where}: {type(exc).__name__}: {exc}")
    try:
        owner = await asyncio.wait_for(
            bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="NameHasOwner",
                    signature="s",
                    body=["org.bluez"],
                )
            ),
            timeout,
        )
        if owner.message_type == MessageType.ERROR or not owner.body[0]:
            return BluezProbe(True, bluez_running=False)
        reply = await asyncio.wait_for(
            bus.call(
                Message(
                    destination="org.bluez",
                    path="/",
                    interface="org.freedesktop.DBus.ObjectManager",
                    member="GetManagedObjects",
                )
            ),
            timeout,
        )
        if reply.message_type == MessageType.ERROR:
            denied = (reply.error_name or "").endswith("AccessDenied")
            return BluezProbe(True, True, denied=denied, error=str(reply.error_name))
        return BluezProbe(True, True, adapters=_adapters_from_objects(reply.body[0]))
    except TimeoutError:
        return BluezProbe(True, error=f"BlueZ did not answer within {timeout:g} s")
    except Exception as exc:
        return BluezProbe(True, error=f"{type(exc).__name__}: {exc}")
    finally:
        bus.disconnect()


def _adapters_from_objects(objects: Mapping[str, Mapping[str, Any]]) -> tuple[AdapterInfo, ...]:
    adapters = []
    for path, interfaces in sorted(objects.items()):
        props = interfaces.get("org.bluez.Adapter1")
        if props is None:
            continue
        address = props.get("Address")
        powered = props.get("Powered")
        adapters.append(
            AdapterInfo(
                path.rsplit("/", 1)[-1],
                address=None if address is None else str(address.value),
                powered=None if powered is None else bool(powered.value),
            )
        )
    return tuple(adapters)


def _run(argv: Sequence[str], timeout: float = 3.0) -> str | None:
    """A tool's stdout, or None when it is missing, fails or hangs."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def parse_btmgmt_info(text: str) -> list[AdapterInfo]:
    """Controllers from ``btmgmt info`` (``hci0:\\tPrimary controller`` blocks)."""
    adapters: list[AdapterInfo] = []
    name: str | None = None
    address: str | None = None
    for line in text.splitlines():
        head = re.match(r"^(hci\d+):", line)
        if head:
            name, address = head.group(1), None
            continue
        addr = re.search(r"\baddr ([0-9A-Fa-f:]{17})", line)
        if addr:
            address = addr.group(1)
        settings = re.search(r"current settings:(.*)", line)
        if settings and name is not None:
            adapters.append(AdapterInfo(name, address, "powered" in settings.group(1).split()))
            name = None
    return adapters


def read_btmgmt() -> list[AdapterInfo] | None:
    exe = shutil.which("btmgmt")
    out = _run([exe, "info"]) if exe else None
    return None if out is None else parse_btmgmt_info(out)


def read_bluez_version() -> str | None:
    """BlueZ's version from ``bluetoothctl --version`` (what bleak reads), else bluetoothd's."""
    candidates = [shutil.which("bluetoothctl"), shutil.which("bluetoothd"), *BLUETOOTHD_PATHS]
    for exe in candidates:
        if exe and os.access(exe, os.X_OK):
            out = _run([exe, "--version"])
            found = re.search(r"(\d+\.\d+)", out or "")
            if found:
                return found.group(1)
    return None


def read_identity() -> Identity:
    import grp  # POSIX only: imported here so the doctor still loads elsewhere
    import pwd

    uid = os.geteuid()
    user = _user_name(uid)
    names = set()
    for gid in {os.getegid(), *os.getgroups()}:
        with contextlib.suppress(KeyError):
            names.add(grp.getgrgid(gid).gr_name)
    try:
        group = grp.getgrnam("bluetooth")
    except KeyError:
        members = None
    else:
        primary = {p.pw_name for p in pwd.getpwall() if p.pw_gid == group.gr_gid}
        members = frozenset(group.gr_mem) | primary
    return Identity(uid, user, frozenset(names), members)


def _user_name(uid: int) -> str:
    """The user name of ``uid``, or the number itself when no user has it."""
    import pwd  # POSIX only

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def bind_port(host: str, port: int) -> None:
    """Bind ``host:port`` as the server would (SO_REUSEADDR, like aiohttp), then release it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_requirements() -> list[str]:
    try:
        return list(importlib.metadata.requires("sensorhub") or [])
    except importlib.metadata.PackageNotFoundError:
        return []


# --- checks ----------------------------------------------------------------------------------


def probe_mqtt(settings: MqttSettings, timeout: float) -> str | None:
    """Connect to the broker as the hub would (credentials, TLS) and disconnect at once.

    None when the broker accepted the connection; otherwise its refusal or the socket error.
    """
    import aiomqtt  # only when an MQTT check applies

    async def attempt() -> None:
        async with asyncio.timeout(timeout):
            client = aiomqtt.Client(
                **settings.client_options(settings.tls_context()),
                identifier=f"sensorhub-doctor-{os.getpid()}",
            )
            async with client:
                return

    try:
        asyncio.run(attempt())
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except (aiomqtt.MqttError, ConfigError, OSError) as exc:
        return str(exc) or type(exc).__name__
    return None


def read_lsl_version() -> str:
    from sensorhub.bridges.lsl import lsl_version  # loads liblsl: only when LSL is asked for

    return lsl_version()


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check_adapter(ctx: DoctorContext) -> CheckResult:
    name, title = "bluetooth-adapter", "Bluetooth adapter"
    if not ctx.linux:
        return CheckResult(
            name,
            title,
            Status.WARN,
            f"not checked on {ctx.probes.platform()}: these checks read Linux's BlueZ",
            "run `sensorhub scan` to see whether the system's Bluetooth finds sensors",
        )
    sysfs = {a.name: a for a in ctx.probes.sysfs_adapters()}
    dbus = {a.name: a for a in ctx.bluez.adapters}
    mgmt: dict[str, AdapterInfo] = {}
    if not dbus and sysfs:
        mgmt = {a.name: a for a in ctx.probes.btmgmt() or []}
    names = sorted(set(sysfs) | set(dbus) | set(mgmt))
    if not names:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            "no Bluetooth adapter found (none in /sys/class/bluetooth"
            + (", none known to BlueZ)" if ctx.bluez.bluez_running else ")"),
            "plug in a Bluetooth 4.0+ (BLE) USB adapter or enable the built-in one, then check "
            "`lsusb` and `dmesg | grep -i bluetooth` (Raspberry Pi: remove `dtoverlay=disable-bt` "
            "from /boot/firmware/config.txt; a VM or container needs the adapter passed "
            f"through); {NO_HARDWARE_HINT}",
        )
    found, problems, unknown = [], [], []
    for n in names:
        info = dbus.get(n) or mgmt.get(n) or sysfs[n]
        blocked = sysfs[n].blocked if n in sysfs else None
        label = n + (f" ({info.address})" if info.address else "")
        if blocked:
            problems.append(f"{label} is blocked by rfkill")
        elif info.powered is False:
            problems.append(f"{label} is powered off")
        elif info.powered is None:
            unknown.append(label)
        else:
            found.append(f"{label} powered")
    if found:
        extra = f"; also {', '.join(problems + unknown)}" if problems or unknown else ""
        return CheckResult(name, title, Status.OK, ", ".join(found) + extra)
    if problems:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            "; ".join(problems),
            "`sudo rfkill unblock bluetooth`, then `bluetoothctl power on`; to power it at every "
            "boot set `AutoEnable=true` under [Policy] in /etc/bluetooth/main.conf",
        )
    return CheckResult(
        name,
        title,
        Status.WARN,
        f"{', '.join(unknown)} present; whether it is powered is unknown (BlueZ not "
        "reachable, btmgmt not available)",
        "fix the BlueZ check below, then run the doctor again; `bluetoothctl show` tells "
        "whether it is powered",
    )


def check_bluez(ctx: DoctorContext) -> CheckResult:
    name, title = "bluez", "BlueZ over D-Bus"
    if not ctx.linux:
        return CheckResult(
            name, title, Status.OK, f"not needed on {ctx.probes.platform()} (bleak uses the OS)"
        )
    probe = ctx.bluez
    if not probe.bus_reachable:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            f"cannot reach the D-Bus system bus ({probe.error}); bleak talks to BlueZ over it",
            "install and start D-Bus and BlueZ: `sudo apt install dbus bluez` then "
            "`sudo systemctl enable --now dbus bluetooth`; in a container, mount "
            f"/run/dbus/system_bus_socket from the host; {NO_HARDWARE_HINT}",
        )
    if not probe.bluez_running:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            "BlueZ (bluetoothd) is not running: nobody owns org.bluez on the system bus"
            + (f" ({probe.error})" if probe.error else ""),
            "`sudo apt install bluez` and `sudo systemctl enable --now bluetooth`; "
            "`systemctl status bluetooth` shows why it stopped",
        )
    if probe.denied:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            f"BlueZ refused this user ({probe.error})",
            f"add the user to group bluetooth: `sudo usermod -aG bluetooth {ctx.identity.user}`, "
            "then log out and in (the service's unit sets SupplementaryGroups=bluetooth)",
        )
    if probe.error:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            f"BlueZ is running but did not answer: {probe.error}",
            "`sudo systemctl restart bluetooth`, then `journalctl -u bluetooth` for its errors",
        )
    version = ctx.probes.bluez_version()
    if version is None:
        return CheckResult(
            name,
            title,
            Status.WARN,
            "BlueZ is running; its version is unknown (no bluetoothctl or bluetoothd found)",
            "`sudo apt install bluez` provides bluetoothctl, which bleak also uses to read "
            f"the version; BlueZ {MIN_BLUEZ[0]}.{MIN_BLUEZ[1]} or newer is needed",
        )
    if _version_tuple(version) < MIN_BLUEZ:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            f"BlueZ {version} is older than {MIN_BLUEZ[0]}.{MIN_BLUEZ[1]}, which bleak needs",
            "upgrade the OS: Debian 11+, Ubuntu 22.04+ and Raspberry Pi OS bullseye+ ship "
            "a new enough BlueZ",
        )
    return CheckResult(name, title, Status.OK, f"BlueZ {version} running, reachable over D-Bus")


def check_permission(ctx: DoctorContext) -> CheckResult:
    name, title = "scan-permission", "Permission to scan"
    if not ctx.linux:
        return CheckResult(name, title, Status.OK, "granted by the OS on first use")
    me = ctx.identity
    if me.uid == 0:
        return CheckResult(
            name,
            title,
            Status.OK,
            "running as root (the service itself runs as user sensorhub in group bluetooth)",
        )
    add = f"`sudo usermod -aG bluetooth {me.user}`, then log out and in"
    if ctx.bluez.denied:
        return CheckResult(
            name, title, Status.FAIL, f"BlueZ refuses user {me.user} over D-Bus", add
        )
    if "bluetooth" in me.process_groups:
        return CheckResult(name, title, Status.OK, f"user {me.user} is in group bluetooth")
    if me.bluetooth_members is None:
        return CheckResult(
            name,
            title,
            Status.WARN,
            "there is no group bluetooth on this machine (the bluez package creates it)",
            "`sudo apt install bluez`, then " + add,
        )
    if me.user in me.bluetooth_members:
        return CheckResult(
            name,
            title,
            Status.WARN,
            f"user {me.user} was added to group bluetooth after this login session started",
            "log out and in (or run `newgrp bluetooth`) so the group takes effect",
        )
    allowed = ctx.bluez.bluez_running and ctx.bluez.error is None
    return CheckResult(
        name,
        title,
        Status.WARN,
        f"user {me.user} is not in group bluetooth"
        + ("; BlueZ's D-Bus policy lets it in for now" if allowed else ""),
        add,
    )


def check_config(ctx: DoctorContext) -> CheckResult:
    name, title = "config", "Configuration file"
    result = ctx.config_result
    if result is None:
        return CheckResult(
            name,
            title,
            Status.WARN,
            "no configuration given, so none was checked",
            "pass --config FILE (the service reads /etc/sensorhub/sensorhub.toml); "
            "deploy/sensorhub.example.toml shows every option",
        )
    if isinstance(result, ConfigError):
        return CheckResult(
            name,
            title,
            Status.FAIL,
            str(result),
            "correct the key named above; deploy/sensorhub.example.toml explains every option",
        )
    dyads = f", {len(result.dyads)} dyad(s)" if result.dyads else ""
    return CheckResult(
        name,
        title,
        Status.OK,
        f"{ctx.config_path}: {len(result.participants)} participant(s){dyads}, "
        f"server {result.server.host}:{result.server.port}",
    )


def _existing_ancestor(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if candidate.exists():
            return candidate
    return Path("/")


def check_database(ctx: DoctorContext) -> CheckResult:
    name, title = "database", "Session database"
    path = ctx.db_path
    user = ctx.identity.user if ctx.linux else "$USER"
    fix = (
        "pass a writable --db PATH, or give the user its folder "
        f"(`sudo chown -R {user} {path.parent}`); the service writes "
        "/var/lib/sensorhub (StateDirectory=)"
    )
    try:
        summary = _try_store(path) if path.exists() else _try_new_store(path)
    except StoreError as exc:
        return CheckResult(name, title, Status.FAIL, str(exc), fix)
    except OSError as exc:
        return CheckResult(name, title, Status.FAIL, f"{path}: {exc.strerror or exc}", fix)
    try:
        free = ctx.probes.free_bytes(_existing_ancestor(path.parent))
    except OSError:
        free = None
    if free is not None and free < MIN_FREE_BYTES:
        return CheckResult(
            name,
            title,
            Status.WARN,
            f"{summary}; only {free / 2**20:.0f} MiB free on its disk",
            "free some space or move the database (deploy/README.md: backing up and moving)",
        )
    room = "" if free is None else f"; {free / 2**30:.1f} GiB free"
    owner = _file_owner(path) if ctx.linux and path.exists() else None
    if owner is not None and owner[0] != ctx.identity.uid:
        return CheckResult(
            name,
            title,
            Status.WARN,
            f"{summary}{room}; but it belongs to {owner[1]}, and this check ran as "
            f"{ctx.identity.user}, so it says nothing about {owner[1]}'s permissions",
            f"run the doctor as its owner: `sudo -u {owner[1]} sensorhub doctor --db {path} "
            "...` (a root process opening the store can also leave root-owned -wal/-shm "
            "files that the service cannot open)",
        )
    return CheckResult(name, title, Status.OK, summary + room)


def _file_owner(path: Path) -> tuple[int, str] | None:
    try:
        uid = path.stat().st_uid
    except OSError:
        return None
    return uid, _user_name(uid)


def _try_store(path: Path) -> str:
    """Open an existing store as serve does (migrating it) and take its write lock."""
    if not path.is_file():
        raise StoreError(f"{path} is not a file")
    conn = connect(path, create=False)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE _sensorhub_doctor_probe (x INTEGER)")
            conn.execute("INSERT INTO _sensorhub_doctor_probe VALUES (1)")
        finally:
            conn.execute("ROLLBACK")
        sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    except sqlite3.Error as exc:
        raise StoreError(f"session store {path}: cannot write: {exc}") from exc
    finally:
        conn.close()
    if not os.access(path.parent, os.W_OK):
        raise StoreError(f"{path.parent} is not writable (SQLite's -wal and -shm files go there)")
    return f"{path} is writable ({sessions} session(s))"


def _try_new_store(path: Path) -> str:
    """A store that does not exist yet: create one in a scratch folder beside where it will be
    (same disk, same permissions), leaving nothing behind."""
    base = _existing_ancestor(path.parent)
    if not base.is_dir():
        raise StoreError(f"cannot create {path}: {base} is not a folder")
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".sensorhub-doctor-", dir=base))
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {base} is not writable ({exc.strerror})") from exc
    try:
        connect(scratch / "probe.sqlite").close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return f"{path} does not exist yet; it can be created (serve creates it)"


def _port_and_host(ctx: DoctorContext) -> tuple[str, int]:
    server = ctx.config.server if ctx.config else ServerConfig()
    return server.host, server.port if ctx.port_option is None else ctx.port_option


def check_port(ctx: DoctorContext) -> CheckResult:
    name, title = "port", "Server port"
    host, port = _port_and_host(ctx)
    if port == 0:
        return CheckResult(name, title, Status.OK, "port 0: serve picks a free port at start")
    try:
        ctx.probes.bind(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return CheckResult(
                name,
                title,
                Status.FAIL,
                f"port {port} on {host} is in use",
                f"see who holds it: `ss -ltnp 'sport = :{port}'` (the running sensorhub "
                "service holds it, which is fine); otherwise stop that program or pick "
                "another port (--port or [server] port)",
            )
        if exc.errno == errno.EACCES:
            return CheckResult(
                name,
                title,
                Status.FAIL,
                f"no permission to listen on port {port} (ports below 1024 need privileges)",
                "use a port of 1024 or more ([server] port; the default is 8080)",
            )
        return CheckResult(
            name,
            title,
            Status.FAIL,
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "set [server] host to an address of this machine (127.0.0.1, or 0.0.0.0 for all)",
        )
    return CheckResult(name, title, Status.OK, f"{host}:{port} is free")


def _pins(requirements: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``name -> (operator, version)`` of ``==``/``>=`` requirements (extras left out)."""
    pins = {}
    for line in requirements:
        if ";" in line and "extra ==" in line:
            continue  # test extras are not needed to run
        found = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*(==|>=)\s*([^,;\s]+)", line)
        if found:
            pins[found.group(1).lower()] = (found.group(2), found.group(3))
    return pins


def check_versions(ctx: DoctorContext) -> CheckResult:
    name, title = "versions", "Python and packages"
    python = ".".join(map(str, ctx.probes.python_version()))
    parts = [f"Python {python}"]
    problems = []
    if ctx.probes.python_version()[:2] < (3, 11):
        problems.append(f"Python {python} is older than 3.11")
    parts.append(f"sensorhub {ctx.probes.package_version('sensorhub') or '(not installed)'}")
    pins = REQUIRED_PACKAGES | _pins(ctx.probes.requirements())
    wanted = ["bleak", "bumble"] + (["dbus-fast"] if ctx.linux else [])
    for package in wanted:
        have = ctx.probes.package_version(package)
        op, need = pins.get(package, ("", ""))
        if have is None:
            problems.append(f"{package} is not installed")
            continue
        note = " (pinned)" if op == "==" else ""
        parts.append(f"{package} {have}{note}")
        if op == "==" and have != need:
            problems.append(f"{package} {have} is installed but sensorhub pins {need}")
        elif op == ">=" and _version_tuple(have) < _version_tuple(need):
            problems.append(f"{package} {have} is older than the required {need}")
    if problems:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            "; ".join(problems),
            "reinstall sensorhub into its venv so pip installs the pinned versions: "
            "`VENV/bin/pip install -U /path/to/sensorhub` (deploy/README.md: upgrading)",
        )
    return CheckResult(name, title, Status.OK, ", ".join(parts))


def check_mqtt(ctx: DoctorContext) -> CheckResult:
    name, title = "mqtt", "MQTT broker"
    settings = ctx.mqtt_settings
    if settings is None:  # not asked for (the check does not apply)
        return CheckResult(name, title, Status.OK, "MQTT is not configured")
    if isinstance(settings, ConfigError):
        return CheckResult(
            name, title, Status.FAIL, str(settings), "fix the [mqtt] table or the --mqtt URL"
        )
    where = settings.url + (f" as {settings.username}" if settings.username else "")
    error = ctx.probes.mqtt_connect(settings, MQTT_TIMEOUT_S)
    if error is None:
        return CheckResult(name, title, Status.OK, f"{where}: connection accepted")
    low = error.lower()
    if "not authori" in low or "password" in low or "bad user" in low:
        fix = (
            "the broker refused these credentials: check [mqtt] username and password_file "
            "(or $SENSORHUB_MQTT_PASSWORD) against the broker's password file"
        )
    elif "refused" in low:
        fix = (
            f"is the broker running and listening on port {settings.port}? On the broker host: "
            "`systemctl status mosquitto` and its `listener` lines (Mosquitto 2 listens only "
            "on localhost unless a listener is configured)"
        )
    elif "certificate" in low or "ssl" in low or "tls" in low or "reset by peer" in low:
        fix = (
            "TLS failed: use mqtts:// only for the broker's TLS listener (usually 8883), give "
            "[mqtt] ca_file for a lab CA, and a host name the certificate names"
        )
    elif "name or service" in low or "nodename" in low or "resolution" in low:
        fix = f"the host name {settings.host!r} does not resolve: check the URL"
    else:
        fix = "check the broker address and that this machine can reach it (firewall, VPN)"
    return CheckResult(name, title, Status.FAIL, f"{where}: {error}", fix)


def check_lsl(ctx: DoctorContext) -> CheckResult:
    name, title = "lsl", "LSL (lab streaming layer)"
    try:
        version = ctx.probes.lsl_version()
    except ConfigError as exc:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            str(exc),
            "install the extra into the service's venv: `VENV/bin/pip install "
            "'sensorhub[lsl]'`; or turn LSL off ([lsl] enabled = false)",
        )
    config = ctx.config
    api_config = (config.lsl.api_config if config else None) or ctx.probes.environ().get(
        "LSLAPICFG"
    )
    if api_config is None:
        return CheckResult(
            name,
            title,
            Status.WARN,
            f"{version}; no lsl_api.cfg: liblsl's defaults send discovery packets to the "
            "whole network",
            "fine for a lab network where LabRecorder runs on another PC; if it runs on this "
            "one, set [lsl] api_config = sensorhub/bridges/lsl_api.cfg (machine-only)",
        )
    from sensorhub.bridges.lsl import read_api_config

    try:
        values = read_api_config(api_config)
    except ConfigError as exc:
        return CheckResult(
            name,
            title,
            Status.FAIL,
            f"{version}; {exc}",
            "liblsl would silently ignore this file and use its network-wide defaults: "
            "fix the line named above (sensorhub/bridges/lsl_api.cfg is a valid example)",
        )
    scope = values.get("multicast.ResolveScope", "site (the default)")
    return CheckResult(name, title, Status.OK, f"{version}; {api_config}: discovery scope {scope}")


#: The checks, in the order they are shown. Add optional features' checks here (module
#: docstring: the extension point).
CHECKS: tuple[Check, ...] = (
    Check("versions", "Python and packages", check_versions),
    Check("bluetooth-adapter", "Bluetooth adapter", check_adapter),
    Check("bluez", "BlueZ over D-Bus", check_bluez),
    Check("scan-permission", "Permission to scan", check_permission),
    Check("config", "Configuration file", check_config),
    Check("database", "Session database", check_database),
    Check("port", "Server port", check_port),
    Check("mqtt", "MQTT broker", check_mqtt, applies=lambda ctx: ctx.mqtt_settings is not None),
    Check(
        "lsl",
        "LSL (lab streaming layer)",
        check_lsl,
        applies=lambda ctx: ctx.lsl_option or (ctx.config is not None and ctx.config.lsl.enabled),
    ),
)


def run_checks(ctx: DoctorContext, checks: Sequence[Check] = CHECKS) -> list[CheckResult]:
    """Run every check that applies, in order."""
    return [check.run(ctx) for check in checks if check.applies(ctx)]


def exit_status(results: Sequence[CheckResult]) -> int:
    """0 when no check failed (warnings allowed), 1 otherwise."""
    return 1 if any(r.status is Status.FAIL for r in results) else 0

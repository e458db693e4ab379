"""``gateway.toml``: endpoints, channels and their options, validated at start.

Every error names the key path (``channels.erp_stock_in.endpoint``) and how to fix it,
so that a wrong configuration fails before any file is touched. ``${VAR}`` anywhere in a
string is replaced from the environment, so secrets stay out of the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from .errors import ConfigError
from .model import Direction, ExportScope, Folder, PaymentRule, PublishMode, SettleMode

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """``schemas`` or ``mappings`` shipped with the gateway (wheel) or beside it (checkout)."""
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"the gateway's {name}/ folder is missing from the installation")


@dataclass(frozen=True)
class SftpSettings:
    """How to reach an SFTP folder. The host key is always verified (known_hosts or a
    pinned fingerprint): files and credentials never go to a server that was not checked."""

    host: str
    user: str
    path: str                                  # remote folder; relative to the login folder
    port: int = 22
    key_file: Path | None = None
    key_passphrase: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    known_hosts: Path | None = None
    host_key_fingerprint: str | None = None    # "SHA256:…" as OpenSSH prints it
    connect_timeout: float = 10.0              # also the longest the server may stay silent
    transfer_timeout: float = 600.0            # deadline of one whole download or upload


@dataclass(frozen=True)
class Endpoint:
    name: str
    type: str
    path: PurePath                    # a local Path; a PurePosixPath for "sftp"
    sftp: SftpSettings | None = None  # set when type == "sftp"


@dataclass(frozen=True)
class EdiSettings:
    """``[channels.NAME.edi]``: who the partner is in EDI terms. An output channel writes
    its interchanges from ``sender`` (the gateway's own id) to ``recipient`` (the partner,
    whose control numbers the ledger counts); an input channel may name the ids its
    interchanges carry, how strictly they are read (``tolerance``) and which
    acknowledgements they get (``ack``: a CONTRL or 997 technical one; ``aperak``)."""

    sender: str | None = None
    recipient: str | None = None
    sender_qualifier: str | None = None     # None: the standard's (EDIFACT 14, X12 ZZ)
    recipient_qualifier: str | None = None
    syntax: str | None = None               # EDIFACT syntax identifier; None: UNOC
    test: bool = False                      # interchanges marked as test (0035, ISA15 T)
    tolerance: tuple[tuple[str, bool], ...] = ()  # the syntax readers' Tolerance options
    ack: str = "none"                       # in: none, contrl (EDIFACT) or 997 (X12)
    aperak: bool = False                    # in: an application acknowledgement too


@dataclass(frozen=True)
class Channel:
    name: str
    direction: Direction
    endpoint: str
    document: str
    mapping: str
    pattern: str = "*"
    ack_endpoint: str | None = None
    settle: SettleMode = SettleMode.DELETE
    done_suffix: str | None = None
    min_age: float = 5.0
    empty_grace: float = 300.0
    max_size: int = 2 * 1024**3
    max_line: int = 1024**2            # in: a longer line refuses the file (characters)
    max_records: int = 5_000_000       # in: more records refuse the file
    accept_partial: bool = True
    filename: str = "{stem}_{exchange}.{ext}"
    ack_filename: str = "ACK_{stem}_{exchange}.xml"
    sources: tuple[str, ...] = ()
    order: str = "name"         # files of one poll are taken by name, or by mtime
    every: float | None = None  # poll on a fixed period…
    cron: str | None = None     # …or at the times of a cron expression…
    watch: bool = True          # …or as soon as a local folder changes (and every poll)
    export: ExportScope = ExportScope.CHANGES  # in: does a file hold every record?
    publish: PublishMode = PublishMode.FULL    # out: every record, or only changes
    payment: PaymentRule = PaymentRule.PAID    # in (orders): forwarded once paid, or…
    prices_include_tax: bool = True            # in (orders): line prices are gross
    safety_buffer: Decimal = Decimal(0)        # out (stock): kept back from the shop
    reorder_point: Decimal | None = None       # out (replenishment): default per SKU
    reorder_target: Decimal | None = None      # out (replenishment): level to refill to
    edi: EdiSettings | None = None             # EDI ids and options ([channels.NAME.edi])
    where: tuple[tuple[str, str], ...] = ()    # out: only the records with these values


@dataclass(frozen=True)
class Config:
    path: Path
    workspace: Path
    mappings_dirs: tuple[Path, ...]
    schemas_dir: Path
    poll_interval: float
    batch_size: int
    in_flight_horizon: float = 48 * 3600.0  # an order the ERP never confirmed stops
    #                                         counting against the stock after this long
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.workspace / Folder.STATE

    def inputs(self) -> list[Channel]:
        return [c for c in self.channels.values() if c.direction is Direction.IN]

    def outputs_for(self, document: str, source_channel: str) -> list[Channel]:
        return [c for c in self.channels.values()
                if c.direction is Direction.OUT and c.document == document
                and (not c.sources or source_channel in c.sources)]

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[name]
        except KeyError:
            raise ConfigError(f"no channel named {name!r}", key="channels",
                              hint="known channels: " + ", ".join(sorted(self.channels))
                              ) from None


def _quantity(sec: _Section, name: str, file: str) -> Decimal | None:
    """A quantity given as a number or a text (``"2.5"``): exact, never negative."""
    raw = sec.get(name, (str, int), None)
    if raw is None:
        return None
    try:
        value = Decimal(str(raw).strip())
    except ArithmeticError:
        raise ConfigError(f"{raw!r} is not a number", key=sec.k(name), file=file) from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{raw!r} must be a number, 0 or more", key=sec.k(name), file=file)
    return value


def parse_duration(value: Any, key: str, file: str) -> float:
    if isinstance(value, bool):
        raise ConfigError("expected a duration such as '5s' or '500ms'", key=key, file=file)
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ConfigError(f"{value!r} is not a duration", key=key, file=file,
                          hint="write a number with a unit: '500ms', '5s', '2m', '1h'")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_size(value: Any, key: str, file: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.match(r"^\s*(\d+)\s*(B|KB|MB|GB)?\s*$", str(value), re.I)
    if not m:
        raise ConfigError(f"{value!r} is not a size", key=key, file=file,
                          hint="write bytes or a unit: '500KB', '20MB', '2GB'")
    mult = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[(m.group(2) or "B").upper()]
    return int(m.group(1)) * mult


def interpolate(value: Any, key: str, file: str) -> Any:
    """Replace ``${VAR}`` (or ``${VAR:-default}``) in every string, recursively."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if os.environ.get(name) or (name in os.environ and default is None):
                return os.environ[name]
            if default is not None:  # like the shell: unset *or empty* takes the default
                return default
            raise ConfigError(f"environment variable {name} is not set", key=key, file=file,
                              hint=f"export {name}=… before starting the gateway")
        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: interpolate(v, f"{key}.{k}" if key else k, file) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, f"{key}[{i}]", file) for i, v in enumerate(value)]
    return value


class _Section:
    """Reads one table of the file, remembering the key path for every error."""

    def __init__(self, data: dict[str, Any], key: str, file: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError("expected a table", key=key, file=file)
        self.data, self.key, self.file = data, key, file
        self.used: set[str] = set()

    def k(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def get(self, name: str, typ: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise ConfigError("missing required key", key=self.k(name), file=self.file)
            return default
        value = self.data[name]
        if not isinstance(value, typ) or (isinstance(value, bool) and typ in (int, float)):
            tname = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
            raise ConfigError(f"expected {tname}, found {type(value).__name__} {value!r}",
                              key=self.k(name), file=self.file)
        return value

    def choice(self, name: str, choices: type, default: Any = ...) -> Any:
        raw = self.get(name, str, default if default is ... else str(default))
        try:
            return choices(raw)
        except ValueError:
            allowed = ", ".join(repr(str(c)) for c in choices)
            raise ConfigError(f"{raw!r} is not one of {allowed}", key=self.k(name),
                              file=self.file) from None

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r}", key=self.k(unknown[0]),
                              file=self.file,
                              hint="known keys here: " + ", ".join(sorted(self.used)))


def load(path: Path | str) -> Config:
    path = Path(path).resolve()
    file = str(path)
    if not path.exists():
        raise ConfigError("configuration file not found", file=file,
                          hint="pass --config PATH, or run 'gateway demo' for a sample")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8: {exc}", file=file) from None
    raw = interpolate(raw, "", file)
    base = path.parent
    top = _Section(raw, "", file)
    gw = _Section(top.get("gateway", dict, {}), "gateway", file)
    workspace = base / gw.get("workspace", str, ".")
    extra_mappings = gw.get("mappings", str, "mappings")
    mappings_dirs = tuple(dict.fromkeys(
        p for p in (base / extra_mappings, resource_dir("mappings")) if p.is_dir()))
    schemas_dir = resource_dir("schemas")
    poll = parse_duration(gw.get("poll_interval", (str, int, float), "2s"),
                          "gateway.poll_interval", file)
    batch_size = gw.get("batch_size", int, 200)
    horizon = parse_duration(gw.get("in_flight_horizon", (str, int, float), "48h"),
                             "gateway.in_flight_horizon", file)
    if batch_size < 1:
        raise ConfigError("must be at least 1", key="gateway.batch_size", file=file)
    default_min_age = parse_duration(gw.get("min_age", (str, int, float), "5s"),
                                     "gateway.min_age", file)
    gw.finish()

    endpoints: dict[str, Endpoint] = {}
    eps = _Section(top.get("endpoints", dict), "endpoints", file)
    for name in eps.data:
        sec = _Section(eps.get(name, dict), f"endpoints.{name}", file)
        etype = sec.get("type", str, "local")
        if etype == "local":
            ep = Endpoint(name, etype, base / sec.get("path", str))
        elif etype == "sftp":
            sftp = _sftp_settings(sec, base, file)
            ep = Endpoint(name, etype, PurePosixPath(sftp.path), sftp)
        else:
            raise ConfigError(f"endpoint type {etype!r} is not supported", key=sec.k("type"),
                              file=file, hint="supported endpoint types: 'local', 'sftp'")
        sec.finish()
        endpoints[name] = ep
    eps.finish()

    channels: dict[str, Channel] = {}
    chs = _Section(top.get("channels", dict), "channels", file)
    for name in chs.data:
        sec = _Section(chs.get(name, dict), f"channels.{name}", file)
        direction = sec.choice("direction", Direction)
        endpoint = sec.get("endpoint", str)
        if endpoint not in endpoints:
            raise ConfigError(f"no endpoint named {endpoint!r}", key=sec.k("endpoint"),
                              file=file, hint="declare it under [endpoints." + endpoint + "]")
        ack = sec.get("ack_endpoint", str, None)
        if ack is not None and ack not in endpoints:
            raise ConfigError(f"no endpoint named {ack!r}", key=sec.k("ack_endpoint"),
                              file=file, hint="declare it under [endpoints." + ack + "]")
        done = sec.get("done_suffix", str, None)
        ch = Channel(
            name=name, direction=direction, endpoint=endpoint,
            document=sec.get("document", str), mapping=sec.get("mapping", str),
            pattern=sec.get("pattern", str, "*"), ack_endpoint=ack,
            settle=sec.choice("settle", SettleMode, SettleMode.DELETE),
            done_suffix=done or None,
            min_age=parse_duration(sec.get("min_age", (str, int, float), default_min_age),
                                   sec.k("min_age"), file),
            empty_grace=parse_duration(sec.get("empty_grace", (str, int, float), "5m"),
                                       sec.k("empty_grace"), file),
            max_size=parse_size(sec.get("max_size", (str, int), "2GB"), sec.k("max_size"), file),
            max_line=_limit(sec, "max_line", "1MB", file),
            max_records=_limit(sec, "max_records", 5_000_000, file),
            accept_partial=sec.get("accept_partial", bool, True),
            filename=sec.get("filename", str, Channel.filename),
            ack_filename=sec.get("ack_filename", str, Channel.ack_filename),
            sources=tuple(sec.get("sources", list, [])),
            order=_order(sec, file),
            export=sec.choice("export", ExportScope, ExportScope.CHANGES),
            publish=sec.choice("publish", PublishMode, PublishMode.FULL),
            payment=sec.choice("payment", PaymentRule, PaymentRule.PAID),
            prices_include_tax=sec.get("prices_include_tax", bool, True),
            safety_buffer=_quantity(sec, "safety_buffer", file) or Decimal(0),
            reorder_point=_quantity(sec, "reorder_point", file),
            reorder_target=_quantity(sec, "reorder_target", file),
            edi=_edi_settings(sec, direction, file),
            where=_where(sec, direction, file),
            **_cadence(sec, endpoints[endpoint], file),
        )
        for src in ch.sources:
            if src not in chs.data:
                raise ConfigError(f"no channel named {src!r}", key=sec.k("sources"), file=file)
        sec.finish()
        channels[name] = ch
    chs.finish()
    top.finish()
    cfg = Config(path=path, workspace=workspace, mappings_dirs=mappings_dirs,
                 schemas_dir=schemas_dir, poll_interval=poll, batch_size=batch_size,
                 in_flight_horizon=horizon,
                 endpoints=endpoints, channels=channels)
    _check_mappings(cfg, file)
    return cfg


_FINGERPRINT = re.compile(r"^SHA256:([A-Za-z0-9+/]{43})=?$")


def _sftp_settings(sec: _Section, base: Path, file: str) -> SftpSettings:
    """``type = "sftp"``: who to log in as, how, and how the server's key is checked."""
    host = sec.get("host", str).strip()
    if not host:
        raise ConfigError("must not be empty", key=sec.k("host"), file=file)
    port = sec.get("port", int, 22)
    if not 0 < port < 65536:
        raise ConfigError(f"{port} is not a TCP port", key=sec.k("port"), file=file)
    user = sec.get("user", str)
    path = sec.get("path", str)
    if not path.strip():
        raise ConfigError("must not be empty", key=sec.k("path"), file=file,
                          hint="the remote folder, e.g. path = \"/export/stock\"")
    path = path.rstrip("/") or "/"
    key_file = sec.get("key_file", str, None)
    passphrase = sec.get("key_passphrase", str, None)
    password = sec.get("password", str, None)
    if key_file is None and password is None:
        raise ConfigError("give key_file or password", key=sec.k("key_file"), file=file,
                          hint='key_file = "/etc/gateway/id_ed25519" (an encrypted key: '
                          'key_passphrase = "${ERP_KEY_PASSPHRASE}"), or password = '
                          '"${ERP_SFTP_PASSWORD}"')
    if key_file is not None and password is not None:
        raise ConfigError("give key_file or password, not both", key=sec.k("password"),
                          file=file)
    if passphrase is not None and key_file is None:
        raise ConfigError("key_passphrase needs a key_file", key=sec.k("key_passphrase"),
                          file=file)
    known_hosts = sec.get("known_hosts", str, None)
    fingerprint = sec.get("host_key_fingerprint", str, None)
    if known_hosts is None and fingerprint is None:
        raise ConfigError(
            "the server's host key must be verified: give known_hosts or host_key_fingerprint",
            key=sec.k("host_key_fingerprint"), file=file,
            hint=f"'ssh-keyscan -p {port} {host} | ssh-keygen -lf -' prints the server's "
            "fingerprints; confirm one with its administrator, then write "
            'host_key_fingerprint = "SHA256:…" (or known_hosts = "/path/to/known_hosts")')
    if known_hosts is not None and fingerprint is not None:
        raise ConfigError("give known_hosts or host_key_fingerprint, not both",
                          key=sec.k("host_key_fingerprint"), file=file)
    if fingerprint is not None:
        m = _FINGERPRINT.match(fingerprint.strip())
        if not m:
            raise ConfigError(f"{fingerprint!r} is not an OpenSSH SHA256 fingerprint",
                              key=sec.k("host_key_fingerprint"), file=file,
                              hint="write it as 'ssh-keygen -lf' prints it: SHA256: and 43 "
                              "characters (MD5 fingerprints are not accepted)")
        fingerprint = f"SHA256:{m.group(1)}"
    timeouts = {}
    for key, default in (("connect_timeout", "10s"), ("transfer_timeout", "10m")):
        timeouts[key] = parse_duration(sec.get(key, (str, int, float), default), sec.k(key),
                                       file)
        if timeouts[key] <= 0:
            raise ConfigError("must be more than 0", key=sec.k(key), file=file)
    return SftpSettings(
        host=host, user=user, path=path, port=port,
        key_file=(base / Path(key_file).expanduser()) if key_file is not None else None,
        key_passphrase=passphrase, password=password,
        known_hosts=(base / Path(known_hosts).expanduser()) if known_hosts is not None
        else None,
        host_key_fingerprint=fingerprint, **timeouts)


def _limit(sec: _Section, name: str, default: str | int, file: str) -> int:
    """``max_line`` (a size: "1MB") or ``max_records`` (a whole number): what one file may
    hold before it is refused whole. At least 1: a limit of 0 would refuse every file."""
    if isinstance(default, int):
        value = sec.get(name, int, default)
    else:
        value = parse_size(sec.get(name, (str, int), default), sec.k(name), file)
    if value < 1:
        raise ConfigError(f"{value} is not a limit: give 1 or more", key=sec.k(name),
                          file=file)
    return value


def _order(sec: _Section, file: str) -> str:
    order = sec.get("order", str, "name")
    if order not in ("name", "mtime"):
        raise ConfigError(f"{order!r} is not 'name' or 'mtime'", key=sec.k("order"), file=file)
    return order


def _cadence(sec: _Section, endpoint: Endpoint, file: str) -> dict[str, Any]:
    """``every``, ``cron`` or ``watch``: at most one cadence per channel."""
    every_raw = sec.get("every", (str, int, float), None)
    cron = sec.get("cron", str, None)
    watch = sec.get("watch", bool, None)
    given = [k for k, v in (("every", every_raw), ("cron", cron), ("watch", watch))
             if v is not None]
    if len(given) > 1:
        raise ConfigError(f"give one cadence, not {' and '.join(given)}", key=sec.k(given[1]),
                          file=file, hint="every = '5m', cron = '0 3 * * 1' or watch = true")
    if cron is not None:
        from croniter import croniter

        if not croniter.is_valid(cron):
            raise ConfigError(f"{cron!r} is not a cron expression", key=sec.k("cron"),
                              file=file, hint="five fields: minute hour day month weekday, "
                              "e.g. '0 3 * * 1' for Mondays at 03:00")
    if watch and endpoint.type != "local":
        raise ConfigError(f"endpoint {endpoint.name!r} is {endpoint.type}: only local folders "
                          "can be watched", key=sec.k("watch"), file=file,
                          hint="poll it with every = '1m' instead")
    every = (parse_duration(every_raw, sec.k("every"), file)
             if every_raw is not None else None)
    if every is not None and every <= 0:
        raise ConfigError("must be more than 0", key=sec.k("every"), file=file)
    return {"every": every, "cron": cron,
            "watch": watch if watch is not None else (not given and endpoint.type == "local")}


_EDI_ACKS = ("none", "contrl", "997")
_EDI_SYNTAXES = ("UNOA", "UNOB", "UNOC", "UNOY")


def _where(sec: _Section, direction: Direction, file: str) -> tuple[tuple[str, str], ...]:
    """``where = { shop = "3012345000017" }``: an output that takes only the records with
    these values (one buyer's order responses), on top of its mapping's own ``where``.
    The fields are checked against the document once the mapping is loaded."""
    raw = sec.get("where", dict, None)
    if raw is None:
        return ()
    if direction is not Direction.OUT or not raw:
        raise ConfigError("where is a table of field = value, for output channels",
                          key=sec.k("where"), file=file,
                          hint='where = { shop = "3012345000017" }')
    out = []
    for fname, value in raw.items():
        if not isinstance(value, str | bool | int):
            raise ConfigError(f"expected a text, found {value!r}", key=sec.k(f"where.{fname}"),
                              file=file)
        out.append((fname, "true" if value is True else "false" if value is False
                    else str(value)))
    return tuple(out)


def _edi_settings(sec: _Section, direction: Direction, file: str) -> EdiSettings | None:
    """``[channels.NAME.edi]``: ids, syntax, test flag; and for input channels, the
    readers' tolerance and the acknowledgements sent back."""
    raw = sec.get("edi", dict, None)
    if raw is None:
        return None
    edi = _Section(raw, sec.k("edi"), file)
    ids: dict[str, str | None] = {}
    for key in ("sender", "recipient", "sender_qualifier", "recipient_qualifier"):
        value = edi.get(key, str, None)
        if value is not None and (not value.strip() or value != value.strip()):
            raise ConfigError(f"{value!r}: an id is a code without spaces around it",
                              key=edi.k(key), file=file)
        ids[key] = value
    if direction is Direction.OUT:
        for key in ("sender", "recipient"):
            if ids[key] is None:
                raise ConfigError("missing required key: an output channel writes its "
                                  "interchanges from sender (the gateway's id) to recipient "
                                  "(the partner's)", key=edi.k(key), file=file,
                                  hint='sender = "4012345000009", recipient = '
                                  '"5412345000013" (GLNs, or the ids agreed with the partner)')
    syntax = edi.get("syntax", str, None)
    if syntax is not None and syntax not in _EDI_SYNTAXES:
        raise ConfigError(f"{syntax!r} is not an EDIFACT syntax identifier",
                          key=edi.k("syntax"), file=file,
                          hint="UNOC (Latin-1, the usual one), UNOY (UTF-8), UNOA or UNOB "
                          "(upper-case ASCII, ASCII)")
    test = edi.get("test", bool, False)
    inbound = {k for k in ("tolerance", "ack", "aperak") if k in edi.data}
    if inbound and direction is Direction.OUT:
        key = sorted(inbound)[0]
        raise ConfigError(f"{key} is for input channels: it says how interchanges received "
                          "are read and acknowledged", key=edi.k(key), file=file)
    tolerance = edi.get("tolerance", dict, {})
    for key, value in tolerance.items():
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, found {value!r}",
                              key=edi.k(f"tolerance.{key}"), file=file)
    _check_tolerance(tolerance, edi.k("tolerance"), file)
    ack = edi.get("ack", str, "none")
    if ack not in _EDI_ACKS:
        raise ConfigError(f"{ack!r} is not one of " + ", ".join(repr(a) for a in _EDI_ACKS),
                          key=edi.k("ack"), file=file,
                          hint='"contrl" for EDIFACT interchanges, "997" for X12 ones')
    aperak = edi.get("aperak", bool, False)
    edi.finish()
    return EdiSettings(**ids, syntax=syntax, test=test,
                       tolerance=tuple(sorted(tolerance.items())), ack=ack, aperak=aperak)


def _check_tolerance(table: dict[str, Any], key: str, file: str) -> None:
    """The options a syntax reader's ``Tolerance`` has, when the readers define one."""
    from .formats import edi as edi_model

    known = getattr(edi_model, "Tolerance", None)
    if known is None or not table:
        return
    from dataclasses import fields as dataclass_fields

    names = {f.name for f in dataclass_fields(known)}
    for name in table:
        if name not in names:
            raise ConfigError(f"unknown key {name!r}", key=f"{key}.{name}", file=file,
                              hint="known keys here: " + ", ".join(sorted(names)))


def _check_edi(ch: Channel, fmt: str, file: str) -> None:
    """An EDI output needs its envelope ids; the ids and options must suit the standard."""
    key = f"channels.{ch.name}.edi"
    edi_formats = ("edifact", "x12")
    if fmt not in edi_formats:
        if ch.edi is not None:
            raise ConfigError(f"mapping {ch.mapping!r} writes {fmt}, not EDIFACT or X12: "
                              "an [edi] table does not apply", key=key, file=file)
        return
    x12 = fmt == "x12"
    if ch.edi is None:
        if ch.direction is Direction.OUT:
            raise ConfigError(f"channel {ch.name!r} writes {'X12' if x12 else 'EDIFACT'} "
                              "interchanges: it needs its envelope ids", key=key, file=file,
                              hint=f'[channels.{ch.name}.edi] sender = "…" (the gateway\'s '
                              'id), recipient = "…" (the partner\'s)')
        return
    limits = {"sender": 15 if x12 else 35, "recipient": 15 if x12 else 35,
              "sender_qualifier": 2 if x12 else 4, "recipient_qualifier": 2 if x12 else 4}
    for name, most in limits.items():
        value = getattr(ch.edi, name)
        if value is not None and (len(value) > most or (x12 and name.endswith("qualifier")
                                                        and len(value) != 2)):
            raise ConfigError(f"{value!r} is {len(value)} characters: "
                              + ("ISA05/ISA07 are 2" if x12 and name.endswith("qualifier")
                                 else f"{'X12' if x12 else 'EDIFACT'} allows {most}"),
                              key=f"{key}.{name}", file=file)
    if x12 and ch.edi.syntax is not None:
        raise ConfigError("syntax is EDIFACT's character set identifier; X12 has none",
                          key=f"{key}.syntax", file=file)
    if ch.edi.ack != "none" and ch.edi.ack != ("997" if x12 else "contrl"):
        raise ConfigError(f"{ch.edi.ack!r} acknowledges {'EDIFACT' if x12 else 'X12'} "
                          "interchanges", key=f"{key}.ack", file=file,
                          hint=f'ack = "{"997" if x12 else "contrl"}" for this channel')
    if ch.edi.aperak and x12:
        raise ConfigError("APERAK is an EDIFACT message; X12 has no such acknowledgement",
                          key=f"{key}.aperak", file=file)
    asked = "ack" if ch.edi.ack != "none" else "aperak" if ch.edi.aperak else None
    if asked and not ch.ack_endpoint:
        raise ConfigError(f"{asked} is sent to the channel's ack_endpoint, and it has none",
                          key=f"{key}.{asked}", file=file,
                          hint=f"add ack_endpoint = \"…\" to [channels.{ch.name}]")


def _check_mappings(cfg: Config, file: str) -> None:
    """Load every channel's mapping now, so a broken mapping stops the start, not a file."""
    from .mapping.loader import load_mapping

    for ch in cfg.channels.values():
        m = load_mapping(cfg, ch.mapping, key=f"channels.{ch.name}.mapping")
        want = "read" if ch.direction is Direction.IN else "write"
        if m.direction != want:
            raise ConfigError(f"mapping {ch.mapping!r} is a {m.direction} mapping; an "
                              f"{ch.direction} channel needs a {want} mapping",
                              key=f"channels.{ch.name}.mapping", file=file)
        if m.document != ch.document:
            raise ConfigError(f"mapping {ch.mapping!r} is for document {m.document!r}, "
                              f"the channel carries {ch.document!r}",
                              key=f"channels.{ch.name}.document", file=file)
        _check_edi(ch, m.format, file)
        for fname, _value in ch.where:
            if fname not in m.doc.fields or fname in m.doc.localized or fname in m.doc.lists:
                raise ConfigError(f"document {m.document!r} has no single-valued field "
                                  f"{fname!r}", key=f"channels.{ch.name}.where.{fname}",
                                  file=file)
        if ch.publish is PublishMode.DELTA and not m.doc.key_of(m.view):
            raise ConfigError(f"view {m.view!r} of {m.document!r} has no record key, so it "
                              "cannot be published as a delta",
                              key=f"channels.{ch.name}.publish", file=file)

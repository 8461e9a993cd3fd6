"""Configuration: shipped defaults, a site file and environment variables, validated at start.

Layers, later wins:
  1. ``config/kiosk.toml`` (every key, documented, with units);
  2. the site file: ``--config PATH``, else ``/etc/kiosk/kiosk.toml`` when present;
  3. environment: ``KIOSK_DATA_DIR`` (the data folder) and ``KIOSK__SECTION__KEY=value`` for any key
     (the value is read as TOML when it parses, else as a string).

A bad value raises :class:`~kiosk.errors.ConfigError` naming the file, the key, the value and what
is allowed. Sections owned by a device package are defined there (``reader.settings``,
``camera.settings``) so that the package can be used without the kiosk.
"""

from __future__ import annotations

import codecs
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from camera.settings import AntispoofSettings, CameraSettings, LivenessSettings, MatchSettings, QualitySettings
from kiosk.disk import replace_file_privately
from kiosk.errors import ConfigError
from kiosk.paths import PROFILES, SITE_CONFIG_FILE, default_config_file, profile_file
from reader.settings import ReaderSettings

log = logging.getLogger(__name__)

_STRICT = ConfigDict(extra="forbid", frozen=True)


class TerminalSettings(BaseModel):
    """Who and where this terminal is, and where it keeps its data."""

    model_config = _STRICT
    device_id: str = Field(min_length=1, max_length=64)
    # [0-9], not \d: pydantic runs patterns on the Rust regex engine, where \d is any script's digit (#13).
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    hall_name: str = Field(max_length=80)
    data_dir: Path
    key_file: Path
    min_free_disk_mb: int = Field(ge=10, le=1_000_000)
    channel: Literal["hall", "home_visit"] = "hall"
    staff_number: str = Field(default="", pattern=r"^[0-9A-Za-z_-]{0,32}$")
    battery_saving: bool = False

    @field_validator("data_dir", "key_file", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # Path("") is Path("."): an empty value would put the kiosk's data in whatever folder
        # the process was started from.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a folder or file, not be empty")
        return value

    def resolved_data_dir(self) -> Path:
        """The data folder with ``~`` expanded (absolute)."""
        return self.data_dir.expanduser().resolve()

    def resolved_key_file(self) -> Path:
        """The device key file; a relative path is taken relative to the data folder."""
        key = self.key_file.expanduser()
        return key if key.is_absolute() else self.resolved_data_dir() / key


class RulesSettings(BaseModel):
    """The region's certification rules (domain.md, "Business rules")."""

    model_config = _STRICT
    cycle_days: int = Field(ge=30, le=800)
    grace_days: int = Field(ge=0, le=180)
    attempts_per_session: int = Field(ge=1, le=10)
    manual_review_working_days: int = Field(ge=1, le=30)


class SessionSettings(BaseModel):
    """Time limits of one session at the terminal, in seconds."""

    model_config = _STRICT
    card_read_timeout_s: float = Field(gt=0, le=120)
    consent_timeout_s: float = Field(gt=0, le=600)
    positioning_timeout_s: float = Field(gt=0, le=600)
    matching_timeout_s: float = Field(gt=0, le=120)
    result_display_s: float = Field(gt=0, le=600)
    reminder_before_timeout_s: float = Field(ge=0, le=120)
    inactivity_timeout_s: float = Field(gt=0, le=3600)
    staff_alert_repeat_s: float = Field(default=20.0, ge=5, le=600)
    staff_notice_idle_s: float = Field(default=60.0, ge=5, le=3600)
    # The status screen shows the person's name and pension status: short, so that nothing of a
    # person who walked away stays up long (a default, so older site files stay valid).
    status_timeout_s: float = Field(default=45.0, gt=0, le=600)


class StorageSettings(BaseModel):
    """What the terminal keeps and for how long."""

    model_config = _STRICT
    evidence_retention_days: int = Field(ge=0, le=3650)
    audit_retention_days: int = Field(ge=1, le=3650)


class SyncSettings(BaseModel):
    """Talking to the provincial centre."""

    model_config = _STRICT
    center_url: str
    interval_s: float = Field(gt=0, le=86_400)
    batch_size: int = Field(ge=1, le=1_000)  # the centre takes at most 1,000 records per request
    request_timeout_s: float = Field(gt=0, le=300)
    max_backoff_s: float = Field(gt=0, le=86_400)
    send_face_images: bool
    ca_file: str


class UiSettings(BaseModel):
    """The touch screen and the voice."""

    model_config = _STRICT
    orientation: Literal["landscape", "portrait"]
    fullscreen: bool
    volume: float = Field(ge=0.0, le=1.0)
    voice_dir: str
    receipt_printer_url: str
    # The terminal's voice: Mandarin or Cantonese (a default, so older site files stay valid).
    voice_language: Literal["cmn", "yue"] = "cmn"


class TechnicianSettings(BaseModel):
    """The PIN-protected technician mode."""

    model_config = _STRICT
    pin_hash: str
    max_wrong_pins: int = Field(ge=1, le=20)
    lockout_s: float = Field(ge=0, le=86_400)
    idle_timeout_s: float = Field(gt=0, le=3600)


class StaffSettings(BaseModel):
    """Hall staff: the staff call to the hall console and the local signal when it cannot reach it."""

    model_config = _STRICT
    signal_url: str = ""
    request_timeout_s: float = Field(default=5.0, gt=0, le=60)
    poll_interval_s: float = Field(default=2.0, ge=0.5, le=60)
    max_backoff_s: float = Field(default=30.0, ge=2, le=3600)
    local_signal_max_s: float = Field(default=600.0, ge=10, le=86_400)
    watch_max_s: float = Field(default=3600.0, ge=60, le=86_400)


class LoggingSettings(BaseModel):
    """Log files (never personal data in them)."""

    model_config = _STRICT
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    max_bytes: int = Field(ge=10_000, le=1_000_000_000)
    backup_count: int = Field(ge=1, le=100)


class KioskConfig(BaseModel):
    """The whole validated configuration (immutable)."""

    model_config = _STRICT
    terminal: TerminalSettings
    rules: RulesSettings
    session: SessionSettings
    storage: StorageSettings
    reader: ReaderSettings
    camera: CameraSettings
    quality: QualitySettings
    liveness: LivenessSettings
    antispoof: AntispoofSettings
    match: MatchSettings
    sync: SyncSettings
    ui: UiSettings
    technician: TechnicianSettings
    logging: LoggingSettings
    staff: StaffSettings = StaffSettings()


ENV_PREFIX = "KIOSK__"


def load_config(site_file: Path | None = None, env: Mapping[str, str] | None = None, *,
                profile: str | None = None) -> KioskConfig:
    """Loads and validates the configuration from the three layers (see the module docstring).

    ``site_file`` is ``--config``; when None, ``/etc/kiosk/kiosk.toml`` is used if it exists.
    ``profile`` (``--profile visit``) lays the shipped ``config/<profile>.toml`` over the defaults,
    under the site file and the environment.
    Raises :class:`ConfigError` for an unreadable file, a TOML syntax error or an invalid value.
    """
    env = os.environ if env is None else env
    defaults = default_config_file()
    if site_file is None and SITE_CONFIG_FILE.is_file():
        site_file = SITE_CONFIG_FILE
    site = _read_toml(site_file) if site_file is not None else None
    if profile is None:
        return _validate_layers(defaults, site, site_file, env)
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; the profiles are: {', '.join(PROFILES)}")
    layered = profile_file(profile)
    return _validate_layers(defaults, site, site_file, env, (_read_toml(layered), layered))


def _validate_layers(defaults: Path, site: Mapping[str, Any] | None, site_file: Path | None,
                     env: Mapping[str, str], profile: tuple[Mapping[str, Any], Path] | None = None) -> KioskConfig:
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    _merge(merged, _read_toml(defaults), origin, str(defaults))
    if profile is not None:
        _merge(merged, profile[0], origin, str(profile[1]))
    if site is not None:
        _merge(merged, site, origin, str(site_file))
    _merge(merged, _env_overrides(env), origin, "environment")
    try:
        return KioskConfig.model_validate(merged)
    except ValidationError as exc:
        raise _explain(exc, merged, origin) from None


def read_site_file(path: Path) -> dict[str, Any]:
    """The raw contents of a site file ({} when it does not exist)."""
    return _read_toml(path) if path.exists() else {}


def write_site_values(path: Path, changes: Mapping[str, Any]) -> KioskConfig:
    """Sets dotted keys (``"liveness.action_timeout_s"``) in the site file, after validating them.

    The whole configuration with the changes applied is validated first; on error nothing is
    written and :class:`ConfigError` is raised. The file is replaced atomically (a temporary file
    in the same folder, flushed to disk, then renamed over it), so a power cut leaves the old file
    or the new one, never half of one.

    Privacy: the site file holds ``technician.pin_hash``, which can be guessed offline when others
    can read it, so it is always written with mode 0600 (a new file and its new folder too: the
    folder 0700), keeping the owner and group of the file it replaces (``set-pin`` run by root on
    a file owned by the kiosk user must leave it readable by the kiosk).
    """
    site = read_site_file(path)
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        table = site.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section!r} is not a table; cannot set {dotted!r}")
        table[key] = value
    text = tomli_w.dumps(site)
    # What is validated is what is written: the text read back, not the dictionary it came from.
    config = _validate_layers(default_config_file(), tomllib.loads(text), path, os.environ)
    replace_file_privately(path, text.encode("utf-8"))
    return config


def documented_keys() -> dict[str, str]:
    """Every ``section.key`` of the shipped defaults mapped to the comment lines just above it."""
    docs: dict[str, str] = {}
    section = ""
    comment: list[str] = []
    for raw in default_config_file().read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comment.append(line.lstrip("# "))
        elif line.startswith("["):
            section = line.strip("[]")
            comment = []
        elif "=" in line:
            docs[f"{section}.{line.split('=', 1)[0].strip()}"] = " ".join(comment)
            comment = []
        else:
            comment = []
    return docs


MAX_CONFIG_FILE_BYTES = 1024 * 1024
"""A configuration file is a few kB; anything over 1 MiB (or ``/dev/zero``) is refused unread."""

MAX_ECHO_CHARS = 80
"""Error messages quote at most this many characters of a value or key, then say how long it was."""

MAX_EXPLAINED_ERRORS = 20
"""Error messages list at most this many invalid keys, then say how many more there are."""


def _read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; :class:`ConfigError` naming the file and the problem otherwise."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"configuration file {path} is not readable (permissions)") from None
    except OSError as exc:  # a folder, a device that fails, an I/O error
        raise ConfigError(f"configuration file {path} cannot be read: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_CONFIG_FILE_BYTES:
        raise ConfigError(f"configuration file {path} is larger than {MAX_CONFIG_FILE_BYTES // 1024} KiB: "
                          "not a configuration (the shipped one is a few kB)")
    return _parse_toml(raw, path)


def _parse_toml(raw: bytes, path: Path) -> dict[str, Any]:
    # TOML is UTF-8 only. Windows editors save GB18030/GBK ("ANSI") or UTF-16 ("Unicode"), which
    # tomllib would meet as a UnicodeDecodeError or as NUL characters: name the encoding problem.
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]  # Notepad's UTF-8 mark: the text itself is fine
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in raw:
        raise ConfigError(f"configuration file {path} is not UTF-8 text (it holds NUL bytes: UTF-16 or a binary "
                          "file); save it as UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"configuration file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02X} at line {line}, "
                          f"column {column}: GB18030/GBK or a binary file?); save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {_shorten(str(exc), 4 * MAX_ECHO_CHARS)}") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively: "a = [[[[..." exhausts the stack.
        raise ConfigError(f"configuration file {path} is not valid TOML: arrays or tables nested too deeply") from None


def _shorten(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was when cut."""
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} characters)"


def _echo(value: Any) -> str:
    """A value as quoted in an error message: its repr, cut after :data:`MAX_ECHO_CHARS` characters."""
    if isinstance(value, str) and len(value) > MAX_ECHO_CHARS:
        return f"{value[:MAX_ECHO_CHARS]!r}…({len(value)} characters)"
    return _shorten(repr(value))


def _merge(into: dict[str, Any], layer: Mapping[str, Any], origin: dict[str, str], source: str, prefix: str = "") -> None:
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, origin, source, dotted + ".")
        elif isinstance(value, Mapping):
            into[key] = {}
            _merge(into[key], value, origin, source, dotted + ".")
        else:
            into[key] = value
            origin[dotted] = source


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if "KIOSK_DATA_DIR" in env:  # set but empty is refused by validation, not ignored
        overrides.setdefault("terminal", {})["data_dir"] = env["KIOSK_DATA_DIR"]
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"environment variable {_shorten(name)}: expected {ENV_PREFIX}SECTION__KEY")
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except (tomllib.TOMLDecodeError, RecursionError):  # not TOML (or nested too deeply): a string
            value = raw
        overrides.setdefault(parts[0], {})[parts[1]] = value
    return overrides


def _explain(exc: ValidationError, merged: Mapping[str, Any], origin: Mapping[str, str]) -> ConfigError:
    # Values and keys are quoted shortened: a site file or a variable may hold megabytes.
    lines = []
    errors = exc.errors()
    for error in errors[:MAX_EXPLAINED_ERRORS]:
        dotted = ".".join(str(part) for part in error["loc"])
        source = origin.get(dotted) or origin.get(dotted.rsplit(".", 1)[0], str(default_config_file()))
        if error["type"] == "missing":
            lines.append(f"{source}: key {_shorten(dotted)} is missing")
            continue
        value = error.get("input")
        allowed = _shorten(error["msg"], 4 * MAX_ECHO_CHARS)  # the rule is worth more room than the value
        if error["type"] == "extra_forbidden":
            allowed = "unknown key (misspelt? see config/kiosk.toml for every key)"
        lines.append(f"{source}: key {_shorten(dotted)} = {_echo(value)} is not allowed: {allowed}")
    if len(errors) > MAX_EXPLAINED_ERRORS:
        lines.append(f"… and {len(errors) - MAX_EXPLAINED_ERRORS} more")
    return ConfigError("invalid configuration:\n  " + "\n  ".join(lines))

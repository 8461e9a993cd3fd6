"""Configuration: defaults load, every key is documented, layers override, bad values are explained."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import BaseModel

from conftest import run_cli
from kiosk.config import KioskConfig, documented_keys, load_config, write_site_values
from kiosk.errors import ConfigError


def model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= model_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_defaults_load(config: KioskConfig, data_dir: Path) -> None:
    assert config.rules.cycle_days == 365
    assert config.rules.grace_days == 15
    assert config.rules.attempts_per_session == 3
    assert config.terminal.resolved_data_dir() == data_dir.resolve()


def test_every_key_is_documented_with_a_unit_or_choice() -> None:
    docs = documented_keys()
    assert set(docs) == model_keys(KioskConfig)
    for key, text in docs.items():
        assert len(text) >= 15, f"{key} has no real comment in config/kiosk.toml"
        assert "(" in text, f"{key}: say the unit or the allowed values in parentheses"


def test_site_file_and_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[rules]\ngrace_days = 30\n[reader]\nurl = 'socket://127.0.0.1:9'\n")
    monkeypatch.setenv("KIOSK__RULES__CYCLE_DAYS", "366")
    config = load_config(site)
    assert config.rules.grace_days == 30
    assert config.rules.cycle_days == 366
    assert config.reader.url == "socket://127.0.0.1:9"


def test_bad_value_names_file_key_value_and_rule(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[rules]\ngrace_days = -3\n")
    with pytest.raises(ConfigError) as info:
        load_config(site)
    text = info.value.message
    assert str(site) in text and "rules.grace_days" in text and "-3" in text and "greater than or equal to 0" in text


def test_unknown_key_and_broken_toml(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[rules]\ngrace_dayz = 3\n")
    with pytest.raises(ConfigError, match="rules.grace_dayz.*unknown key"):
        load_config(site)
    site.write_text("[rules\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(site)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK__UI__VOLUME", "3")
    with pytest.raises(ConfigError, match="environment: key ui.volume = 3"):
        load_config()


def test_write_site_values_validates_before_writing(tmp_path: Path) -> None:
    site = tmp_path / "kiosk.toml"
    config = write_site_values(site, {"liveness.action_timeout_s": 20.0})
    assert config.liveness.action_timeout_s == 20.0
    before = site.read_text()
    with pytest.raises(ConfigError):
        write_site_values(site, {"liveness.action_timeout_s": -1})
    assert site.read_text() == before


def test_cli_reports_a_bad_config_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[rules]\ncycle_days = 'soon'\n")
    assert run_cli(["--config", str(site), "policy", "--last-certified", "2025-01-01"]) == 2
    err = capsys.readouterr().err
    assert "rules.cycle_days" in err and "Traceback" not in err


def test_write_site_values_keeps_the_site_file_private(tmp_path: Path) -> None:
    site = tmp_path / "kiosk.toml"
    site.write_text("[liveness]\naction_timeout_s = 20.0\n")
    site.chmod(0o600)
    old_umask = os.umask(0o022)
    try:
        write_site_values(site, {"ui.volume": 0.5})
        fresh = tmp_path / "new" / "kiosk.toml"
        write_site_values(fresh, {"ui.volume": 0.5})
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(site.stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kiosk.toml", "new"]
    assert load_config(site).liveness.action_timeout_s == 20.0 and load_config(site).ui.volume == 0.5


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_write_site_values_as_root_keeps_the_owner_of_the_site_file(tmp_path: Path) -> None:
    # `kiosk technician set-pin` run by root must leave the file readable by the kiosk user.
    site = tmp_path / "kiosk.toml"
    site.write_text("[ui]\nvolume = 0.5\n")
    site.chmod(0o600)
    os.chown(site, 54321, 54322)
    write_site_values(site, {"ui.volume": 0.7})
    assert (site.stat().st_uid, site.stat().st_gid) == (54321, 54322)
    assert stat.S_IMODE(site.stat().st_mode) == 0o600


SITE_TEXT = '[terminal]\nhall_name = "朝阳区社保大厅"\n'


@pytest.mark.parametrize(("name", "raw"), [
    ("gb18030", SITE_TEXT.encode("gb18030")),
    ("utf-16 with BOM", SITE_TEXT.encode("utf-16")),
    ("utf-16-le without BOM", SITE_TEXT.encode("utf-16-le")),
    ("utf-16-be without BOM", SITE_TEXT.encode("utf-16-be")),
    ("binary", bytes(range(256)) * 4),
], ids=lambda value: value if isinstance(value, str) else "")
def test_a_site_file_that_is_not_utf8_text_is_named_as_such(tmp_path: Path, name: str, raw: bytes) -> None:
    site = tmp_path / "site.toml"
    site.write_bytes(raw)
    with pytest.raises(ConfigError) as info:
        load_config(site)
    assert info.value.code == "config_invalid"
    assert str(site) in info.value.message and "not UTF-8 text" in info.value.message


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_bytes(b"\xef\xbb\xbf" + SITE_TEXT.encode("utf-8"))  # what Windows editors write
    assert load_config(site).terminal.hall_name == "朝阳区社保大厅"


@pytest.mark.parametrize("text", ["a = " + "[" * 100_000, "a = " + "{b = " * 100_000], ids=["arrays", "inline tables"])
def test_deeply_nested_toml_is_a_config_error(tmp_path: Path, text: str) -> None:
    site = tmp_path / "site.toml"
    site.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(site)
    assert str(site) in info.value.message and "nested too deeply" in info.value.message


def test_deeply_nested_environment_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK__UI__VOLUME", "[" * 100_000)
    with pytest.raises(ConfigError, match="environment: key ui.volume"):
        load_config()


def test_a_huge_value_is_not_echoed_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f'[terminal]\nhall_name = "{"x" * 500_000}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(site)
    assert "terminal.hall_name" in info.value.message and "…(500000 characters)" in info.value.message
    assert len(info.value.message) < 1000
    monkeypatch.setenv("KIOSK__UI__ORIENTATION", "y" * 100_000)
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "ui.orientation" in info.value.message and len(info.value.message) < 1000


def test_a_huge_key_or_many_bad_keys_are_not_echoed_whole(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[rules]\n" + f"{'k' * 100_000} = 1\n" + "".join(f"key{n} = 1\n" for n in range(10_000)))
    with pytest.raises(ConfigError) as info:
        load_config(site)
    assert "unknown key" in info.value.message and "more" in info.value.message
    assert len(info.value.message) < 5000


def test_a_site_file_too_large_to_be_a_configuration_is_refused(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("# padding\n" * 200_000)
    with pytest.raises(ConfigError, match="larger than"):
        load_config(site)


@pytest.mark.parametrize(("raw", "fragment"), [
    (SITE_TEXT.encode("gb18030"), "not UTF-8 text"),
    (SITE_TEXT.encode("utf-16"), "not UTF-8 text"),
    (SITE_TEXT.encode("utf-16-le"), "not UTF-8 text"),
    (bytes(range(256)) * 4, "not UTF-8 text"),
    (b"a = " + b"[" * 100_000, "nested too deeply"),
    (f'[terminal]\nhall_name = "{"x" * 500_000}"\n'.encode(), "…(500000 characters)"),
], ids=["gb18030", "utf-16", "utf-16-le", "binary", "nested", "huge value"])
def test_cli_names_an_unreadable_site_file_instead_of_an_internal_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], raw: bytes, fragment: str) -> None:
    site = tmp_path / "site.toml"
    site.write_bytes(raw)
    status = run_cli(["--config", str(site), "policy", "--last-certified", "2025-01-01"])
    err = capsys.readouterr().err
    assert status == 2 and status != 70, err
    assert "[config_invalid]" in err and str(site) in err and fragment in err
    assert len(err) < 1000


@pytest.mark.parametrize("key", ["data_dir", "key_file"])
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_data_folder_or_key_file_is_refused(tmp_path: Path, key: str, value: str) -> None:
    """An empty path would be the current folder: the data would land wherever the kiosk was started."""
    site = tmp_path / "site.toml"
    site.write_text(f'[terminal]\n{key} = "{value}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=f"terminal.{key}"):
        load_config(site, env={})
    with pytest.raises(ConfigError, match="terminal.data_dir"):
        load_config(None, env={"KIOSK_DATA_DIR": value})


@pytest.mark.parametrize("region", ["١١٠١٠١", "１１０１０１", "11010१", "11010𝟏"])
def test_a_region_code_in_another_scripts_digits_is_refused(tmp_path: Path, region: str) -> None:
    """#13: pydantic's patterns run on the Rust regex engine, where ``\\d`` is any script's digit;
    the region code is the first six ASCII digits of an ID number, so only 0-9 are allowed."""
    site = tmp_path / "site.toml"
    site.write_text(f'[terminal]\nregion_code = "{region}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="terminal.region_code"):
        load_config(site, env={})
    with pytest.raises(ConfigError, match="terminal.region_code"):
        load_config(None, env={"KIOSK__TERMINAL__REGION_CODE": region})

"""``kiosk reader read`` and ``watch``: masked by default, exact JSON keys, one-line errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from conftest import run_cli
from reader.samples import sample_card_path
from reader.simulator import forget_simulators


@pytest.fixture(autouse=True)
def _fresh_simulators() -> None:
    forget_simulators()
    yield
    forget_simulators()


def test_read_json_masked_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["reader", "read", "--url", "sim://resident_twenty_years", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "card_type": "resident", "name": "韦*", "gender": "男", "gender_code": "1", "nation": "壮", "nation_code": "08",
        "birth_date": "1962-09-30", "address": "广西壮族自治区南宁市兴宁区****", "id_number": "450102**********39",
        "issuing_authority": "南宁市公安局兴宁分局", "valid_from": "2015-03-01", "valid_until": "2035-03-01",
    }


@pytest.mark.parametrize("sample", ["resident_long_term", "hk_mo_tw_permit", "foreign_permanent_2017",
                                    "foreign_permanent_2023"])
def test_read_show_personal_reproduces_the_card_file(sample: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["reader", "read", "--url", f"sim://{sample}", "--json", "--show-personal"]) == 0
    out = json.loads(capsys.readouterr().out)
    card = json.loads(sample_card_path(sample).read_text(encoding="utf-8"))
    assert {key: value for key, value in card.items() if key in out} == {key: out[key] for key in card if key in out}
    assert out["card_type"] == sample.replace("resident_long_term", "resident")


def test_read_text_output_from_the_configured_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["reader", "read"]) == 0  # reader.url defaults to sim://
    out = capsys.readouterr().out
    assert "valid_until        长期" in out and "王*" in out and "王秀英" not in out


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("sim://?present=0", "no_card"),
        ("sim://?corrupt=1", "frame_checksum"),
        ("sim://?sam=selftest_fail", "sam_not_ready"),
        ("sim://?fail_reads=5", "card_read_failed"),
        ("sim://?colour=red", "reader_url_invalid"),
        ("nosuch://x", "reader_url_invalid"),
        ("/dev/nonexistent-reader", "reader_unavailable"),
        ("hwgrep://ffff:0001", "reader_unavailable"),
        ("socket://127.0.0.1:9", "reader_unavailable"),
        ("sim:///nonexistent/card.json", "sim_card_invalid"),
    ],
)
def test_read_errors_are_one_line_with_the_reason(url: str, code: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["reader", "read", "--url", url]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and f"[{code}]" in lines[0] and "Traceback" not in captured.err
    assert captured.out == ""


def test_logs_carry_no_personal_data(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert run_cli(["reader", "read", "--url", "sim://?noise=1&corrupt=0.3&seed=2", "--show-personal"]) == 0
    assert "王秀英" in capsys.readouterr().out
    tap = [r.getMessage() for r in caplog.records if r.name == "reader.tap"]
    assert any("text=256B[masked] photo=1024B[masked]" in line or "data=1284B[masked]" in line for line in tap)
    assert any(line.startswith(">> len=3 cmd=30 01") for line in tap)
    for secret in ("王秀英", "31010119480512002X", "黄浦区示例路", "王"):
        assert secret not in caplog.text


def test_watch_prints_events_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["reader", "watch", "--url", "sim://?swap=hk_mo_tw_permit", "--json", "--events", "6"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["reader_ready", "card_placed", "card_read", "card_removed",
                                             "card_placed", "card_read"]
    assert events[2]["card"]["id_number"] == "310101**********2X"
    assert events[5]["card"]["card_type"] == "hk_mo_tw_permit"


def test_watch_reports_a_lost_reader(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["reader", "watch", "--url", "/dev/nonexistent-reader", "--events", "1"]) == 0
    assert capsys.readouterr().out.strip() == "reader_lost [reader_unavailable]"


def test_simulate_refuses_an_unknown_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["reader", "simulate", "--card", "no_such_sample"]) != 0
    assert "no sample card" in capsys.readouterr().err


def _card_file(tmp_path: Path, id_number: str) -> Path:
    card = json.loads(sample_card_path("resident_long_term").read_text(encoding="utf-8"))
    path = tmp_path / "card.json"
    path.write_text(json.dumps(dict(card, id_number=id_number), ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("id_number", ["310101194805120²2X", "3101011948051200①X", "3101011948051200٢X"])
def test_read_a_card_whose_number_has_a_non_ascii_digit(id_number: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """#13: an error with its reason and the reader's exit status, not an internal error (70)."""
    assert run_cli(["reader", "read", "--url", f"sim://{_card_file(tmp_path, id_number)}"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "[id_number_format]" in lines[0] and "internal error" not in captured.err
    assert captured.out == "" and "3101" not in captured.err


def test_read_a_card_whose_number_is_in_full_width_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full_width = "".join(chr(ord(char) + 0xFEE0) for char in "31010119480512002X")
    url = f"sim://{_card_file(tmp_path, full_width)}"
    assert run_cli(["reader", "read", "--url", url, "--json", "--show-personal"]) == 0
    assert json.loads(capsys.readouterr().out)["id_number"] == "31010119480512002X"

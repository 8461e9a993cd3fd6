"""kiosk --self-test from the source tree: every check with the real models, and how it fails.

The bundle itself is tested by `make bundle-test` (scripts/bundle-selftest.sh), which is too slow
for the suite (a PyInstaller build takes minutes).
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk import selftest
from kiosk.selftest import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_OK, run_self_test
from tests.conftest import run_cli


def _run(**kwargs) -> tuple[int, list[str]]:
    out = io.StringIO()
    status = run_self_test(out=out, **kwargs)
    return status, out.getvalue().splitlines()


def test_every_check_passes_with_the_synthetic_clip() -> None:
    status, lines = _run()
    assert status == EXIT_OK, "\n".join(lines)
    names = [line.split()[1] for line in lines[:-1]]
    assert names == [name for name, _check, _needs in selftest.CHECKS]
    assert all(line.startswith("PASS") for line in lines[:-1])
    certification = next(line for line in lines if " certification " in line)
    assert "certified" in certification and "blink, mouth_open" in certification and "record stored" in certification
    assert lines[-1].startswith(f"self-test: {len(selftest.CHECKS)} passed, 0 failed, 0 skipped")


def test_output_has_no_personal_data() -> None:
    _status, lines = _run(only=["reader"])
    text = "\n".join(lines)
    assert "31010119480512002X" not in text and "王秀英" not in text
    assert "310101**********2X" in text


def test_a_clip_without_a_face_fails_the_certification(tmp_path: Path) -> None:
    clip = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    for _ in range(45):
        writer.write(np.full((240, 320, 3), 90, np.uint8))
    writer.release()
    status, lines = _run(clip=clip, only=["certification"])
    assert status == EXIT_FAILED
    line = next(line for line in lines if " certification " in line)
    assert line.startswith("FAIL") and "no usable face" in line


def test_bad_site_config_fails_and_skips_what_depends_on_it(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("[rules]\ngrace_days = -4\n", encoding="utf-8")
    status, lines = _run(config_path=site)
    assert status == EXIT_FAILED
    assert lines[0].startswith("FAIL  config") and "grace_days" in lines[0]
    assert all(line.startswith("SKIP") for line in lines[1:-1])


def test_a_skipped_check_is_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ui(_ctx) -> str:
        raise selftest._Skip("the UI package is not available in this build (ui)")

    checks = [(name, no_ui if name == "screen" else check, needs) for name, check, needs in selftest.CHECKS]
    monkeypatch.setattr(selftest, "CHECKS", checks)
    status, lines = _run(only=["screen"])
    assert status == EXIT_INCOMPLETE
    assert lines[1].startswith("SKIP  screen") and "not available" in lines[1]


def test_unknown_check_and_missing_clip(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nonsense"):
        run_self_test(only=["nonsense"], out=io.StringIO())
    with pytest.raises(FileNotFoundError):
        run_self_test(clip=tmp_path / "nope.mp4", out=io.StringIO())


def test_cli_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--clip", str(tmp_path / "nope.mp4"), "--self-test"]) == 2
    (tmp_path / "clip.mp4").write_bytes(b"")
    assert run_cli(["--clip", str(tmp_path / "clip.mp4")]) == 2
    assert "only used with --self-test" in capsys.readouterr().err
    assert run_cli(["--self-test", "policy"]) == 2
    assert "without a command" in capsys.readouterr().err
    assert run_cli([]) == 0 and "Commands" in capsys.readouterr().out

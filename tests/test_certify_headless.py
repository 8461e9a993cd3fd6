"""``kiosk certify --headless`` end to end: real simulator, real clip, real FaceMesh, real dlib.

A shared clip is certified against a roster photo of the same person; an attack clip and another
person's reference are refused; the record is stored either way.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from conftest import run_cli
from reader.samples import sample_card_paths

GENUINE = "videos/blink_mouth_plain_bg.mp4"
PROMPTS = ["--prompt", "mouth_open@1.8", "--prompt", "blink@2.9"]


@pytest.fixture
def terminal(tmp_path: Path, media_dir: Path) -> dict:
    """A card file for an invented person whose roster photo is a frame of the genuine clip."""
    card = json.loads(next(p for p in sample_card_paths() if p.stem == "resident_twenty_years").read_text("utf-8"))
    card_file = tmp_path / "card.json"
    card_file.write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
    photos = tmp_path / "photos"
    photos.mkdir()
    capture = cv2.VideoCapture(str(media_dir / GENUINE))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 10)  # a frame before the actions, as an enrolment photo would be
    ok, image = capture.read()
    capture.release()
    assert ok
    cv2.imwrite(str(photos / "same.jpg"), image)
    shutil.copy(media_dir / "faces/casia/003/003_0.png", photos / "other.png")
    return {"card": card, "card_file": card_file, "photos": photos, "tmp": tmp_path, "media": media_dir}


def import_roster(terminal: dict, photo: str) -> None:
    roster = terminal["tmp"] / "roster.csv"
    card = terminal["card"]
    roster.write_text(f"id_number,name,last_certified,photo\n{card['id_number']},{card['name']},2025-01-10,{photo}\n",
                      encoding="utf-8")
    assert run_cli(["roster", "import", str(roster), "--photos", str(terminal["photos"])]) == 0


def certify(terminal: dict, clip: str, prompts: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    capsys.readouterr()
    status = run_cli(["certify", "--headless", "--reader", f"sim://{terminal['card_file']}",
                      "--camera", f"file:{terminal['media'] / clip}", *prompts, "--json", "--timeout-s", "120"])
    return status, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_genuine_clip_is_certified_and_recorded(terminal: dict, capsys: pytest.CaptureFixture[str]) -> None:
    import_roster(terminal, "same.jpg")
    status, result = certify(terminal, GENUINE, PROMPTS, capsys)
    assert status == 0, result
    assert result["outcome"] == "certified"
    assert result["valid_until"] and result["record_id"]
    assert result["prompts"][-1] == "result_certified"
    assert "action_mouth_open" in result["prompts"] and "action_blink" in result["prompts"]
    # The record is in the store and the person's date moved.
    capsys.readouterr()
    assert run_cli(["roster", "show", terminal["card"]["id_number"]]) == 0
    assert "valid" in capsys.readouterr().out


@pytest.mark.parametrize(("clip", "prompt"), [("spoof/phone_replay_b_attack.mp4", "blink@0.5"),
                                              ("spoof/phone_replay_a_attack.mp4", "blink@0.3")])
def test_attack_clips_are_refused(terminal: dict, clip: str, prompt: str, capsys: pytest.CaptureFixture[str]) -> None:
    import_roster(terminal, "same.jpg")
    status, result = certify(terminal, clip, ["--prompt", prompt], capsys)
    assert status == 3
    assert result["outcome"] != "certified" and result["valid_until"] is None
    assert "result_certified" not in result["prompts"]


def test_another_persons_reference_is_refused(terminal: dict, capsys: pytest.CaptureFixture[str]) -> None:
    import_roster(terminal, "other.png")
    status, result = certify(terminal, GENUINE, PROMPTS, capsys)
    assert status == 3
    assert result["outcome"] == "mismatch"
    assert result["next_step"] == "retry"


def test_a_bad_prompt_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["certify", "--headless", "--prompt", "wink@2", "--json"]) != 0
    assert "ACTION@SECONDS" in capsys.readouterr().err


def test_a_corrected_roster_photo_under_the_same_name_is_the_new_reference(
        terminal: dict, capsys: pytest.CaptureFixture[str]) -> None:
    """The wrong-person case: ref.jpg showed this person, is replaced by another person's photo under
    the same name, and the person on the clip must no longer be certified against it."""
    photos = terminal["photos"]
    shutil.copy(photos / "same.jpg", photos / "ref.jpg")
    import_roster(terminal, "ref.jpg")
    shutil.copy(photos / "other.png", photos / "ref.jpg")  # the roster now says: someone else
    capsys.readouterr()
    import_roster(terminal, "ref.jpg")
    out = capsys.readouterr().out
    assert "face templates built 1" in out and "updated 1" in out, out
    status, result = certify(terminal, GENUINE, PROMPTS, capsys)
    assert status == 3 and result["outcome"] == "mismatch", result

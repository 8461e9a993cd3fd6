"""The README's state diagram is the one generated from the flow's table, and the generator draws
every state change the table declares."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.flow import RULES, STAY, State, event_name
from kiosk.flow_diagram import BEGIN, END, MarkersMissing, current_block, edges, main, mermaid, with_block

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_the_readme_shows_the_generated_diagram() -> None:
    assert current_block(README.read_text(encoding="utf-8")) == mermaid(), \
        "run: python -m kiosk.flow_diagram --write README.md"


def test_every_declared_state_change_is_drawn_and_nothing_else() -> None:
    drawn = {(state, target, label.split(" (")[0]) for (state, target), labels in edges().items() for label in labels}
    declared = {(rule.state, target, event_name(rule.event)) for rule in RULES for target in rule.targets
                if target is not STAY}
    assert drawn == declared
    lines = mermaid().splitlines()
    assert lines[:3] == ["```mermaid", "stateDiagram-v2", f"    [*] --> {State.IDLE}"] and lines[-1] == "```"
    assert {line.split(" --> ")[0].strip() for line in lines[3:-1]} == {str(state) for state in State}


def test_write_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# kiosk\n\n{BEGIN}\nold diagram\n{END}\n\nafter\n", encoding="utf-8")
    assert main(["--check", str(readme)]) == 1
    assert main(["--write", str(readme)]) == 0
    assert main(["--check", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# kiosk\n\n") and text.endswith(f"{END}\n\nafter\n") and "old diagram" not in text
    assert with_block(text, mermaid()) == text  # writing twice changes nothing
    readme.write_text("no markers\n", encoding="utf-8")
    assert main(["--check", str(readme)]) == 2
    with pytest.raises(MarkersMissing):
        current_block("no markers")


def test_the_module_prints_the_block() -> None:
    done = subprocess.run([sys.executable, "-m", "kiosk.flow_diagram"], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == mermaid()

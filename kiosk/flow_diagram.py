"""The README's state diagram, generated from the flow's table (:data:`kiosk.flow_rules.RULES`).

One Mermaid ``stateDiagram-v2`` edge per (state, target) pair that some rule can take, labelled
with the events that take it (a choice's condition in parentheses). Rules that stay in their state
(a hint, "listen again") are not drawn. The block sits between two markers in ``README.md`` and
``tests/test_flow_diagram.py`` keeps it equal to what this module generates::

    python -m kiosk.flow_diagram                    # print the block
    python -m kiosk.flow_diagram --write README.md  # replace the block between the markers
    python -m kiosk.flow_diagram --check README.md  # exit status 1 when the README is out of date

Pure functions of the table and of text; only :func:`main` reads or writes a file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from kiosk.flow_events import event_name
from kiosk.flow_model import Choice, Rule, State
from kiosk.flow_rules import RULES

BEGIN = "<!-- flow-diagram: generated from kiosk/flow_rules.py by `python -m kiosk.flow_diagram --write README.md` -->"
END = "<!-- /flow-diagram -->"


class MarkersMissing(ValueError):
    """The text has no (or no well-ordered) pair of diagram markers."""


def edges(rules: Iterable[Rule] = RULES) -> dict[tuple[State, State], list[str]]:
    """(state, target) -> the labels of the events leading there, by state in the order of
    :class:`State`, then in table order."""
    found: dict[tuple[State, State], list[str]] = {}
    for rule in rules:
        when = rule.target.when if isinstance(rule.target, Choice) else {rule.target: ""}
        for target, condition in when.items():
            if not isinstance(target, State):
                continue  # STAY: the view changes, the state does not
            label = event_name(rule.event) + (f" ({condition})" if condition else "")
            labels = found.setdefault((rule.state, target), [])
            if label not in labels:
                labels.append(label)
    order = list(State)
    return dict(sorted(found.items(), key=lambda item: order.index(item[0][0])))  # stable: table order kept


def mermaid(rules: Iterable[Rule] = RULES) -> str:
    """The fenced Mermaid block (no trailing newline)."""
    lines = ["```mermaid", "stateDiagram-v2", f"    [*] --> {State.IDLE}"]
    for (state, target), labels in edges(rules).items():
        lines.append(f"    {state} --> {target}: {' / '.join(labels)}")
    lines.append("```")
    return "\n".join(lines)


def _span(text: str) -> tuple[int, int]:
    begin = text.find(BEGIN)
    end = text.find(END)
    if begin < 0 or end < begin:
        raise MarkersMissing(f"expected {BEGIN!r} followed by {END!r}")
    return begin + len(BEGIN), end


def current_block(text: str) -> str:
    """The block between the markers of ``text``, stripped. Raises :class:`MarkersMissing`."""
    start, stop = _span(text)
    return text[start:stop].strip()


def with_block(text: str, block: str) -> str:
    """``text`` with ``block`` between its markers. Raises :class:`MarkersMissing`."""
    start, stop = _span(text)
    return f"{text[:start]}\n{block}\n{text[stop:]}"


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m kiosk.flow_diagram", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="README", help="replace the block between the markers")
    group.add_argument("--check", type=Path, metavar="README", help="exit 1 when the block differs")
    args = parser.parse_args(argv)
    block = mermaid()
    try:
        if args.write is not None:
            text = args.write.read_text(encoding="utf-8")
            args.write.write_text(with_block(text, block), encoding="utf-8")
        elif args.check is not None:
            if current_block(args.check.read_text(encoding="utf-8")) != block:
                print(f"{args.check}: the flow diagram is out of date; run python -m kiosk.flow_diagram "
                      f"--write {args.check}", file=sys.stderr)
                return 1
        else:
            print(block)
    except (OSError, MarkersMissing) as exc:
        print(f"flow_diagram: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

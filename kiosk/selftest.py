"""``kiosk --self-test``: proves an installed bundle has everything it needs, one line per check.

Run by technicians after installing or upgrading (``/opt/kiosk/current/kiosk --self-test``) and by
``make bundle-test`` on the freshly built bundle. Every check works with no camera, no reader, no
display, no network and no personal data: a temporary data folder, the ``sim://`` reader with its
invented sample card, Qt's offscreen platform, and a synthetic clip made from a public-domain
portrait (:mod:`kiosk.selftest_frames`); ``--clip PATH`` replays a real video instead.

Checks, in order (a check whose prerequisite failed is skipped, not run half-way):
``config`` shipped defaults (and the site file) validate, the prompt catalogue loads;
``landmarks`` FaceMesh loads and finds the portrait's face; ``face-models`` the dlib detector,
5-point predictor and ResNet load and encode it; ``database`` a new store applies every migration;
``reader`` pyserial's URL handlers are importable and the simulated reader reads the sample card;
``screen`` the idle screen renders offscreen with a CJK font and QtMultimedia loads;
``matcher-worker`` the matcher worker process starts (from the executable itself in the bundle)
and encodes the portrait; ``certification`` one whole session through the terminal's own
controller and adapters ends "certified" with its record stored (the synthetic clip with the
passive attack checks off, it being a photograph; a ``--clip`` with the shipped settings);
``spoof-check`` the same synthetic clip with the shipped settings must be refused.

Exit status: 0 when every check passed, 1 when any failed, 3 when none failed but some were
skipped (a bundle that could not test everything is not declared good). Output never contains
personal data: the sample card's number is masked, the clip's faces are not written anywhere.
Thread rule: run from the main thread (Qt wants its application there).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from kiosk.config import KioskConfig, load_config
from kiosk.errors import reason_code
from kiosk.reasons import Outcome

log = logging.getLogger(__name__)

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
EXIT_OK, EXIT_FAILED, EXIT_INCOMPLETE = 0, 1, 3


@dataclass(frozen=True)
class CheckResult:
    """One line of the report: ``status`` PASS/FAIL/SKIP, what was found, seconds it took."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0

    def line(self) -> str:
        """``PASS  name          detail (0.42 s)``"""
        return f"{self.status}  {self.name:<16}{self.detail} ({self.seconds:.2f} s)"


@dataclass
class _Context:
    """What earlier checks hand to later ones."""

    config_path: Path | None
    clip: Path | None
    config: KioskConfig | None = None
    still: np.ndarray | None = None
    points: np.ndarray | None = None  # FaceMesh landmarks of the still (the synthetic clip draws with them)
    matcher: object | None = None  # kiosk.devices.matcher_adapter.MatcherAdapter, closed at the end
    template: np.ndarray | None = None
    synthetic: Path | None = None
    scratch: tempfile.TemporaryDirectory = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="kiosk-selftest-"))


class _Skip(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a check that cannot run (its reason becomes the SKIP line)."""


def _check_config(ctx: _Context) -> str:
    from kiosk.paths import default_config_file, resource_root  # noqa: PLC0415
    ctx.config = load_config(ctx.config_path)
    importlib.import_module("ui.catalogue").Catalogue.load()  # by name: the core never imports ui/
    where = "bundle" if getattr(sys, "frozen", False) else "source checkout"
    clips = len(list((resource_root() / "voice").glob("*.wav")))
    return (f"defaults {default_config_file().name} and prompt catalogue valid; "
            f"{where} at {resource_root()}; {clips} voice clips bundled")


def _check_landmarks(ctx: _Context) -> str:
    from camera.landmarks import LandmarkDetector  # noqa: PLC0415
    from kiosk.selftest_frames import compose_still, portrait_path  # noqa: PLC0415

    import cv2  # noqa: PLC0415

    photo = cv2.imread(str(portrait_path()), cv2.IMREAD_COLOR)
    if photo is None:
        raise FileNotFoundError("self-test portrait unreadable")
    ctx.still = compose_still(photo)
    with LandmarkDetector(static_images=True) as detector:
        obs = detector.detect(ctx.still)
    if obs is None:
        raise RuntimeError("FaceMesh loaded but found no face in the test portrait")
    ctx.points = obs.points
    return f"FaceMesh: {len(obs.points)} points, eye ratio {obs.ear_mean:.2f}, face {obs.width_px:.0f} px wide"


def _check_face_models(ctx: _Context) -> str:
    from camera.matching.encoding import Encoder  # noqa: PLC0415

    assert ctx.config is not None and ctx.still is not None
    encoder = Encoder(ctx.config.match)
    encoding = encoder.encode(ctx.still, require_usable=False)
    return (f"dlib models from {encoder.models.folder}; descriptor {encoding.vector.shape[0]}-d, "
            f"face {encoding.quality.face_width_px:.0f} px")


def _check_database(ctx: _Context) -> str:
    from kiosk.clock import SystemClock  # noqa: PLC0415
    from kiosk.store import SCHEMA_VERSION, Pensioner, Store  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="kiosk-selftest-db-") as tmp:
        with Store.open(Path(tmp), Path(tmp) / "keys" / "device.key", SystemClock()) as store:
            if store.schema_version() != SCHEMA_VERSION or store.pending_migrations():
                raise RuntimeError(f"schema {store.schema_version()} after migrating, expected {SCHEMA_VERSION}")
            store.upsert_pensioner(Pensioner("11010519491231002X", "SELFTEST", "110101"))
            if store.get_pensioner("11010519491231002X") is None:
                raise RuntimeError("a roster row written was not read back")
    return f"temporary database migrated to schema {SCHEMA_VERSION}, roster write/read ok"


def _check_reader(ctx: _Context) -> str:
    import serial  # noqa: PLC0415

    from reader.card import mask_number  # noqa: PLC0415
    from reader.transport import open_reader  # noqa: PLC0415

    # pyserial imports its handlers by name at run time: a bundle missing them fails only here.
    for scheme in ("loop", "socket", "hwgrep", "spy"):
        importlib.import_module(f"serial.urlhandler.protocol_{scheme}")
    loop = serial.serial_for_url("loop://", timeout=0.1)
    loop.write(b"ok")
    if loop.read(2) != b"ok":
        raise RuntimeError("loop:// did not echo")
    loop.close()
    assert ctx.config is not None
    card_reader = open_reader("sim://", baudrate=ctx.config.reader.baudrate, timeout_s=ctx.config.reader.command_timeout_s)
    try:
        card = card_reader.read_card()
    finally:
        card_reader.close()
    return f"sim:// read the sample card {mask_number(card.id_number)} ({card.card_type.value}); pyserial handlers present"


def _check_screen(ctx: _Context) -> str:
    # ui/ is reached by name only here: kiosk/ is the composition root and must not import Qt or
    # ui/ at module level (tests/test_architecture.py); the self-test is the one place in the core
    # that drives the screen, and only when asked to.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Qt Multimedia lists every optional library it did not find (pipewire, VA-API): noise on a
    # terminal's console where the report must read one line per check.
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")
    try:
        ui_app = importlib.import_module("ui.app")
        shots = importlib.import_module("ui.screenshots")
        theme = importlib.import_module("ui.theme")
    except ImportError as exc:
        raise _Skip(f"the UI package is not available in this build ({exc.name})") from None
    from kiosk.flow import FlowView, State  # noqa: PLC0415

    qt_widgets = importlib.import_module("PySide6.QtWidgets")
    app = qt_widgets.QApplication.instance() or qt_widgets.QApplication([sys.argv[0]])
    assert ctx.config is not None
    window = ui_app.build_main_window(ctx.config, post=lambda _event: None, portrait=False)
    try:
        window.show()
        window.show_view(FlowView(State.IDLE))
        app.processEvents()
        image = window.grab().toImage()
        problems = shots.check_widget_tree(window.screens[State.IDLE], "idle", True)
        platform = app.platformName()
        width, height = image.width(), image.height()
        colours = {image.pixel(x, y) for x in range(0, width, 37) for y in range(0, height, 29)}
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
    # The voice plays through QtMultimedia (ffmpeg plugin, libpulse): loading it proves both are in
    # the bundle. No audio output is normal on a build machine; the terminal's is checked by ear.
    multimedia = importlib.import_module("PySide6.QtMultimedia")
    outputs = len(multimedia.QMediaDevices.audioOutputs())
    if not theme.cjk_font_available():
        raise RuntimeError("no Noto Sans CJK font: install the Debian package fonts-noto-cjk")
    if problems:
        raise RuntimeError(f"idle screen breaks the layout rules: {problems[0]}")
    if len(colours) < 3:
        raise RuntimeError("the idle screen rendered blank")
    return (f"idle screen rendered {width}x{height} on Qt platform '{platform}', CJK font present, "
            f"QtMultimedia loaded ({outputs} audio output(s))")


def _check_matcher_worker(ctx: _Context) -> str:
    from kiosk.devices.matcher_adapter import MatcherAdapter  # noqa: PLC0415
    from kiosk.selftest_certify import reference_template  # noqa: PLC0415

    assert ctx.config is not None and ctx.still is not None
    t0 = time.monotonic()
    ctx.matcher = MatcherAdapter(ctx.config.match)
    ctx.template = reference_template(ctx.matcher, ctx.still)
    return f"worker process started and encoded the portrait in {time.monotonic() - t0:.1f} s"


def _synthetic_folder(ctx: _Context) -> Path:
    """The synthetic clip as numbered PNG files in a scratch folder (an ``images:`` camera)."""
    if ctx.synthetic is None:
        import cv2  # noqa: PLC0415

        from kiosk.selftest_frames import synthetic_clip  # noqa: PLC0415

        folder = Path(ctx.scratch.name) / "synthetic"
        folder.mkdir()
        assert ctx.still is not None and ctx.points is not None  # the landmarks check ran first
        for index, image in enumerate(synthetic_clip(ctx.still, ctx.points).frames):
            cv2.imwrite(str(folder / f"{index:04d}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        ctx.synthetic = folder
    return ctx.synthetic


# Media seconds at which the synthetic clip's actions are asked: half a second before each happens
# (the blink at 2.0 s, the mouth from 3.3 s; kiosk/selftest_frames.py).
SYNTHETIC_PROMPTS = (("blink", 1.5), ("mouth_open", 2.8))


def _describe(source: str, run) -> str:  # noqa: ANN001 - a CertificationRun
    distance = "none" if run.distance is None else f"{run.distance:.3f}"
    attack = "" if run.attack_score is None else f", attack score {run.attack_score:.2f}"
    return (f"{source}: {run.state} / {run.outcome}, actions {', '.join(run.actions) or 'none'}, "
            f"distance {distance}{attack}, record {'stored' if run.record_id else 'none'}")


def _check_certification(ctx: _Context) -> str:
    from camera.sources import Frame, open_source, url_for_path  # noqa: PLC0415
    from kiosk.selftest_certify import reference_template, run_certification  # noqa: PLC0415

    assert ctx.config is not None and ctx.matcher is not None and ctx.template is not None
    if ctx.clip is None:
        # The synthetic clip is a photograph with painted eyelids: the passive attack checks
        # rightly refuse it (the spoof-check below relies on that), so this run, which proves the
        # rest of the pipeline certifies, leaves them out.
        config = ctx.config.model_copy(update={"antispoof": ctx.config.antispoof.model_copy(update={"enabled": False})})
        run = run_certification(config, f"images:{_synthetic_folder(ctx)}", ctx.template, ctx.matcher, SYNTHETIC_PROMPTS)
        summary = _describe("synthetic clip, passive checks off", run)
    else:
        source = open_source(url_for_path(ctx.clip), ctx.config.camera)
        source.start()
        frames: list[Frame] = []
        try:
            while len(frames) < 90 and (frame := source.next_frame(1.0)) is not None:
                frames.append(frame)
        finally:
            source.stop()
        template = _first_template(ctx, [np.asarray(f.image) for f in frames], reference_template)
        run = run_certification(ctx.config, url_for_path(ctx.clip), template, ctx.matcher)
        summary = _describe(f"clip {ctx.clip.name}, shipped settings", run)
    if not run.certified:
        raise RuntimeError(f"{summary}; states {' > '.join(run.states)}")
    return summary


def _first_template(ctx: _Context, images: list[np.ndarray], encode: Callable) -> np.ndarray:
    """The first of a real clip's first 3 s with a usable face, as the reference: there is no roster
    photo of the clip's person, so this checks the pipeline, not the person."""
    from camera.matching.errors import MatchError  # noqa: PLC0415

    for image in images:
        try:
            return encode(ctx.matcher, image)
        except MatchError:
            continue
    raise RuntimeError("no usable face in the clip's first 3 seconds to enrol as the reference")


def _check_spoof(ctx: _Context) -> str:
    from kiosk.selftest_certify import run_certification  # noqa: PLC0415

    assert ctx.config is not None and ctx.matcher is not None and ctx.template is not None
    if not ctx.config.antispoof.enabled:
        raise RuntimeError("antispoof.enabled is false: printed photos and screen replays would pass (GB/T 38671)")
    run = run_certification(ctx.config, f"images:{_synthetic_folder(ctx)}", ctx.template, ctx.matcher, SYNTHETIC_PROMPTS)
    summary = _describe("synthetic photo clip, shipped settings", run)
    if run.outcome == Outcome.CERTIFIED:
        raise RuntimeError(f"a photograph with painted eyelids was certified: {summary}")
    return f"refused as it must be: {summary}"


CHECKS: list[tuple[str, Callable[[_Context], str], tuple[str, ...]]] = [
    ("config", _check_config, ()),
    ("landmarks", _check_landmarks, ("config",)),
    ("face-models", _check_face_models, ("landmarks",)),
    ("database", _check_database, ("config",)),
    ("reader", _check_reader, ("config",)),
    ("screen", _check_screen, ("config",)),
    ("matcher-worker", _check_matcher_worker, ("face-models",)),
    ("certification", _check_certification, ("matcher-worker", "database", "reader")),
    ("spoof-check", _check_spoof, ("matcher-worker", "database", "reader")),
]
"""(name, check, names of the checks it needs). A check returns its detail line or raises."""


def run_self_test(config_path: Path | None = None, clip: Path | None = None, out: TextIO | None = None,
                  only: Sequence[str] = ()) -> int:
    """Runs the checks (all, or those named in ``only`` with their prerequisites), printing one line
    each and a summary to ``out`` (stdout); returns the exit status (see the module docstring).

    Never raises for a failing check: its exception becomes the FAIL line (the traceback goes to
    the log at DEBUG). Raises ``ValueError`` for an unknown name in ``only``.
    """
    out = out or sys.stdout
    unknown = set(only) - {name for name, _check, _needs in CHECKS}
    if unknown:
        raise ValueError(f"unknown self-test check(s): {', '.join(sorted(unknown))}")
    if clip is not None and not clip.is_file():
        raise FileNotFoundError(f"clip {clip} not found")
    ctx = _Context(config_path, clip)
    wanted = _with_prerequisites(only) if only else {name for name, _check, _needs in CHECKS}
    results: dict[str, CheckResult] = {}
    started = time.monotonic()
    try:
        for name, check, needs in CHECKS:
            if name not in wanted:
                continue
            missing = [need for need in needs if results.get(need) is None or results[need].status != PASS]
            result = CheckResult(name, SKIP, f"needs {', '.join(missing)}") if missing else _run_one(name, check, ctx)
            results[name] = result
            print(result.line(), file=out, flush=True)
    finally:
        if ctx.matcher is not None:
            ctx.matcher.close()  # type: ignore[attr-defined]
        ctx.scratch.cleanup()
    counts = {status: sum(r.status == status for r in results.values()) for status in (PASS, FAIL, SKIP)}
    print(f"self-test: {counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped "
          f"in {time.monotonic() - started:.1f} s", file=out, flush=True)
    if counts[FAIL]:
        return EXIT_FAILED
    return EXIT_INCOMPLETE if counts[SKIP] else EXIT_OK


def _run_one(name: str, check: Callable[[_Context], str], ctx: _Context) -> CheckResult:
    t0 = time.monotonic()
    try:
        return CheckResult(name, PASS, check(ctx), time.monotonic() - t0)
    except _Skip as exc:
        return CheckResult(name, SKIP, str(exc), time.monotonic() - t0)
    except Exception as exc:  # noqa: BLE001 - every failure, KioskError or not, is one FAIL line
        log.debug("self-test %s failed:\n%s", name, traceback.format_exc())
        kind, code = type(exc).__name__, reason_code(exc)
        text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:400]
        return CheckResult(name, FAIL, f"{kind}{f' [{code}]' if code != kind else ''}: {text}", time.monotonic() - t0)


def _with_prerequisites(names: Sequence[str]) -> set[str]:
    needs = {name: deps for name, _check, deps in CHECKS}
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(needs[name])
    return wanted

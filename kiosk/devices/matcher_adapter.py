"""1:1 matching as the controller sees it: a future of a plain pass/fail with the distance.

The dlib work runs in :class:`camera.matching.MatcherProcess` (a worker process with the models
loaded once: dlib holds the GIL, and in a thread it would starve the 30 fps camera loop).
"""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np

# Light next to the worker process this module starts (the composition root has loaded
# camera.matching, OpenCV with it, by then).
from camera.matching.errors import MatchReason
from camera.settings import MatchSettings
from kiosk.ports import MatchOutcome


class MatcherAdapter:
    """:class:`~kiosk.ports.MatcherPort` over the matcher worker process.

    Start it once at application start (model loading takes about a second, in the background);
    :meth:`verify` may be called from any thread. :meth:`close` ends the worker process.
    """

    def __init__(self, settings: MatchSettings) -> None:
        from camera.matching import MatcherProcess  # heavy: dlib and the models load in the worker

        self._process = MatcherProcess(settings)

    def verify(self, live_frames: list[np.ndarray], references: list[np.ndarray]) -> Future[MatchOutcome]:
        outcome: Future[MatchOutcome] = Future()
        decision_future = self._process.submit_verify(live_frames, references)

        def done(decision_done: Future) -> None:
            try:
                decision = decision_done.result()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
                outcome.set_exception(exc)
                return
            reason = None if decision.matched else str(getattr(decision, "reason", None) or MatchReason.MISMATCH)
            outcome.set_result(MatchOutcome(bool(decision.matched), _distance(decision), reason,
                                            str(getattr(decision, "model", "") or ""),
                                            tuple(float(d) for d in getattr(decision, "reference_distances", ()))))

        decision_future.add_done_callback(done)
        return outcome

    def encode(self, image_bgr: np.ndarray) -> Future:
        """Encodes one image in the worker (staff-assisted enrolment); a future of a FaceEncoding."""
        return self._process.submit_encode(image_bgr)

    def close(self) -> None:
        """Ends the worker process (idempotent)."""
        self._process.close()


def _distance(decision: object) -> float | None:
    value = getattr(decision, "distance", None)
    return None if value is None else float(value)

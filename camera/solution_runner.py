"""One run of a mediapipe "solution" graph on an RGB frame, returning serialised protos.

``SolutionBase.process`` (mediapipe 0.10.21, the last release with the solutions and their models)
builds a new ``namedtuple`` class on every call and parses every output into Python protobuf
objects: 0.2-0.3 ms per call on one core of the kiosk, spent on each of the 30 frames a second.
:func:`run_solution` does what ``process`` does for a single image input (the same packet, the same
30 fps timestamps, the same graph calls) and hands back the output stream's protos still
serialised, which :mod:`camera.landmarks` reads without building Python objects.

It uses attributes of ``SolutionBase`` that are not public. :func:`supports_direct_run` checks they
are there; a solution without them is run through ``process`` and re-serialised, with the same
result (a test compares both paths on real frames).

Thread rules: as for the solution itself, one thread at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_SIMULATED_FRAME_US = 33333  # what SolutionBase.process adds per call (a 30 fps timeline)
_REQUIRED = ("_graph", "_graph_outputs", "_input_stream_type_info", "_make_packet", "_simulated_timestamp")


def supports_direct_run(solution: Any) -> bool:
    """True when ``solution`` has the ``SolutionBase`` internals :func:`run_solution` drives."""
    return all(hasattr(solution, name) for name in _REQUIRED) and len(solution._input_stream_type_info or {}) == 1


def run_solution(solution: Any, rgb: np.ndarray, output: str) -> list[bytes]:
    """Feeds one RGB uint8 frame to ``solution`` and returns stream ``output`` as serialised protos
    (an empty list when the stream gave nothing for this frame).

    Raises ``ValueError`` for an image that is not (H, W, 3); a graph error raises what mediapipe
    raises (``RuntimeError``).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("the frame must be an (H, W, 3) RGB image")
    if not supports_direct_run(solution):
        content = getattr(solution.process(rgb), output)
        return [item.SerializeToString() for item in content] if content else []
    from mediapipe.python._framework_bindings import _packet_getter  # noqa: PLC0415 - loaded with mediapipe

    solution._graph_outputs.clear()
    solution._simulated_timestamp += _SIMULATED_FRAME_US
    stream, kind = next(iter(solution._input_stream_type_info.items()))
    packet = solution._make_packet(kind, rgb).at(solution._simulated_timestamp)
    solution._graph.add_packet_to_input_stream(stream=stream, packet=packet)
    solution._graph.wait_until_idle()
    result = solution._graph_outputs.get(output)
    if result is None or result.is_empty():
        return []
    return list(_packet_getter._get_serialized_proto_list(result))

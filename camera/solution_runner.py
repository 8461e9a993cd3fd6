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

:func:`on_calling_thread` builds a solution whose graph runs on the thread that feeds it (mediapipe's
``ApplicationThreadExecutor``) instead of handing each calculator to a pool of its own threads: the
same outputs, two threads fewer per graph, and no thread hand-offs per frame (FaceMesh on one core:
about 0.15 ms less per frame at the median and 0.3 ms less at the p95).

Thread rules: as for the solution itself, one thread at a time; a solution built by
:func:`on_calling_thread` does its work inside the call that feeds it (or closes it).
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import numpy as np

_SIMULATED_FRAME_US = 33333  # what SolutionBase.process adds per call (a 30 fps timeline)
_REQUIRED = ("_graph", "_graph_outputs", "_input_stream_type_info", "_make_packet", "_simulated_timestamp")


_Solution = TypeVar("_Solution")


def on_calling_thread(solution_class: type[_Solution], **options: Any) -> _Solution:
    """``solution_class(**options)`` (a mediapipe ``SolutionBase`` subclass such as ``FaceMesh``)
    with its graph's default executor replaced by the calling thread (see the module docstring).

    The class builds its graph exactly as it always does (same graph file, side inputs and options);
    only the executor entry of the graph configuration differs. Raises what the class raises.
    """
    from mediapipe.framework import calculator_pb2  # noqa: PLC0415 - loaded with mediapipe
    from mediapipe.python import solution_base  # noqa: PLC0415

    class _OnCallingThread(solution_base.SolutionBase):
        # Sits between solution_class and SolutionBase in the method order, so solution_class's own
        # super().__init__(binary_graph_path=...) arrives here and goes on as a graph configuration.
        def __init__(self, binary_graph_path: str | None = None, graph_config: Any = None, **kwargs: Any) -> None:
            if binary_graph_path:
                # Where SolutionBase itself looks for the file: the folder holding the mediapipe package.
                root = os.sep.join(os.path.abspath(solution_base.__file__).split(os.sep)[:-3])
                with open(os.path.join(root, binary_graph_path), "rb") as graph_file:
                    graph_config = calculator_pb2.CalculatorGraphConfig.FromString(graph_file.read())
            del graph_config.executor[:]
            graph_config.num_threads = 0
            graph_config.executor.add(type="ApplicationThreadExecutor")
            super().__init__(graph_config=graph_config, **kwargs)

    combined = type(f"{solution_class.__name__}OnCallingThread", (solution_class, _OnCallingThread), {})
    return combined(**options)


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

"""The descriptor network run by OpenCV's ``cv2.dnn`` from its ONNX file.

``cv2.dnn`` (in ``opencv-contrib-python``, already a dependency) runs the exported graph about
twice as fast as the numpy copy (10-18 ms against 22-29 ms a face on one core here; dlib-bin's own,
without BLAS, 75-174 ms) and gives the same 128 numbers within 1e-6 (float32 summation order;
``tests/test_matching_onnx.py`` checks it against dlib and the numpy copy on real faces).

Thread rule: a ``cv2.dnn.Net`` keeps its input and intermediate blobs inside, so one
:class:`DnnResNet` is used by one thread at a time (the encoder holds its lock around it). OpenCV's
own worker threads are limited per process by :func:`camera.matching.models.load_models`.
"""

from __future__ import annotations

import cv2
import numpy as np

from camera.matching.onnx_export import INPUT_NAME
from camera.matching.resnet import ModelFormatError, check_chip


class DnnResNet:
    """:meth:`descriptor` maps a 150x150 RGB chip to 128 float32 with a ``cv2.dnn`` network."""

    backend = "cv2.dnn"

    def __init__(self, model: bytes) -> None:
        """Reads a serialised ONNX model (see :mod:`camera.matching.onnx_export`).

        Raises :class:`ModelFormatError` when OpenCV cannot read it (truncated, not ONNX, an
        operator it lacks) or it does not map a chip to 128 numbers.
        """
        try:
            self._net = cv2.dnn.readNetFromONNX(np.frombuffer(model, dtype=np.uint8))
        except cv2.error as exc:
            raise ModelFormatError(f"cv2.dnn cannot read the ONNX model: {str(exc).strip().splitlines()[-1]}") from exc
        # The plain OpenCV CPU path: the results were checked against dlib on it.
        self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        probe = self.descriptor(np.zeros((150, 150, 3), dtype=np.uint8))
        if probe.shape != (128,) or not np.all(np.isfinite(probe)):
            raise ModelFormatError(f"the ONNX model gives {probe.shape} values, not 128 finite ones")

    def descriptor(self, chip_rgb: np.ndarray) -> np.ndarray:
        """The 128-float descriptor of an aligned 150x150 RGB uint8 chip (``dlib.get_face_chip``).

        Raises ``ValueError`` for any other shape or type.
        """
        check_chip(chip_rgb)
        # (1, 3, 150, 150) float32 in R, G, B planes, pixel values as they are: the graph
        # subtracts the means and scales.
        blob = chip_rgb.transpose(2, 0, 1)[np.newaxis].astype(np.float32)
        self._net.setInput(blob, INPUT_NAME)
        return self._net.forward().reshape(-1).astype(np.float32, copy=True)  # the graph's one output

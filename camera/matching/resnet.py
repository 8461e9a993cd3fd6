"""dlib's face-recognition ResNet, read from its own model file and run with numpy.

Why it exists: the ``dlib-bin`` wheel is built without BLAS, so dlib runs the descriptor network's
convolutions in its own loops: 75-100 ms per face on one core of the development machine, the
whole 1:1 budget (80 ms). The same weights run as im2col + one matrix product per convolution through numpy's
bundled OpenBLAS take about 22 ms, and give the same 128 numbers (float32 rounding apart: within
1e-4 of dlib's, checked by ``tests/test_matching_resnet.py`` on real faces). Jittered descriptors
(several randomly disturbed copies of the chip, used for reference photos) still go through dlib,
whose jitter sequence is part of the calibration.

The model file is dlib's serialisation of ``dlib_face_recognition_resnet_model_v1``: a ResNet of 29
convolutions over a 150x150 RGB chip. :func:`load_resnet` parses it (integers and floats in dlib's
portable encoding, tensors as little-endian float32) and checks that it is exactly that
architecture; anything else raises :class:`ModelFormatError` rather than computing a wrong vector.

Layer semantics reproduced from dlib: input ``(pixel - channel mean) / 256`` in R, G, B planes;
convolutions are cross-correlations with explicit padding; ``affine`` is a per-channel scale and
shift (folded here into the convolution before it, same result); a residual ``add_prev`` of two
tensors of different sizes adds them top-left aligned, missing elements counting as zero (this
happens in the last two down-sampling blocks, 3x3 + 4x4 -> 4x4 and 1x1 + 2x2 -> 2x2); the
descriptor is the 128-output ``fc`` of the global average, not normalised.

Thread rule: a :class:`ResNet` holds only read-only arrays; :meth:`ResNet.descriptor` may be
called from several threads. It uses numpy's BLAS threads: loading the models limits them to one
per process (see :func:`camera.matching.models.load_models`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHIP_SIZE_PX = 150  # the network's input side, checked against the model file
INPUT_SCALE = 256.0  # dlib's input layer: (pixel - channel mean) / 256
# (filters, residual blocks, first block halves the size) per level, input side first: dlib's
# "alevel4" .. "alevel0" of the face recognition example network.
_LEVELS = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


class ModelFormatError(ValueError):
    """The file is not dlib's face-recognition ResNet in the expected serialisation."""


# ---------------------------------------------------------------------------------- parsing
class _Reader:
    """Reads dlib's serialisation formats from bytes (``dlib/serialize.h``, ``dlib/dnn``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise ModelFormatError(f"file ends at byte {len(self.data)} inside a value at {self.pos}")
        chunk = self.data[self.pos: self.pos + count]
        self.pos += count
        return chunk

    def integer(self) -> int:
        """dlib's portable integer: a control byte (bit 7 = negative, low 4 bits = byte count),
        then the magnitude little-endian."""
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise ModelFormatError(f"integer of {size} bytes at {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        """dlib's portable float: an integer mantissa and an integer power-of-two exponent."""
        mantissa, exponent = self.integer(), self.integer()
        return float(np.ldexp(float(mantissa), exponent))

    def text(self) -> str:
        length = self.integer()
        return self._take(length).decode("latin-1")

    def flag(self) -> bool:
        return self._take(1) == b"1"

    def tensor(self) -> np.ndarray:
        """A ``resizable_tensor``: version 2, (n, k, rows, cols), then n*k*rows*cols float32 LE."""
        version = self.integer()
        if version != 2:
            raise ModelFormatError(f"tensor version {version} at {self.pos}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)
        return values.reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        """An ``alias_tensor`` (a view into the layer's parameters): version 1, its shape."""
        version = self.integer()
        if version != 1:
            raise ModelFormatError(f"alias tensor version {version} at {self.pos}")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]

    def at_end(self) -> bool:
        return self.pos == len(self.data)


@dataclass(frozen=True)
class _Layer:
    """One parsed layer: its dlib name and the values the forward pass needs."""

    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, fc
    params: np.ndarray | None = None
    shape: tuple[int, ...] = ()  # con: (filters, channels, rows, cols); fc: (inputs, outputs)
    stride: int = 1
    padding: int = 0
    window: int = 0  # pooling: rows = cols; 0 = the whole plane


def _layer(reader: _Reader) -> _Layer:
    """Parses one layer's details (its name tells the format), not the add_layer trailer."""
    name = reader.text()
    if name == "con_4":
        params = reader.tensor()
        filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(7))
        weights_shape, bias_shape = reader.alias(), reader.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers: training only
            reader.real()
        if rows != cols or stride_y != stride_x or pad_y != pad_x or weights_shape[0] != filters:
            raise ModelFormatError(f"unexpected convolution {filters}x{rows}x{cols} stride {stride_y}/{stride_x}")
        if bias_shape[1] != filters:
            raise ModelFormatError("convolution bias does not match its filters")
        return _Layer("con", params.ravel(), weights_shape, stride_y, pad_y)
    if name == "affine_":
        params = reader.tensor()
        gamma_shape, beta_shape = reader.alias(), reader.alias()
        mode = reader.integer()
        if mode != 0 or gamma_shape != beta_shape:  # 0 = per channel (CONV_MODE)
            raise ModelFormatError(f"affine layer in mode {mode}")
        return _Layer("affine", params.ravel(), gamma_shape)
    if name == "relu_":
        return _Layer("relu")
    if name == "add_prev_":
        return _Layer("add_prev")
    if name in ("max_pool_2", "avg_pool_2"):
        rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(6))
        if rows != cols or stride_y != stride_x or pad_y != 0 or pad_x != 0:
            raise ModelFormatError(f"unexpected pooling {rows}x{cols} stride {stride_y}/{stride_x}")
        return _Layer(name[:-2], window=rows, stride=stride_y)
    if name == "fc_2":
        outputs, inputs = reader.integer(), reader.integer()
        params = reader.tensor()
        reader.alias(), reader.alias()
        bias_mode = reader.integer()
        for _ in range(4):
            reader.real()
        if bias_mode != 1 or params.size != inputs * outputs:  # 1 = FC_NO_BIAS
            raise ModelFormatError(f"unexpected fully connected layer {inputs}->{outputs} bias mode {bias_mode}")
        return _Layer("fc", params.ravel(), (inputs, outputs))
    raise ModelFormatError(f"unexpected layer {name!r}")


def _expected_kinds() -> list[str]:
    """Layer kinds input side first, with 'tag' for dlib's tag/skip layers (no parameters)."""
    kinds = ["con", "affine", "relu", "max_pool"]
    for _filters, blocks, halves in _LEVELS:
        for index in range(blocks):
            down = halves and index == 0
            body = ["tag", "con", "affine", "relu", "con", "affine"]
            kinds += body + (["tag", "tag", "avg_pool", "add_prev"] if down else ["add_prev"]) + ["relu"]
    return kinds + ["avg_pool", "fc"]


def _parse(data: bytes) -> tuple[tuple[float, float, float], list[_Layer]]:
    """(channel means R, G, B; layers input side first) of the serialised network."""
    reader = _Reader(data)
    if reader.integer() != 1 or reader.text() != "loss_metric_2":
        raise ModelFormatError("not a dlib metric-learning network (loss_metric_2)")
    reader.real(), reader.real()  # margin and distance threshold of training
    # add_layer (2), tag/skip (1) versions, outermost first, down to the input layer's add_layer (3).
    nesting: list[int] = []
    while (version := reader.integer()) != 3:
        if version not in (1, 2) or len(nesting) > 500:
            raise ModelFormatError(f"unexpected layer version {version}")
        nesting.append(version)
    if reader.text() != "input_rgb_image_sized":
        raise ModelFormatError("the network does not take an RGB image")
    means = (reader.real(), reader.real(), reader.real())
    if (reader.integer(), reader.integer()) != (CHIP_SIZE_PX, CHIP_SIZE_PX):
        raise ModelFormatError("the network's input is not a 150x150 chip")
    layers: list[_Layer] = []
    kinds: list[str] = []
    # The innermost add_layer is not in `nesting` (it wrote version 3); every other entry wraps
    # the ones after it, so walking `nesting` backwards goes from the input side outwards.
    for depth, version in enumerate([3, *reversed(nesting)]):
        if version == 1:
            kinds.append("tag")
            continue
        layer = _layer(reader)
        for _ in range(3):  # setup/gradient flags, then three training buffers (empty when saved)
            reader.flag()
        for _ in range(3):
            reader.tensor()
        if depth == 0 and reader.integer() != 1:  # the input side's samples per input image
            raise ModelFormatError("the network expands each image into several samples")
        layers.append(layer)
        kinds.append(layer.kind)
    if not reader.at_end():
        raise ModelFormatError(f"{len(data) - reader.pos} bytes left after the network")
    if kinds != _expected_kinds():
        raise ModelFormatError("the layers are not those of dlib_face_recognition_resnet_model_v1")
    return means, layers


# ---------------------------------------------------------------------------------- the network
@dataclass(frozen=True)
class FoldedConv:
    """A convolution with its affine layer folded in.

    ``weights`` float32 (filters, channels * size * size), channel-major then rows then columns
    (dlib's and ONNX's order); ``bias`` float32 (filters,); ``size`` the square kernel side;
    ``stride``; ``padding`` zeros added on every side (px).
    """

    weights: np.ndarray
    bias: np.ndarray
    size: int
    stride: int
    padding: int

    @property
    def filters(self) -> int:
        """Output channels."""
        return int(self.weights.shape[0])

    @property
    def channels(self) -> int:
        """Input channels."""
        return int(self.weights.shape[1]) // (self.size * self.size)


def _fold(con: _Layer, affine: _Layer) -> FoldedConv:
    filters, channels, rows, cols = con.shape
    count = filters * channels * rows * cols
    weights = con.params[:count].reshape(filters, channels * rows * cols)
    bias = con.params[count: count + filters]
    gamma, beta = affine.params[:filters], affine.params[filters: 2 * filters]
    if affine.params.size != 2 * filters:
        raise ModelFormatError("affine layer does not match its convolution")
    # affine(conv(x)) = gamma * (W x + b) + beta = (gamma W) x + (gamma b + beta)
    return FoldedConv(np.ascontiguousarray(weights * gamma[:, None], dtype=np.float32),
                      (bias * gamma + beta).astype(np.float32), rows, con.stride, con.padding)


def _convolve(x: np.ndarray, conv: FoldedConv) -> np.ndarray:
    """Cross-correlation of x (channels, rows, cols) as one matrix product over its patches."""
    if conv.padding:
        x = np.pad(x, ((0, 0), (conv.padding, conv.padding), (conv.padding, conv.padding)))
    channels, rows, cols = x.shape
    size, stride = conv.size, conv.stride
    out_rows, out_cols = (rows - size) // stride + 1, (cols - size) // stride + 1
    s_c, s_r, s_k = x.strides
    patches = np.lib.stride_tricks.as_strided(
        x, (channels, size, size, out_rows, out_cols), (s_c, s_r, s_k, s_r * stride, s_k * stride))
    out = conv.weights @ patches.reshape(channels * size * size, out_rows * out_cols)
    out += conv.bias[:, None]
    return out.reshape(-1, out_rows, out_cols)


def _pool(x: np.ndarray, window: int, stride: int, reduce: str) -> np.ndarray:
    """Max or mean over window x window squares, no padding (dlib's pooling as configured)."""
    channels, rows, cols = x.shape
    out_rows, out_cols = (rows - window) // stride + 1, (cols - window) // stride + 1
    s_c, s_r, s_k = x.strides
    view = np.lib.stride_tricks.as_strided(
        x, (channels, out_rows, out_cols, window, window), (s_c, s_r * stride, s_k * stride, s_r, s_k))
    return view.max(axis=(3, 4)) if reduce == "max" else view.mean(axis=(3, 4), dtype=np.float32)


def _add_aligned(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """dlib's add_prev: sizes may differ; top-left aligned, missing elements are zero."""
    if a.shape == b.shape:
        return a + b
    shape = tuple(max(i, j) for i, j in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, dtype=np.float32)
    out[: a.shape[0], : a.shape[1], : a.shape[2]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2]] += b
    return out


@dataclass(frozen=True)
class Block:
    """One residual block: relu(second(relu(first(x))) + shortcut(x)), the sum top-left aligned.

    ``down``: the first convolution halves the size and the shortcut is a 2x2 mean (stride 2).
    """

    first: FoldedConv
    second: FoldedConv
    down: bool


class ResNet:
    """The descriptor network as data, and its forward pass in numpy.

    The public attributes are the whole network, input side first, read-only: ``means`` (R, G, B
    subtracted before the division by :data:`INPUT_SCALE`), ``stem`` (7x7 convolution, stride 2),
    ``stem_pool`` (max pool: window, stride), ``blocks``, ``fc`` float32 (256, 128) applied to the
    global mean. :mod:`camera.matching.onnx_export` writes the same structure as an ONNX graph.
    """

    backend = "numpy"

    def __init__(self, means: tuple[float, float, float], layers: list[_Layer]) -> None:
        weighted = [layer for layer in layers if layer.kind in ("con", "affine")]
        pairs = [_fold(weighted[i], weighted[i + 1]) for i in range(0, len(weighted), 2)]
        self.means: tuple[float, float, float] = means
        self._means = np.array(means, dtype=np.float32).reshape(3, 1, 1)
        self.stem = pairs[0]
        pool = next(layer for layer in layers if layer.kind == "max_pool")
        self.stem_pool: tuple[int, int] = (pool.window, pool.stride)
        blocks: list[Block] = []
        index = 1
        for _filters, count, halves in _LEVELS:
            for block in range(count):
                blocks.append(Block(pairs[index], pairs[index + 1], halves and block == 0))
                index += 2
        self.blocks: tuple[Block, ...] = tuple(blocks)
        fc = layers[-1]
        self.fc = np.ascontiguousarray(fc.params.reshape(fc.shape))  # (inputs, outputs)

    def descriptor(self, chip_rgb: np.ndarray) -> np.ndarray:
        """The 128-float descriptor of an aligned 150x150 RGB uint8 chip (``dlib.get_face_chip``).

        Raises ``ValueError`` for any other shape or type.
        """
        check_chip(chip_rgb)
        x = (chip_rgb.transpose(2, 0, 1).astype(np.float32) - self._means) / np.float32(INPUT_SCALE)
        x = _convolve(np.ascontiguousarray(x), self.stem)
        np.maximum(x, 0, out=x)
        x = _pool(x, *self.stem_pool, "max")
        for block in self.blocks:
            h = _convolve(x, block.first)
            np.maximum(h, 0, out=h)
            h = _convolve(h, block.second)
            shortcut = _pool(x, 2, 2, "mean") if block.down else x
            x = _add_aligned(h, shortcut)
            np.maximum(x, 0, out=x)
        pooled = x.mean(axis=(1, 2), dtype=np.float32)
        return (pooled @ self.fc).astype(np.float32)


def check_chip(chip_rgb: np.ndarray) -> None:
    """Raises ``ValueError`` unless ``chip_rgb`` is a 150x150 RGB uint8 array."""
    if not isinstance(chip_rgb, np.ndarray) or chip_rgb.shape != (CHIP_SIZE_PX, CHIP_SIZE_PX, 3) \
            or chip_rgb.dtype != np.uint8:
        shape, dtype = getattr(chip_rgb, "shape", None), getattr(chip_rgb, "dtype", type(chip_rgb))
        raise ValueError(f"a chip must be {CHIP_SIZE_PX}x{CHIP_SIZE_PX} RGB uint8, not {shape} {dtype}")


def load_resnet(path: Path) -> ResNet:
    """Reads ``dlib_face_recognition_resnet_model_v1.dat`` into a :class:`ResNet`.

    Raises ``OSError`` when the file cannot be read and :class:`ModelFormatError` when it is not
    that network (truncated, another model, another dlib serialisation version).
    """
    means, layers = _parse(Path(path).read_bytes())
    return ResNet(means, layers)


"""dlib's face-recognition ResNet written as an ONNX graph, for ``cv2.dnn`` to run.

The weights are data: they come from dlib's own file (parsed and checked by
:mod:`camera.matching.resnet`), and this module writes the same network, layer for layer, as an
ONNX model (opset 13). Nothing is trained or approximated: the graph computes what
:meth:`camera.matching.resnet.ResNet.descriptor` computes, with each ``affine`` layer folded into
its convolution the same way.

Graph input ``chip``: float32 (1, 3, 150, 150), R, G, B planes of the aligned chip in pixel values
0-255 (the mean subtraction and the division by 256 are in the graph, so the file is the whole
model). Output ``descriptor``: float32 (1, 128).

dlib's ``add_prev`` adds two tensors of different shapes aligned at their first channel, row and
column, missing elements counting as zero: every down-sampling block adds a shortcut of half the
channels (32 to 64, ...), and the last two also add a 3x3 to a 4x4 and a 1x1 to a 2x2 shortcut.
ONNX ``Add`` needs equal shapes, so each operand is zero-padded after its last channel, row and
column first (``Pad``), which is the same sum.

Pure function of its input; no file or network access, no logging.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from camera.matching import onnx_proto as pb
from camera.matching.resnet import CHIP_SIZE_PX, INPUT_SCALE, FoldedConv, ResNet

OPSET = 13  # Pad takes its pads as an input from 11 on; cv2.dnn 4.8+ reads opset 13
IR_VERSION = 7  # the IR of opset 12-13 (onnx.proto's IR_VERSION_2020_5_8 is 7)
INPUT_NAME = "chip"
OUTPUT_NAME = "descriptor"
# Bump when the written graph changes, so cached files of the old graph are not reused
# (camera.matching.face_model_file puts it in the file name).
EXPORT_VERSION = 1


class _GraphWriter:
    """Appends nodes and initializers to a GraphProto, naming values v0, v1, ... in order."""

    def __init__(self, graph: Any) -> None:  # an onnx.GraphProto of camera.matching.onnx_proto
        self.graph = graph
        self._count = 0

    def constant(self, name: str, array: np.ndarray) -> str:
        tensor = self.graph.initializer.add(name=name, dims=list(array.shape))
        if array.dtype == np.int64:
            tensor.data_type = pb.INT64
            tensor.raw_data = np.ascontiguousarray(array, dtype="<i8").tobytes()
        else:
            tensor.data_type = pb.FLOAT
            tensor.raw_data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        return name

    def node(self, op_type: str, inputs: list[str], output: str | None = None, **attributes: int | list[int]) -> str:
        if output is None:
            output = f"v{self._count}"
            self._count += 1
        node = self.graph.node.add(op_type=op_type, input=inputs, output=[output], name=f"{op_type}_{output}")
        for name, value in sorted(attributes.items()):
            if isinstance(value, list):
                node.attribute.add(name=name, ints=value, type=pb.ATTR_INTS)
            else:
                node.attribute.add(name=name, i=value, type=pb.ATTR_INT)
        return output

    def conv(self, x: str, conv: FoldedConv, name: str) -> str:
        weights = conv.weights.reshape(conv.filters, conv.channels, conv.size, conv.size)
        return self.node("Conv", [x, self.constant(f"{name}.weight", weights), self.constant(f"{name}.bias", conv.bias)],
                         kernel_shape=[conv.size, conv.size], strides=[conv.stride, conv.stride],
                         pads=[conv.padding] * 4)


def _declare(values: Any, name: str, shape: tuple[int, ...]) -> None:
    """Adds a float32 value of fixed ``shape`` to ``values`` (a graph's input or output list)."""
    value = values.add(name=name)
    value.type.tensor_type.elem_type = pb.FLOAT
    for side in shape:
        value.type.tensor_type.shape.dim.add(dim_value=side)


def _out_side(side: int, size: int, stride: int, padding: int = 0) -> int:
    """Output side of a convolution or pooling window (floor, as dlib and ONNX's ceil_mode=0)."""
    return (side + 2 * padding - size) // stride + 1


def build_model(net: ResNet, *, metadata: dict[str, str] | None = None) -> bytes:
    """The serialised ONNX ModelProto of ``net`` (about 22 MB: the float32 weights).

    ``metadata`` goes into the model's ``metadata_props`` (for example the source file's sha256).
    """
    model = pb.ModelProto(ir_version=IR_VERSION, producer_name="kiosk camera.matching.onnx_export",
                          producer_version=str(EXPORT_VERSION),
                          doc_string="dlib_face_recognition_resnet_model_v1, affine layers folded into the convolutions")
    model.opset_import.add(domain="", version=OPSET)
    for key, value in sorted((metadata or {}).items()):
        model.metadata_props.add(key=key, value=value)
    graph = model.graph
    graph.name = "dlib_face_recognition_resnet_model_v1"
    _declare(graph.input, INPUT_NAME, (1, 3, CHIP_SIZE_PX, CHIP_SIZE_PX))
    _declare(graph.output, OUTPUT_NAME, (1, net.fc.shape[1]))
    w = _GraphWriter(graph)

    means = np.array(net.means, dtype=np.float32).reshape(1, 3, 1, 1)
    x = w.node("Sub", [INPUT_NAME, w.constant("input.mean", means)])
    # 1/256 is a power of two: multiplying is exactly the division dlib does.
    x = w.node("Mul", [x, w.constant("input.scale", np.array([1.0 / INPUT_SCALE], dtype=np.float32))])
    x = w.node("Relu", [w.conv(x, net.stem, "stem")])
    side = _out_side(CHIP_SIZE_PX, net.stem.size, net.stem.stride, net.stem.padding)
    window, stride = net.stem_pool
    # ceil_mode is ONNX's default, written out because cv2.dnn's pooling layer defaults to ceil
    # (72 -> 36 instead of dlib's 35 after the stem) when the attribute is absent.
    x = w.node("MaxPool", [x], kernel_shape=[window, window], strides=[stride, stride], ceil_mode=0)
    side = _out_side(side, window, stride)
    channels = net.stem.filters
    for index, block in enumerate(net.blocks):
        h = w.node("Relu", [w.conv(x, block.first, f"block{index}.first")])
        h_side = _out_side(side, block.first.size, block.first.stride, block.first.padding)
        h = w.conv(h, block.second, f"block{index}.second")
        h_shape = (block.second.filters, _out_side(h_side, block.second.size, block.second.stride, block.second.padding))
        shortcut, s_shape = x, (channels, side)
        if block.down:
            shortcut = w.node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=0)
            s_shape = (channels, _out_side(side, 2, 2))
        channels, side = max(h_shape[0], s_shape[0]), max(h_shape[1], s_shape[1])
        h = _pad_to(w, h, h_shape, (channels, side), f"block{index}.pad_main")
        shortcut = _pad_to(w, shortcut, s_shape, (channels, side), f"block{index}.pad_shortcut")
        x = w.node("Relu", [w.node("Add", [h, shortcut])])
    x = w.node("Flatten", [w.node("GlobalAveragePool", [x])], axis=1)
    w.node("MatMul", [x, w.constant("fc.weight", net.fc)], output=OUTPUT_NAME)
    return model.SerializeToString()


def _pad_to(w: _GraphWriter, x: str, shape: tuple[int, int], target: tuple[int, int], name: str) -> str:
    """x (1, channels, side, side) zero-padded after its last channel, row and column to ``target``
    (channels, side): dlib's add_prev, which aligns its operands at channel 0, row 0, column 0."""
    if shape == target:
        return x
    more_channels, more_side = target[0] - shape[0], target[1] - shape[1]
    pads = np.array([0, 0, 0, 0, 0, more_channels, more_side, more_side], dtype=np.int64)  # N C H W begins, ends
    return w.node("Pad", [x, w.constant(name, pads)])  # mode "constant", value 0: the defaults

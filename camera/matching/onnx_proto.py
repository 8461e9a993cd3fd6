"""The part of ONNX's file format the face-model exporter writes, as protobuf message classes.

ONNX files are protobuf messages (``onnx/onnx.proto``, syntax proto2). The ``onnx`` package that
normally writes them is not a dependency of the kiosk; ``protobuf`` is (mediapipe needs it), and
its runtime can build message classes from a schema given as data, without ``protoc``. This module
declares the messages a plain inference graph needs, with the field numbers and types of
``onnx.proto`` (IR version 7 onwards; these fields have not changed since), in a private descriptor
pool so they never clash with the real ``onnx`` package's classes when both are imported.

Only what the exporter sets is declared; a reader of the written file (``cv2.dnn``, ``onnx``)
sees a standard ModelProto. ``tests/test_matching_onnx.py`` re-reads the file and, where the
``onnx`` package is installed, runs ``onnx.checker`` on it.

Thread rule: the classes are built once at import; messages are ordinary protobuf objects.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

# Enum values of onnx.proto, kept as plain integers (the fields are declared int32/enum-compatible).
FLOAT = 1  # TensorProto.DataType.FLOAT
INT64 = 7  # TensorProto.DataType.INT64
ATTR_INT = 2  # AttributeProto.AttributeType
ATTR_INTS = 7

_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_TYPES = {
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
}

# message -> (field name, number, label, type or message name); numbers from onnx.proto. A nested
# message ("A.B") comes after its parent.
_SCHEMA: dict[str, list[tuple[str, int, int, str]]] = {
    "StringStringEntryProto": [("key", 1, _OPTIONAL, "string"), ("value", 2, _OPTIONAL, "string")],
    "OperatorSetIdProto": [("domain", 1, _OPTIONAL, "string"), ("version", 2, _OPTIONAL, "int64")],
    "TensorProto": [
        ("dims", 1, _REPEATED, "int64"),
        ("data_type", 2, _OPTIONAL, "int32"),
        ("name", 8, _OPTIONAL, "string"),
        ("raw_data", 9, _OPTIONAL, "bytes"),  # little-endian, fixed width (float32 here)
    ],
    "AttributeProto": [
        ("name", 1, _OPTIONAL, "string"),
        ("i", 3, _OPTIONAL, "int64"),
        ("ints", 8, _REPEATED, "int64"),
        ("type", 20, _OPTIONAL, "int32"),  # an enum in onnx.proto: the same varint on the wire
    ],
    "NodeProto": [
        ("input", 1, _REPEATED, "string"),
        ("output", 2, _REPEATED, "string"),
        ("name", 3, _OPTIONAL, "string"),
        ("op_type", 4, _OPTIONAL, "string"),
        ("attribute", 5, _REPEATED, "AttributeProto"),
    ],
    "TensorShapeProto": [("dim", 1, _REPEATED, "TensorShapeProto.Dimension")],
    "TensorShapeProto.Dimension": [("dim_value", 1, _OPTIONAL, "int64")],
    "TypeProto": [("tensor_type", 1, _OPTIONAL, "TypeProto.Tensor")],
    "TypeProto.Tensor": [("elem_type", 1, _OPTIONAL, "int32"), ("shape", 2, _OPTIONAL, "TensorShapeProto")],
    "ValueInfoProto": [("name", 1, _OPTIONAL, "string"), ("type", 2, _OPTIONAL, "TypeProto")],
    "GraphProto": [
        ("node", 1, _REPEATED, "NodeProto"),
        ("name", 2, _OPTIONAL, "string"),
        ("initializer", 5, _REPEATED, "TensorProto"),
        ("doc_string", 10, _OPTIONAL, "string"),
        ("input", 11, _REPEATED, "ValueInfoProto"),
        ("output", 12, _REPEATED, "ValueInfoProto"),
    ],
    "ModelProto": [
        ("ir_version", 1, _OPTIONAL, "int64"),
        ("producer_name", 2, _OPTIONAL, "string"),
        ("producer_version", 3, _OPTIONAL, "string"),
        ("doc_string", 6, _OPTIONAL, "string"),
        ("graph", 7, _OPTIONAL, "GraphProto"),
        ("opset_import", 8, _REPEATED, "OperatorSetIdProto"),
        ("metadata_props", 14, _REPEATED, "StringStringEntryProto"),
    ],
}


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """``onnx.proto`` reduced to :data:`_SCHEMA`, nested messages (``A.B``) inside their parent."""
    proto = descriptor_pb2.FileDescriptorProto(name="kiosk_onnx_subset.proto", package="onnx", syntax="proto2")
    declared: dict[str, descriptor_pb2.DescriptorProto] = {}
    for full_name, fields in _SCHEMA.items():
        parent, _, own = full_name.rpartition(".")
        container = declared[parent].nested_type if parent else proto.message_type
        message = declared[full_name] = container.add(name=own)
        for name, number, label, kind in fields:
            field = message.field.add(name=name, number=number, label=label)
            if kind in _TYPES:
                field.type = _TYPES[kind]
            else:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                field.type_name = f".onnx.{kind}"
    return proto


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file_descriptor())


def _message_class(name: str) -> type:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"onnx.{name}"))


#: The file's top-level message; the others are reached through its fields.
ModelProto = _message_class("ModelProto")

#!/usr/bin/python3
# Writes the seed graphs of fuzz/fuzz_graph.cc (its header documents the byte format) into this
# folder: a few small graphs per op family, with the int64 extremes the shape ops must survive.
# Run from the repository root: /usr/bin/python3 fuzz/corpus/graph/make_seeds.py (deterministic).
import os
import struct

OUT = os.path.dirname(os.path.abspath(__file__))
# fuzz_graph.cc's op table order (kOnnx, then kEffi).
ONNX = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Relu", "Neg", "Abs", "Sqrt", "Exp",
        "Log", "Erf", "Sigmoid", "Tanh", "Reciprocal", "Floor", "Ceil", "Clip", "Equal", "Less", "Greater",
        "LessOrEqual", "GreaterOrEqual", "Not", "Where", "Cast", "Conv", "AveragePool", "MaxPool",
        "GlobalAveragePool", "MatMul", "Gemm", "BatchNormalization", "LayerNormalization", "ReduceMean",
        "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL2", "Softmax",
        "LogSoftmax", "ArgMax", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Shape",
        "Size", "Transpose", "Concat", "Split", "Slice", "Gather", "Expand", "Tile", "ConstantOfShape", "Range"]
EFFI = ["Gelu", "Conv", "AvgPool", "GlobalAvgPool", "PoolMixer", "Linear", "Attention", "PackedAttention"]
OPS = {name: i for i, name in enumerate(ONNX)}
OPS.update({"effi." + name: len(ONNX) + i for i, name in enumerate(EFFI)})
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def i64(v):
    # Int64(): small values by selector, anything else as 8 raw bytes after selector 255.
    if -8 <= v < 24:
        return bytes([v + 8])
    return bytes([255]) + struct.pack("<q", v)


def f32(v):
    # Float(): the raw-bytes selector (the table has 20 entries).
    return bytes([20]) + struct.pack("<f", v)


def inp(*dims):
    return bytes([len(dims)] + list(dims))


def const_i64(values, shape=None):
    shape = [len(values)] if shape is None else shape
    return bytes([0, len(shape)] + shape) + b"".join(i64(v) for v in values)


def const_f32(values, shape=None):
    shape = [len(values)] if shape is None else shape
    return bytes([1, len(shape)] + shape) + b"".join(f32(v) for v in values)


def node(op, inputs, outputs=0, attrs=b"", n_attrs=0):
    # outputs: extra outputs beyond the minimum; attrs: (name index, kind byte, value) already encoded.
    return struct.pack("<H", OPS[op]) + bytes([len(inputs)] + inputs + [outputs, n_attrs]) + attrs


def graph(flags, inputs, consts, nodes, outputs, min_inputs):
    # Node input counts are encoded as offsets from the op's minimum.
    body = bytes([flags, len(inputs)]) + b"".join(inputs) + bytes([len(consts)]) + b"".join(consts)
    body += bytes([len(nodes) - 1])
    for n, m in zip(nodes, min_inputs):
        op, count = n[:2], n[2]
        body += op + bytes([count - m]) + n[3:]
    return body + bytes([len(outputs) - 1] + outputs)


SEEDS = {
    # x[1,3,4,4] + c[4]; values: 0 x, 1 c, 2 add
    "add_broadcast": graph(0, [inp(1, 3, 4, 4)], [const_f32([1.0, -2.0, 0.5, float("inf")])],
                           [node("Add", [0, 1])], [2], [2]),
    # ConstantOfShape([3, 4]) tiled by [INT64_MAX, 1]: 0 shape, 1 reps, 2 cos, 3 tile
    "tile_extreme": graph(2, [], [const_i64([3, 4]), const_i64([INT64_MAX, 1])],
                          [node("ConstantOfShape", [0]), node("Tile", [2, 1])], [3], [1, 2]),
    # Range(INT64_MIN, INT64_MAX, 1)
    "range_extreme": graph(2, [], [const_i64([INT64_MIN], []), const_i64([INT64_MAX], []), const_i64([1], [])],
                           [node("Range", [0, 1, 2])], [3], [3]),
    # Slice(x[3,5], starts [INT64_MIN], ends [INT64_MAX], axes [0], steps [-1])
    "slice_extreme": graph(0, [inp(3, 5)], [const_i64([INT64_MIN]), const_i64([INT64_MAX]), const_i64([0]),
                                            const_i64([-1])],
                           [node("Slice", [0, 1, 2, 3, 4])], [5], [1]),
    # MatMul of x[2,3] and a [3,2] constant, then Relu
    "matmul_relu": graph(0, [inp(2, 3)], [const_f32([1, 2, 3, 4, 5, 6], [3, 2])],
                         [node("MatMul", [0, 1]), node("Relu", [2])], [3], [2, 1]),
    # Shape(x) -> Expand(x, shape), Neg and Abs of an int64 constant with INT64_MIN
    "shape_expand_neg": graph(4, [inp(2, 1, 3)], [const_i64([INT64_MIN, 3])],
                              [node("Shape", [0]), node("Expand", [0, 2]), node("Neg", [1]), node("Abs", [1])],
                              [3, 4, 5], [1, 2, 1, 1]),
    # Reshape x[2,6] to [3, -1] with allowzero, Transpose, Softmax; passes off (flag bit 0)
    "reshape_transpose_softmax": graph(1, [inp(2, 6)], [const_i64([3, -1])],
                                       [node("Reshape", [0, 1]), node("Transpose", [2]), node("Softmax", [3])],
                                       [4], [2, 1, 1]),
    # Split x[6] into 2 outputs (one extra), Concat them back, Cast the result (no attributes)
    "split_concat": graph(0, [inp(6)], [], [node("Split", [0], 1), node("Concat", [1, 2])], [3], [1, 1]),
}


def main():
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

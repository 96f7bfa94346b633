#!/usr/bin/python3
# Writes the small malformed / hostile ONNX files under tests/testdata/hostile/ that
# tests/onnx/hostile_model_test.cc loads (each must fail with one clean effi::Error).
# Run from the repository root: /usr/bin/python3 tests/testdata/make_hostile_models.py
# Deterministic: a rerun gives byte-identical files.
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile")
F = TensorProto.FLOAT


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits=(), opset=13, domains=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(g, opset_imports=opsets, producer_name="effi-hostile")
    m.ir_version = 8
    return m


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def save(name, m):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(m.SerializeToString() if hasattr(m, "SerializeToString") else m)


def relu_model(inits=(), x_shape=(2, 3)):
    return model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", list(x_shape))],
                 [vi("y", list(x_shape))], inits)


def raw_init(name, dims, raw=b"", data_type=F):
    t = TensorProto(name=name, data_type=data_type, dims=dims)
    if raw is not None:
        t.raw_data = raw
    return t


def add_with(init):
    # y = x + w where w is the given initializer.
    return model([helper.make_node("Add", ["x", init.name], ["y"], name="add")], [vi("x", [4])], [vi("y", [4])],
                 [init])


def external(name, location, offset=None, length=None, nbytes=64):
    t = TensorProto(name="w", data_type=F, dims=[nbytes // 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    m = model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [vi("x", [nbytes // 4])],
              [vi("y", [nbytes // 4])], [t])
    save(name, m)


def main():
    os.makedirs(OUT, exist_ok=True)
    save("empty.onnx", b"")

    # Sizes: huge or negative dims on initializers and inputs, byte-count mismatches.
    save("init_dim_2e40.onnx", add_with(raw_init("w", [1 << 40], None)))
    save("init_dims_overflow.onnx", add_with(raw_init("w", [1 << 62, 1 << 62, 16], None)))
    save("init_negative_dim.onnx", add_with(raw_init("w", [-4], b"\0" * 16)))
    save("init_raw_size_mismatch.onnx", add_with(raw_init("w", [4], b"\0" * 12)))
    bad_float = TensorProto(name="w", data_type=F, dims=[4], float_data=[1, 2, 3])
    save("init_float_data_mismatch.onnx", add_with(bad_float))
    save("input_dim_2e40.onnx", relu_model(x_shape=(1 << 40, 3)))
    save("input_dims_product_2e40.onnx", relu_model(x_shape=(1 << 20, 1 << 20)))
    save("input_negative_dim.onnx", relu_model(x_shape=(-5, 3)))

    # Graph structure.
    save("cycle.onnx", model([helper.make_node("Add", ["x", "c"], ["a"], name="first"),
                              helper.make_node("Relu", ["a"], ["c"], name="second")],
                             [vi("x", [4])], [vi("c", [4])]))
    save("missing_initializer.onnx", model([helper.make_node("MatMul", ["x", "weight"], ["y"], name="mm")],
                                           [vi("x", [2, 3])], [vi("y", [2, 5])]))
    save("output_produced_twice.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="one"),
                                              helper.make_node("Neg", ["x"], ["y"], name="two")],
                                             [vi("x", [4])], [vi("y", [4])]))
    save("output_never_produced.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                                             [vi("x", [4])], [vi("z", [4])]))
    save("no_outputs.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", [4])], []))
    no_graph = onnx.ModelProto(ir_version=8)
    no_graph.opset_import.add(version=13)
    save("no_graph.onnx", no_graph)
    save("opset_99.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", [4])],
                                [vi("y", [4])], opset=99))

    # Ops effi does not implement, or implements differently.
    save("unsupported_op.onnx", model([helper.make_node("GridSample", ["x", "grid"], ["y"], name="warp_node")],
                                      [vi("x", [1, 1, 4, 4]), vi("grid", [1, 4, 4, 2])], [vi("y", [1, 1, 4, 4])]))
    save("unknown_attribute.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="relu", fancy=3)],
                                         [vi("x", [4])], [vi("y", [4])]))
    save("custom_domain.onnx", model([helper.make_node("FastGelu", ["x"], ["y"], name="custom_node",
                                                       domain="com.example")],
                                     [vi("x", [4])], [vi("y", [4])], domains=["com.example"]))
    # ONNX defines Mean for floating types only: an int64 Mean is refused, not computed.
    save("mean_int64.onnx", model([helper.make_node("Mean", ["a", "b"], ["y"], name="avg")],
                                  [vi("a", [4], TensorProto.INT64), vi("b", [4], TensorProto.INT64)],
                                  [vi("y", [4], TensorProto.INT64)]))

    # Inconsistent shapes.
    save("matmul_inner_mismatch.onnx", model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                                             [vi("x", [2, 3])], [vi("y", [2, 5])],
                                             [const("w", np.ones((4, 5), np.float32))]))
    save("add_not_broadcastable.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                                             [vi("x", [2, 3])], [vi("y", [2, 3])],
                                             [const("w", np.ones((4,), np.float32))]))
    save("reshape_impossible.onnx", model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")],
                                          [vi("x", [2, 3])], [vi("y", [4, 5])],
                                          [const("shape", np.array([4, 5], np.int64))]))
    save("reshape_two_minus_one.onnx", model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")],
                                             [vi("x", [2, 3])], [vi("y", [6])],
                                             [const("shape", np.array([-1, -1], np.int64))]))

    # Bad attribute / constant values that would divide by zero, index out of bounds or allocate
    # absurd amounts at compile time if not checked.
    save("conv_stride_zero.onnx", model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", strides=[0, 0])],
                                        [vi("x", [1, 1, 4, 4])], [vi("y", [1, 1, 4, 4])],
                                        [const("w", np.ones((1, 1, 1, 1), np.float32))]))
    save("pool_kernel_zero.onnx", model([helper.make_node("AveragePool", ["x"], ["y"], name="pool",
                                                          kernel_shape=[0, 0])],
                                        [vi("x", [1, 1, 4, 4])], [vi("y", [1, 1, 4, 4])]))
    save("gather_index_out_of_range.onnx", model(
        [helper.make_node("Gather", ["table", "idx"], ["y"], name="gather", axis=0)], [], [vi("y", [2])],
        [const("table", np.arange(4, dtype=np.float32)), const("idx", np.array([1, 1000000], np.int64))]))
    save("transpose_bad_perm.onnx", model([helper.make_node("Transpose", ["x"], ["y"], name="t", perm=[0, 0])],
                                          [vi("x", [2, 3])], [vi("y", [2, 3])]))
    save("range_huge.onnx", model([helper.make_node("Range", ["s", "l", "d"], ["y"], name="range")], [],
                                  [vi("y", [None])],
                                  [const("s", np.array(0, np.int64)), const("l", np.array(1 << 60, np.int64)),
                                   const("d", np.array(1, np.int64))]))
    save("expand_huge.onnx", model([helper.make_node("Expand", ["x", "shape"], ["y"], name="expand")],
                                   [vi("x", [1, 1])], [vi("y", [None, None])],
                                   [const("shape", np.array([1 << 20, 1 << 20], np.int64))]))
    save("split_bad_sizes.onnx", model([helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split", axis=0)],
                                       [vi("x", [4])], [vi("a", [None]), vi("b", [None])],
                                       [const("sizes", np.array([3, 3], np.int64))]))
    save("softmax_axis_out_of_range.onnx", model([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=5)],
                                                 [vi("x", [2, 3])], [vi("y", [2, 3])]))

    # External data: escaping the folder, absolute, past the end of the file, missing file; and a
    # good one (ext_ok.onnx + ext_data.bin, 16 floats 0..15) that must load.
    with open(os.path.join(OUT, "ext_data.bin"), "wb") as f:
        f.write(np.arange(16, dtype=np.float32).tobytes())
    external("ext_ok.onnx", "ext_data.bin", 0, 64)
    external("ext_escape.onnx", "../hostile/ext_data.bin", 0, 64)
    external("ext_absolute.onnx", "/etc/passwd", 0, 64)
    external("ext_beyond_end.onnx", "ext_data.bin", 32, 64)
    external("ext_offset_past_end.onnx", "ext_data.bin", 1 << 40, 64)
    external("ext_length_mismatch.onnx", "ext_data.bin", 0, 32)
    external("ext_missing_file.onnx", "no_such_file.bin", 0, 64)

    # Deeply nested subgraphs (If/then_branch inside If...): must hit the parser's recursion limit.
    leaf = helper.make_graph([], "leaf", [], [])
    inner = leaf
    for depth in range(200):
        node = helper.make_node("If", ["cond"], [], name="if%d" % depth, then_branch=inner, else_branch=leaf)
        inner = helper.make_graph([node], "level%d" % depth, [], [])
    deep = model([helper.make_node("If", ["cond"], ["y"], name="top", then_branch=inner, else_branch=leaf)],
                 [vi("cond", [], TensorProto.BOOL)], [vi("y", [1])])
    save("deep_nesting.onnx", deep)


if __name__ == "__main__":
    main()

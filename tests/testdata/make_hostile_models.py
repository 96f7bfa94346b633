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


def _io_cases():
    # External data that must stay in the model's folder after symlinks, and be a regular file.
    # Symlinks, fifos and directories cannot live in the repository: tests/onnx/hostile_model_test.cc
    # copies these models into a scratch folder and creates each location's target there.
    external("io_link_passwd.onnx", "passwd.bin", 0, 64)             # passwd.bin -> /etc/passwd
    external("io_link_outside.onnx", "secret_link.bin", 0, 64)       # -> ../outside/secret.bin
    external("io_link_dir.onnx", "outside_dir/secret.bin", 0, 64)    # outside_dir -> ../outside
    external("io_fifo.onnx", "fifo.bin", 0, 64)                      # a named pipe
    external("io_directory.onnx", "a_directory", 0, 64)              # a directory
    external("io_link_inside.onnx", "alias.bin", 0, 64)              # alias.bin -> ext_data.bin: loads
    external("io_link_inside_dir.onnx", "inner_link/ext_data.bin", 0, 64)  # inner_link -> inner: loads
    # A NUL in the location (the OS would stop the name there): refused, and the message shows it.
    external("io_nul_location.onnx", "ext_data.bin\0/../../etc/passwd", 0, 64)

    # A 3-class "classifier" (mean over H, W of a [1, 3, 8, 8] image) whose labels metadata would
    # write to the terminal: a newline with a forged error line, and ANSI colour escapes. The CLI
    # must print them escaped (tests/cli/cli_test.cc).
    m = model([helper.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=[2, 3], keepdims=0)],
              [vi("x", [1, 3, 8, 8])], [vi("y", [1, 3])])
    helper.set_model_props(m, {"labels": '["plain", "two\\neffi: error: fake", "\\u001b[31mred\\u001b[0m"]'})
    save("io_labels_terminal.onnx", m)

    # A Conv weight with 0 output channels: `effi inspect` computed MACs as elements / w[0].
    save("conv_zero_out_channels.onnx", model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")],
                                              [vi("x", [1, 1, 4, 4])], [vi("y", [1, 0, 4, 4])],
                                              [const("w", np.ones((0, 1, 1, 1), np.float32))]))


def _arith_cases():
    # int64 shape arithmetic at the extremes (issue 15, class 5) and pooling pads >= kernel (6a):
    # each must be one clean kInvalidModel error naming the node, never overflow UB or SIGFPE.
    i64 = TensorProto.INT64
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max

    def slice_model(name, starts, ends, steps):
        save(name, model([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"], name="slice")],
                         [vi("x", [3, 5])], [vi("y", [None, 5])],
                         [const("s", np.array(starts, np.int64)), const("e", np.array(ends, np.int64)),
                          const("a", np.array([0], np.int64)), const("st", np.array(steps, np.int64))]))

    def range_model(name, s, l, d, dtype=np.int64):
        save(name, model([helper.make_node("Range", ["s", "l", "d"], ["y"], name="range")], [],
                         [vi("y", [None], F if dtype == np.float32 else i64)],
                         [const("s", np.array(s, dtype)), const("l", np.array(l, dtype)),
                          const("d", np.array(d, dtype))]))

    slice_model("arith_slice_step_zero.onnx", [lo], [hi], [0])
    range_model("arith_range_int64_span.onnx", lo, hi, 1)            # 2^64 - 1 elements
    range_model("arith_range_float_inf.onnx", 0, np.inf, 1, np.float32)
    range_model("arith_range_float_nan.onnx", 0, np.nan, 1, np.float32)
    save("arith_split_sum_overflow.onnx",
         model([helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split", axis=0)],
               [vi("x", [4])], [vi("a", [None]), vi("b", [None])],
               [const("sizes", np.array([hi, 2], np.int64))]))
    save("arith_tile_overflow.onnx", model([helper.make_node("Tile", ["x", "r"], ["y"], name="tile")],
                                           [vi("x", [2, 3])], [vi("y", [None, None])],
                                           [const("r", np.array([1 << 62, 1], np.int64))]))
    # group = INT64_MAX with 0 input channels: group "divides" 0, and weight channels * group overflowed.
    save("arith_conv_group_huge.onnx",
         model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", group=int(hi))],
               [vi("x", [1, 0, 4, 4])], [vi("y", [1, 0, 4, 4])],
               [const("w", np.ones((0, 2, 1, 1), np.float32))]))
    # A declared input with a 0 dim beside dims whose product overflows int64.
    save("arith_flatten_dims_overflow.onnx",
         model([helper.make_node("Flatten", ["x"], ["y"], name="flatten", axis=1)],
               [vi("x", [0, 1 << 31, 1 << 31, 1 << 31])], [vi("y", [None, None])]))
    # effi's own fused ops may appear in a file: their attributes are validated like ONNX ones.
    save("arith_effi_conv_stride_zero.onnx",
         model([helper.make_node("Conv", ["x", "w"], ["y"], name="econv", domain="effi", strides=[0, 0])],
               [vi("x", [1, 4, 4, 2])], [vi("y", [1, 4, 4, 3])],
               [const("w", np.ones((3, 1, 1, 2), np.float32))], domains=["effi"]))
    # Pads >= kernel (ONNX Runtime refuses them; effi's MaxPool output -inf).
    save("arith_maxpool_pad_ge_kernel.onnx",
         model([helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], pads=[3, 0, 0, 0])],
               [vi("x", [1, 1, 4, 4])], [vi("y", [None, None, None, None])]))
    save("arith_avgpool_pad_eq_kernel.onnx",
         model([helper.make_node("AveragePool", ["x"], ["y"], name="avg", kernel_shape=[2], pads=[0, 2])],
               [vi("x", [1, 1, 5])], [vi("y", [None, None, None])]))


def _memory_cases():
    # Tiny files that would allocate gigabytes (issue 15, class 4): each must be refused by the
    # memory limit (default 512 MiB) before the allocation, naming the node.
    def const_of_shape(name, out, value=1.0):
        # out = ConstantOfShape(out_shape), the shape being an initializer named out_shape.
        return helper.make_node("ConstantOfShape", [out + "_shape"], [out], name=name,
                                value=helper.make_tensor("v", F, [1], [value]))

    # Folded at load: a 2 GiB constant.
    save("mem_constant_of_shape.onnx", model([const_of_shape("cos", "y")], [], [vi("y", [None])],
                                             [const("y_shape", np.array([1 << 29], np.int64))]))
    # Computed at run time: a [1] input expanded to 2^30 floats (4 GiB of activations).
    save("mem_expand.onnx", model([helper.make_node("Expand", ["x", "shape"], ["y"], name="expand")],
                                  [vi("x", [1])], [vi("y", [None])],
                                  [const("shape", np.array([1 << 30], np.int64))]))
    # Two small constants whose product is 2^30 floats.
    save("mem_matmul_consts.onnx",
         model([const_of_shape("a", "a"), const_of_shape("b", "b", 2.0),
                helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")], [], [vi("y", [None, None])],
               [const("a_shape", np.array([4096, 1], np.int64)),
                const("b_shape", np.array([1, 262144], np.int64))]))
    # 32 copies of a 64 MiB constant (2 GiB in all), each fold well under the limit: the running
    # total of folded bytes must stop it.
    nodes = [const_of_shape("c0", "t0")]
    for i in range(1, 33):
        nodes.append(helper.make_node("Tile", ["t%d" % (i - 1), "reps"], ["t%d" % i], name="tile%d" % i))
    save("mem_tile_chain.onnx", model(nodes, [], [vi("t32", [None])],
                                      [const("t0_shape", np.array([1 << 24], np.int64)),
                                       const("reps", np.array([1], np.int64))]))
    # Activations, not constants: an image tiled to [1, 3, 14336, 25088] floats (4 GiB).
    save("mem_tile_activation.onnx", model([helper.make_node("Tile", ["x", "reps"], ["y"], name="tile")],
                                           [vi("x", [1, 3, 224, 224])], [vi("y", [None] * 4)],
                                           [const("reps", np.array([1, 1, 64, 112], np.int64))]))


def main():
    os.makedirs(OUT, exist_ok=True)
    _memory_cases()
    _arith_cases()
    _io_cases()
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

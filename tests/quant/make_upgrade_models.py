#!/usr/bin/env python3
"""Tiny opset-11 models for qdq_export_test (regenerate: /usr/bin/python3 tests/quant/make_upgrade_models.py).

- upgrade_op11.onnx: every op whose form changed between opsets 11 and 13 that effi runs, with
  no Conv/Gemm/MatMul, so WriteQdq only moves it to opset 13 and the two files must give the same
  outputs: Softmax over a middle axis (opset 11 flattens at it), LogSoftmax over the last axis,
  Split with a `split` attribute, Squeeze/Unsqueeze/ReduceSum with `axes` attributes, Dropout with
  a `ratio` attribute; Resize (roi required at 11, optional at 13) and Pad, as EfficientFormerV2
  has them.
- hardmax_op11.onnx: Hardmax (not an op effi runs): quantize must refuse to move it to opset 13.
- tf_nn_resize_op11.onnx: Resize with coordinate mode tf_half_pixel_for_nn, which Resize-13 dropped:
  refused too.
- linear_op11.onnx: MatMul with a [K, N] weight, Gemm with transB=0 and a bias, Gemm with alpha=2
  (bias left float), Conv without bias, a MatMul of two activations.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


def save(graph, name, opset=11):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="make_upgrade_models.py")
    model.ir_version = 6  # what torch 1.13 writes at opset 11
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, name))


def upgrade():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 5])
    nodes = [
        helper.make_node("Softmax", ["x"], ["y_softmax"], name="softmax_axis1", axis=1),
        helper.make_node("LogSoftmax", ["x"], ["y_logsoftmax"], name="logsoftmax_last", axis=3),
        helper.make_node("Split", ["x"], ["s0", "s1"], name="split", axis=1, split=[1, 2]),
        helper.make_node("Squeeze", ["s0"], ["sq"], name="squeeze", axes=[1]),
        helper.make_node("Unsqueeze", ["sq"], ["y_unsqueeze"], name="unsqueeze", axes=[0]),
        helper.make_node("ReduceSum", ["s1"], ["y_reducesum"], name="reducesum", axes=[2],
                         keepdims=1),
        helper.make_node("Dropout", ["x"], ["y_dropout"], name="dropout", ratio=0.3),
        helper.make_node("Resize", ["x", "roi", "scales"], ["y_resize"], name="resize",
                         mode="linear", coordinate_transformation_mode="half_pixel"),
        helper.make_node("Pad", ["x", "pads"], ["y_pad"], name="pad", mode="reflect"),
    ]
    inits = [numpy_helper.from_array(np.zeros([0], np.float32), "roi"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in [
        ("y_softmax", [2, 3, 4, 5]), ("y_logsoftmax", [2, 3, 4, 5]), ("y_unsqueeze", [1, 2, 4, 5]),
        ("y_reducesum", [2, 2, 1, 5]), ("y_dropout", [2, 3, 4, 5]), ("y_resize", [2, 3, 8, 10]),
        ("y_pad", [2, 3, 6, 7])]]
    save(helper.make_graph(nodes, "upgrade", [x], outs, inits), "upgrade_op11.onnx")


def hardmax():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    save(helper.make_graph([helper.make_node("Hardmax", ["x"], ["y"], name="hm")], "hardmax",
                           [x], [y]), "hardmax_op11.onnx")


def tf_nn_resize():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])
    inits = [numpy_helper.from_array(np.zeros([0], np.float32), "roi"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    node = helper.make_node("Resize", ["x", "roi", "scales"], ["y"], name="up", mode="nearest",
                            coordinate_transformation_mode="tf_half_pixel_for_nn")
    save(helper.make_graph([node], "tf_nn", [x], [y], inits), "tf_nn_resize_op11.onnx")


def linear():
    rng = np.random.default_rng(12)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    inits = [numpy_helper.from_array(a, n) for a, n in [
        (f(3, 2, 3, 3), "conv_w"),            # Conv [O=3, I=2, 3, 3], no bias
        (f(16, 5), "mm_w"),                   # MatMul B [K=16, N=5]: per-channel axis 1
        (f(5, 6), "gemm_w"), (f(6), "gemm_b"),  # Gemm transB=0: B [K, N], axis 1, int32 bias
        (f(4, 6), "gemm2_w"), (f(4), "gemm2_b"),  # Gemm alpha=2, transB=1: bias stays float
    ]]
    nodes = [
        helper.make_node("Conv", ["x", "conv_w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c"], ["r0"], name="flatten", axis=1),
        helper.make_node("Slice", ["r0", "starts", "ends", "axes"], ["r"], name="slice"),
        helper.make_node("MatMul", ["r", "mm_w"], ["m"], name="matmul"),
        helper.make_node("Gemm", ["m", "gemm_w", "gemm_b"], ["g"], name="gemm"),
        helper.make_node("Gemm", ["g", "gemm2_w", "gemm2_b"], ["g2"], name="gemm_alpha", alpha=2.0,
                         transB=1),
        helper.make_node("Transpose", ["g2"], ["g2t"], name="transpose", perm=[1, 0]),
        helper.make_node("MatMul", ["g2t", "g2"], ["y"], name="act_matmul"),
    ]
    inits += [numpy_helper.from_array(np.array(v, np.int64), n)
              for v, n in [([0], "starts"), ([16], "ends"), ([1], "axes")]]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])
    save(helper.make_graph(nodes, "linear", [x], [y], inits), "linear_op11.onnx")


if __name__ == "__main__":
    os.makedirs(HERE, exist_ok=True)
    upgrade()
    hardmax()
    tf_nn_resize()
    linear()
    print("wrote", sorted(os.listdir(HERE)))

#!/usr/bin/python3
"""Writes the models tests/cli/eval_test.cc needs that cannot be made in C++ (no protobuf there).

  no_class_dim.onnx: a float32 [1,3,8,8] image input and a rank-1 output [1] (the mean of the
  image): a valid model, but no classifier, so `effi eval` must refuse it with one error line.
  three_classes.onnx: [1,3,8,8] -> global average pool -> [1,3] "logits": a valid classifier
  with 3 classes (beside a 10-class model agreement is undefined: one error line).
  nan_output.onnx: the same followed by log(-|x|): every output is -inf or NaN, which eval
  reports as one error line instead of counting it as a miss.

Run from anywhere: /usr/bin/python3 tests/cli/make_eval_testdata.py
"""
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


def no_class_dim():
    node = helper.make_node("ReduceMean", ["data"], ["output"], axes=[1, 2, 3], keepdims=0)
    graph = helper.make_graph(
        [node], "no_class_dim",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="effi tests/cli/make_eval_testdata.py")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def pooled(name, extra_ops):
    """[1,3,8,8] -> GlobalAveragePool -> Flatten -> extra_ops... -> output [1,3]."""
    nodes = [helper.make_node("GlobalAveragePool", ["data"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"], axis=1)]
    last = "flat"
    for i, op in enumerate(extra_ops):
        out = "output" if i == len(extra_ops) - 1 else f"t{i}"
        nodes.append(helper.make_node(op, [last], [out]))
        last = out
    if not extra_ops:
        nodes.append(helper.make_node("Identity", [last], ["output"]))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="effi tests/cli/make_eval_testdata.py")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    onnx.save(no_class_dim(), os.path.join(OUT, "no_class_dim.onnx"))
    onnx.save(pooled("three_classes", []), os.path.join(OUT, "three_classes.onnx"))
    onnx.save(pooled("nan_output", ["Abs", "Neg", "Log"]), os.path.join(OUT, "nan_output.onnx"))

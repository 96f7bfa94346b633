#!/usr/bin/python3
"""Writes the small models tests/api/image_api_test.cc needs (no protobuf in the tests to make them).

Every model is a 3-class "classifier": a float32 [N,3,8,8] image -> GlobalAveragePool -> Flatten ->
[N,3] scores (the mean of each colour plane), so the expected class of a solid-colour image is known.
They differ in their batch axis, output and metadata:
  cls3.onnx               batch 1, labels ["red", "green", "blue"], preprocess input_size 8x8,
                          crop_pct 1.0 (so a resize of the whole image), mean 0, std 1
  cls3_dyn.onnx           the same with a dynamic batch axis (Classify of a list runs one batch)
  cls3_nometa.onnx        no metadata: timm's defaults at 8x8, labels are the indices
  bad_labels.onnx         labels metadata that is not JSON            -> kInvalidModel
  labels_count.onnx       2 labels for 3 classes                       -> kInvalidArgument
  deep_preprocess.onnx    preprocess metadata nested 100 levels        -> kInvalidModel
  big_preprocess.onnx     preprocess metadata of 70,000 bytes          -> kInvalidModel
  preprocess_size.onnx    preprocess input_size 16x16 for an 8x8 input -> kInvalidArgument
  nan_output.onnx         log(-|x|) after the pooling: -inf/NaN scores -> kInternal at Classify
  not_image.onnx          a float32 [1,4] input (no image)             -> kUnsupported
  no_class_dim.onnx       output [1] (no class dimension)              -> kUnsupported

Run from anywhere: /usr/bin/python3 tests/api/make_image_api_models.py
"""
import json
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")
PREPROCESS = json.dumps({"input_size": [3, 8, 8], "crop_pct": 1.0, "interpolation": "bilinear",
                         "mean": [0, 0, 0], "std": [1, 1, 1]})
LABELS = json.dumps(["red", "green", "blue"])


def finish(graph, metadata):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="effi tests/api/make_image_api_models.py")
    model.ir_version = 7
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


def pooled(name, metadata, batch=1, extra_ops=(), output_shape=None):
    nodes = [helper.make_node("GlobalAveragePool", ["data"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"], axis=1)]
    last = "flat"
    for i, op in enumerate(extra_ops):
        nodes.append(helper.make_node(op, [last], [f"t{i}"]))
        last = f"t{i}"
    nodes.append(helper.make_node("Identity", [last], ["output"]))
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("data", TensorProto.FLOAT, [batch, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, output_shape or [batch, 3])])
    return finish(graph, metadata)


def not_image():
    graph = helper.make_graph(
        [helper.make_node("Relu", ["data"], ["output"])], "not_image",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])])
    return finish(graph, {})


def no_class_dim():
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["data"], ["output"], axes=[1, 2, 3], keepdims=0)],
        "no_class_dim", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1])])
    return finish(graph, {})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    meta = {"labels": LABELS, "preprocess": PREPROCESS}
    models = {
        "cls3": pooled("cls3", meta),
        "cls3_dyn": pooled("cls3_dyn", meta, batch="N"),
        "cls3_nometa": pooled("cls3_nometa", {}),
        "bad_labels": pooled("bad_labels", {"labels": '["red", "green"', "preprocess": PREPROCESS}),
        "labels_count": pooled("labels_count",
                               {"labels": '["red", "green"]', "preprocess": PREPROCESS}),
        "deep_preprocess": pooled("deep_preprocess", {"preprocess": "[" * 100 + "]" * 100}),
        "big_preprocess": pooled("big_preprocess",
                                 {"preprocess": '{"x": "' + "a" * 70000 + '"}'}),
        "preprocess_size": pooled("preprocess_size", {"preprocess": '{"input_size": [3, 16, 16]}'}),
        "nan_output": pooled("nan_output", {"preprocess": PREPROCESS},
                             extra_ops=("Abs", "Neg", "Log")),
        "not_image": not_image(),
        "no_class_dim": no_class_dim(),
    }
    for name, model in models.items():
        onnx.save(model, os.path.join(OUT, name + ".onnx"))

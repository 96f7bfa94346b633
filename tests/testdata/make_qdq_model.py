#!/usr/bin/python3
# Writes tests/testdata/qdq/: s8_io.onnx (int8 input and output: DequantizeLinear then
# QuantizeLinear) and a tiny Conv -> Relu -> MatMul network in QDQ form, as ONNX Runtime's
# quantize_static lays it out (u8 activations with per-tensor scale and zero point from min/max
# calibration, per-channel symmetric int8 weights, an int32 bias dequantized with
# x_scale * w_scale), its input, and the output of a numpy computation of the same QDQ semantics.
# tests/onnx/qdq_model_test.cc runs it through effi and compares.
# Run from the repository root: /usr/bin/python3 tests/testdata/make_qdq_model.py
# Deterministic: a rerun gives byte-identical files.
#
# Why the test can demand exact equality: every QuantizeLinear/DequantizeLinear is an elementwise
# float32 division or multiplication, correctly rounded in numpy and in C++ alike, so those agree
# bit for bit. Only the float Conv and MatMul differ (effi sums in float32 in its own order, this
# reference in float64): a float32 sum of n terms in any order is within (n - 1) * 2^-24 *
# sum(|terms|) of the exact one; with the bias add and the final rounding, (n + 2) * 2^-24 *
# sum(|terms|) bounds the difference. The seed is chosen so that every Conv and MatMul output is
# more than twice that bound (in quantization steps) away from a rounding tie of the QuantizeLinear
# after it; then no summation order can change a quantized value, and the outputs are identical.
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qdq")
U = 2.0 ** -24  # float32 unit roundoff
f32 = np.float32


def quant_params(values):
    """ONNX Runtime's MinMax calibration for u8: range holds 0, scale = range / 255."""
    lo, hi = min(f32(values.min()), f32(0)), max(f32(values.max()), f32(0))
    scale = f32((hi - lo) / f32(255))
    zp = np.uint8(np.clip(np.rint(f32(0) - lo / scale), 0, 255))
    return scale, zp


def quantize(x, scale, zp):  # QuantizeLinear, u8: x / scale in float32, round half to even
    q = np.rint((x.astype(f32) / scale).astype(f32)) + f32(zp)
    return np.clip(q, 0, 255).astype(np.uint8)


def dequantize(q, scale, zp, axis=None):  # DequantizeLinear: float32(q - zp) * scale
    if axis is not None:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((q.astype(np.int64) - zp.astype(np.int64)).astype(f32) * scale).astype(f32)


def tie_margin(x, abs_sum, terms, scale):
    """Least ratio, over elements, of x / scale's distance from a rounding tie (.5) to the float32
    summation error bound (terms + 2) * U * abs_sum / scale, both in quantization steps."""
    v = (x.astype(f32) / scale).astype(np.float64)
    distance = np.abs(np.abs(v - np.floor(v)) - 0.5)
    bound = (terms + 2) * U * abs_sum.astype(np.float64) / float(scale)
    with np.errstate(divide="ignore"):  # bound 0: every term is 0, the sum is exact
        return (distance / bound).min()


def conv3x3(x, w, b):  # NCHW, pads 1, stride 1, in float64 then rounded once to float32
    n, c, h, wd = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, w.shape[0], h, wd))
    for ky in range(3):
        for kx in range(3):
            y += np.einsum("nchw,oc->nohw", xp[:, :, ky:ky + h, kx:kx + wd], w[:, :, ky, kx])
    return (y + b.reshape(1, -1, 1, 1)).astype(f32)


def build(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.2, 1.0, (1, 3, 8, 8)).astype(f32)
    w = rng.normal(0, 0.3, (4, 3, 3, 3)).astype(f32)
    b = rng.normal(0, 0.2, 4).astype(f32)
    m = rng.normal(0, 0.5, (8, 5)).astype(f32)

    # Per-channel symmetric int8 weights (zero point 0): Conv along axis 0, MatMul along axis 1.
    sw = (np.abs(w).reshape(4, -1).max(axis=1) / f32(127)).astype(f32)
    wq = np.clip(np.rint(w / sw.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int8)
    sm = (np.abs(m).max(axis=0) / f32(127)).astype(f32)
    mq = np.clip(np.rint(m / sm), -127, 127).astype(np.int8)
    zw, zm = np.zeros(4, np.int8), np.zeros(5, np.int8)

    sx, zx = quant_params(x)
    sb = (sx * sw).astype(f32)  # the bias scale quantize_static uses
    bq = np.rint(b / sb).astype(np.int32)
    zb = np.zeros(4, np.int32)

    # The float path calibrates the activations; then the QDQ path (the reference) runs.
    xd = dequantize(quantize(x, sx, zx), sx, zx)
    wd, md = dequantize(wq, sw, zw, 0), dequantize(mq, sm, zm, 1)
    bd = dequantize(bq, sb, zb, 0)
    conv = conv3x3(xd, wd, bd)
    sc, zc = quant_params(conv)
    cd = dequantize(quantize(conv, sc, zc), sc, zc)
    relu = np.maximum(cd, f32(0))
    sr, zr = quant_params(relu)
    rd = dequantize(quantize(relu, sr, zr), sr, zr)
    mm = np.matmul(rd.astype(np.float64), md.astype(np.float64)).astype(f32)
    so, zo = quant_params(mm)
    y = dequantize(quantize(mm, so, zo), so, zo)
    conv_abs = conv3x3(np.abs(xd), np.abs(wd), np.abs(bd))
    mm_abs = np.matmul(np.abs(rd).astype(np.float64), np.abs(md).astype(np.float64))
    margin = min(tie_margin(conv, conv_abs, 27, sc), tie_margin(mm, mm_abs, 8, so))

    init = []

    def const(name, arr):
        init.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def qdq(src, name, scale, zp):
        s, z = const(name + "_scale", f32(scale)), const(name + "_zp", np.uint8(zp))
        return [helper.make_node("QuantizeLinear", [src, s, z], [name + "_q"], name=name + "_Q"),
                helper.make_node("DequantizeLinear", [name + "_q", s, z], [name + "_dq"],
                                 name=name + "_DQ")]

    def weight(name, q, scale, zp, axis):
        inputs = [const(name + "_q", q), const(name + "_scale", scale), const(name + "_zp", zp)]
        return helper.make_node("DequantizeLinear", inputs, [name + "_dq"], name=name + "_DQ",
                                axis=axis)

    nodes = qdq("x", "x", sx, zx)
    nodes += [weight("w", wq, sw, zw, 0), weight("b", bq, sb, zb, 0),
              helper.make_node("Conv", ["x_dq", "w_dq", "b_dq"], ["conv"], name="conv",
                               pads=[1, 1, 1, 1])]
    nodes += qdq("conv", "c", sc, zc)
    nodes.append(helper.make_node("Relu", ["c_dq"], ["relu"], name="relu"))
    nodes += qdq("relu", "r", sr, zr)
    nodes += [weight("m", mq, sm, zm, 1),
              helper.make_node("MatMul", ["r_dq", "m_dq"], ["mm"], name="matmul")]
    nodes += qdq("mm", "o", so, zo)
    nodes.append(helper.make_node("Identity", ["o_dq"], ["y"], name="out"))
    graph = helper.make_graph(
        nodes, "tiny_qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 5])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="effi-make-qdq-model")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, x, y, margin


def s8_io_model():
    """int8 in, int8 out through the public API: DequantizeLinear then QuantizeLinear (s8)."""
    init = [numpy_helper.from_array(f32(0.5), "s1"), numpy_helper.from_array(np.int8(-3), "z1"),
            numpy_helper.from_array(f32(0.25), "s2"), numpy_helper.from_array(np.int8(5), "z2")]
    nodes = [helper.make_node("DequantizeLinear", ["q", "s1", "z1"], ["f"], name="dq"),
             helper.make_node("QuantizeLinear", ["f", "s2", "z2"], ["y"], name="q")]
    io = [helper.make_tensor_value_info(name, TensorProto.INT8, [4]) for name in ("q", "y")]
    graph = helper.make_graph(nodes, "s8_io", io[:1], io[1:], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="effi-make-qdq-model")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    for seed in range(1000):
        model, x, y, margin = build(seed)
        if margin > 2:
            break
    else:
        raise SystemExit("no seed keeps every Conv/MatMul output away from rounding ties")
    os.makedirs(OUT, exist_ok=True)
    onnx.save(model, os.path.join(OUT, "tiny_qdq.onnx"))
    onnx.save(s8_io_model(), os.path.join(OUT, "s8_io.onnx"))
    np.save(os.path.join(OUT, "input.npy"), x)
    np.save(os.path.join(OUT, "expected.npy"), y)
    print(f"seed {seed}: every Conv/MatMul output is >= {margin:.1f}x its float32 error bound "
          f"away from a rounding tie; "
          f"{np.count_nonzero(y)} of {y.size} outputs non-zero")


if __name__ == "__main__":
    main()

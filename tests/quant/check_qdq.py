#!/usr/bin/env python3
"""Integration test of `effi quantize` against ONNX Runtime (run by ctest as quant_qdq_ort).

Quantizes the bundled Fashion-MNIST EfficientFormer-L1 with 16 calibration images (the default
layout: Q/DQ pairs on every quantized layer's activation inputs and output), checks the written
file with the onnx package (valid, opset 13, one Q/DQ per tensor, each layer's output followed
directly by its pair and read by nothing else, no QuantizeLinear of a dequantized tensor,
per-channel int8 weights, int32 biases, <= 0.3x the float file), checks that ONNX Runtime's
optimizer fuses every one of the 41 layers into QLinearConv / QLinearMatMul / QGemm (the graph it
writes with optimizedModelFilePath, bench/compare_ort.mjs --ort-optimized), then runs it with ONNX
Runtime (scripts/ort_run.mjs, onnxruntime-node) on the 64 golden test inputs and compares with the
float model's logits from PyTorch (torch_test64.npy; ONNX Runtime's float logits agree to
1.5e-5): top-1 must agree on >= 62/64. Exit 77 (ctest SKIP_RETURN_CODE) when a prerequisite is
absent.

usage: check_qdq.py EFFI REPO_ROOT SHARED_DIR [--observer NAME] [--calib-count N]
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
# Distinct tensors with a Q/DQ pair in the Fashion-MNIST L1 with every layer int8: 42 activation
# inputs (the two heads share theirs) + 41 layer outputs, none of which is another layer's input
# (a GELU, ReLU, bias/residual Add, scale or reshape is always between two layers).
TENSORS = 42 + 41


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("effi")
    ap.add_argument("repo")
    ap.add_argument("shared")
    ap.add_argument("--observer", default="minmax")
    ap.add_argument("--calib-count", type=int, default=16)
    ap.add_argument("--min-agree", type=int, default=62)
    a = ap.parse_args()
    try:
        import numpy as np
        import onnx
    except ImportError as e:
        skip(f"python numpy/onnx missing ({e})")
    calib = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
    if not os.path.exists(calib):
        skip(f"{calib} not found (Debian package dataset-fashion-mnist)")
    golden = os.path.join(a.shared, "golden/efficientformer_l1_fmnist96")
    if not os.path.exists(os.path.join(golden, "input_test64.npy")):
        skip(f"{golden} not found (../shared absent)")
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(a.repo, "node_modules/onnxruntime-node")):
        skip("node or node_modules/onnxruntime-node absent (npm install --ignore-scripts)")
    model = os.path.join(a.repo, "assets/models/efficientformer_l1_fmnist96.onnx")

    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="effi_qdq_") as tmp:
        out = os.path.join(tmp, "q.onnx")
        # --fallback none: the layout checked below is every Conv/Gemm/MatMul quantized;
        # --output-qdq on: the layout ONNX Runtime fuses completely.
        r = subprocess.run([a.effi, "quantize", model, "--calib", calib, "--calib-count",
                            str(a.calib_count), "--observer", a.observer, "--fallback", "none",
                            "--output-qdq", "on", "--out", out, "--json"],
                           capture_output=True, text=True)
        sys.stderr.write(r.stderr)
        check(r.returncode == 0, f"effi quantize exit code {r.returncode}")
        if r.returncode != 0:
            sys.exit(1)
        report = json.loads(r.stdout)

        m = onnx.load(out)
        onnx.checker.check_model(m)
        print("ok   onnx.checker")
        opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
        check(opset == [13], f"default-domain opset {opset} == [13]")
        ops = {}
        for n in m.graph.node:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
        print("     ops:", dict(sorted(ops.items())))
        # EfficientFormer-L1: 33 Conv + 2 Gemm + 6 MatMul (2 of them activation x activation).
        check((ops.get("Conv"), ops.get("Gemm"), ops.get("MatMul")) == (33, 2, 6) and "Identity" not in ops,
              "33 Conv, 2 Gemm, 6 MatMul kept; the Identity aliasing head.bias gone")
        # One Q/DQ per distinct tensor (TENSORS above).
        check(ops.get("QuantizeLinear") == TENSORS == report["quantize_linear"],
              f"{TENSORS} QuantizeLinear (file {ops.get('QuantizeLinear')}, report "
              f"{report['quantize_linear']})")
        # DQs: the tensors + 39 weights + 35 biases (33 Conv + 2 Gemm).
        check(ops.get("DequantizeLinear") == TENSORS + 39 + 35 == report["dequantize_linear"],
              f"{TENSORS + 39 + 35} DequantizeLinear (file {ops.get('DequantizeLinear')})")
        inits = {t.name: t for t in m.graph.initializer}
        producers = {o: n for n in m.graph.node for o in n.output}
        readers = {}
        for n in m.graph.node:
            for i in n.input:
                readers.setdefault(i, []).append(n)
        # Output pairs: layer -> QuantizeLinear -> DequantizeLinear, the layer's own output read
        # by that QuantizeLinear alone (the layout ONNX Runtime fuses), every layer's.
        direct = 0
        for n in m.graph.node:
            if n.op_type not in ("Conv", "Gemm", "MatMul"):
                continue
            r = readers.get(n.output[0], [])
            if len(r) == 1 and r[0].op_type == "QuantizeLinear":
                r2 = readers.get(r[0].output[0], [])
                direct += len(r2) == 1 and r2[0].op_type == "DequantizeLinear"
        check(direct == 41, f"{direct} of 41 layers' outputs go straight into their Q -> DQ pair")
        # One rounding per tensor: no tensor quantized twice, no Q of a dequantized tensor.
        q_inputs = [n.input[0] for n in m.graph.node if n.op_type == "QuantizeLinear"]
        check(len(set(q_inputs)) == len(q_inputs), "no tensor quantized twice")
        requant = [i for i in q_inputs
                   if i in producers and producers[i].op_type == "DequantizeLinear"]
        check(not requant, f"no QuantizeLinear of a DequantizeLinear output ({requant[:3]})")
        per_channel = int32_bias = 0
        for n in m.graph.node:
            if n.op_type not in ("Conv", "Gemm", "MatMul"):
                continue
            srcs = [producers.get(i) for i in n.input]
            check(all(s is not None and s.op_type == "DequantizeLinear" for s in srcs),
                  f"{n.name}: every input from a DequantizeLinear")
            for k, s in enumerate(srcs):
                q = inits.get(s.input[0]) if s is not None else None
                if q is None:
                    continue
                if k == 1 and q.data_type == onnx.TensorProto.INT8:
                    scale = inits[s.input[1]]
                    per_channel += len(scale.dims) == 1 and scale.dims[0] > 1
                if k == 2 and q.data_type == onnx.TensorProto.INT32:
                    int32_bias += 1
        check(per_channel == 39, f"{per_channel} per-channel int8 weights (39)")
        check(int32_bias == 35, f"{int32_bias} int32 biases (35)")
        ratio = os.path.getsize(out) / os.path.getsize(model)
        check(ratio <= 0.3, f"size {os.path.getsize(out)} bytes = {ratio:.3f}x the float model")
        meta = {p.key for p in m.metadata_props}
        check({"labels", "preprocess"} <= meta, "metadata kept")

        # What ONNX Runtime runs: its optimized graph (level 'all', as bench/compare_ort times it).
        opt = os.path.join(tmp, "ort_optimized.onnx")
        p = subprocess.run([node, os.path.join(a.repo, "bench/compare_ort.mjs"), out,
                            "--ort-optimized", opt], capture_output=True, text=True)
        check(p.returncode == 0, f"ONNX Runtime optimizes the file ({p.stderr[-500:]})")
        if p.returncode == 0:
            census = {}
            for n in onnx.load(opt).graph.node:
                census[n.op_type] = census.get(n.op_type, 0) + 1
            int8 = {k: census.get(k, 0) for k in ("QLinearConv", "QLinearMatMul", "QGemm")}
            flt = {k: v for k, v in census.items()
                   if k in ("Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul",
                            "MatMulIntegerToFloat")}
            print("     ONNX Runtime's optimized graph:", dict(sorted(census.items())))
            check(int8 == {"QLinearConv": 33, "QLinearMatMul": 6, "QGemm": 2} and not flt,
                  f"ONNX Runtime runs all 41 layers in int8: {int8}, float {flt}")

        # ONNX Runtime on the 64 golden inputs (the model has batch 1: one run per input).
        x = np.load(os.path.join(golden, "input_test64.npy"))
        ref = np.load(os.path.join(golden, "torch_test64.npy"))
        ort_run = os.path.join(a.repo, "scripts/ort_run.mjs")

        def run_one(i):
            xi, yi = os.path.join(tmp, f"x{i}.npy"), os.path.join(tmp, f"y{i}.npy")
            np.save(xi, x[i:i + 1])
            p = subprocess.run([node, ort_run, out, "--input", f"data={xi}", "--output", yi,
                                "--threads", "1", "--quiet"], capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"ort_run failed on input {i}: {p.stderr[-2000:]}")
            return np.load(yi)[0]

        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            y = np.stack(list(pool.map(run_one, range(len(x)))))
        agree = int((y.argmax(1) == ref.argmax(1)).sum())
        cos = (y * ref).sum(1) / (np.linalg.norm(y, axis=1) * np.linalg.norm(ref, axis=1))
        labels = np.load(os.path.join(golden, "labels_test64.npy"))
        correct = int((y.argmax(1) == labels).sum())
        print(f"     ONNX Runtime int8 vs float: top-1 agrees on {agree}/{len(x)}, mean logit "
              f"cosine {cos.mean():.5f} (min {cos.min():.5f}); int8 correct {correct}/{len(x)} "
              f"(float {int((ref.argmax(1) == labels).sum())}/{len(x)})")
        check(agree >= a.min_agree, f"top-1 agreement {agree} >= {a.min_agree}")
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()

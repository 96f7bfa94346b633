# effi.quantize: the file it writes loads and runs in effi.Model and is byte for byte the one
# `effi quantize` writes with the same settings, the dict is the CLI's --json document, the progress
# callback, and effi.Error with .code for bad input. The tiny L1-like model of tests/models (64x64,
# 23 layers) on 2 random calibration inputs, --fallback none: ~0.1 s a run.
import json
import subprocess

import numpy as np
import pytest

import effi
from conftest import TEST_MODELS

TINY = TEST_MODELS / "tiny_op11.onnx"
TIMES = ("seconds", "sensitivity_seconds", "out")


@pytest.fixture
def calib(tmp_path):
    path = tmp_path / "calib.npy"
    np.save(path, np.random.default_rng(3).standard_normal((2, 3, 64, 64), dtype=np.float32))
    return path


def without_times(doc):
    doc = {k: v for k, v in doc.items() if k not in TIMES}
    doc["calibration"] = {k: v for k, v in doc["calibration"].items() if k != "seconds"}
    return doc


def test_quantize_matches_the_cli(cli, calib, tmp_path):
    out = tmp_path / "py.onnx"
    stages = []
    report = effi.quantize(TINY, out, calib, fallback="none", keep_float=["/head/Gemm"],
                           threads=1, progress=lambda *a: stages.append(a))
    assert stages == [("calibrate", 1, 2), ("calibrate", 2, 2)]
    assert report["fallback"]["mode"] == "none"
    assert report["calibration"]["items"] == 2
    assert len(report["layers"]) == 23
    floats = [(l["name"], l["why_float"]) for l in report["layers"] if l["precision"] == "float"]
    assert floats == [("/head/Gemm", "--keep-float")]
    assert report["bytes_out"] == out.stat().st_size

    # The file runs in effi: int8 Conv/MatMul, close to the float model.
    x = np.random.default_rng(5).standard_normal((1, 3, 64, 64), dtype=np.float32)
    y8 = next(iter(effi.Model(out).run(x).values()))
    y = next(iter(effi.Model(TINY).run(x).values()))
    assert y8.shape == y.shape
    assert np.dot(y8.ravel(), y.ravel()) / np.linalg.norm(y8) / np.linalg.norm(y) > 0.9

    cli_out = tmp_path / "cli.onnx"
    r = subprocess.run([cli, "quantize", str(TINY), "--calib", str(calib), "--out", str(cli_out),
                        "--fallback", "none", "--keep-float", "/head/Gemm", "--threads", "1",
                        "--json"], capture_output=True, text=True, timeout=120, check=True)
    assert out.read_bytes() == cli_out.read_bytes()
    assert without_times(report) == without_times(json.loads(r.stdout))


def test_quantize_errors(calib, tmp_path):
    out = tmp_path / "q.onnx"
    with pytest.raises(effi.Error) as e:
        effi.quantize(tmp_path / "missing.onnx", out, calib)
    assert e.value.code == "io" and "missing.onnx" in str(e.value)
    with pytest.raises(effi.Error) as e:
        effi.quantize(TINY, out, calib, target_cosine=2.0)
    assert e.value.code == "invalid_argument" and "target_cosine" in str(e.value)
    with pytest.raises(effi.Error) as e:
        effi.quantize(TINY, out, calib, keep_float=["nope"])
    assert e.value.code == "invalid_argument" and "nope" in str(e.value)
    with pytest.raises(effi.Error) as e:
        effi.quantize(TINY, tmp_path / "missing" / "q.onnx", calib)
    assert e.value.code == "io"

    # A progress callback's exception stops the run and arrives as it was raised.
    def stop(stage, done, total):
        raise KeyError(stage)

    with pytest.raises(KeyError, match="calibrate"):
        effi.quantize(TINY, out, calib, fallback="none", progress=stop)
    assert not out.exists()

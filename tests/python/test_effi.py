# The Python module `effi`: outputs bit-identical to the C++ CLI's (`effi run`, `effi classify`)
# and within the golden tolerance of ONNX Runtime / PyTorch, inputs read in place or copied when
# they must be, concurrent run() / classify() calls from Python threads, EFFI_MAX_ISA, and
# effi.Error with effi's message and code for bad files, arrays, images and names.
import contextlib
import json
import os
import re
import struct
import subprocess
import sys
import threading
import zlib

import numpy as np
import pytest

import effi
from conftest import FMNIST_MODEL, TEST_MODELS, SOURCE_DIR

# The model tests' golden criterion (tests/models/golden_test.cc): max |effi - ref| <= 1e-4 * max
# |ref|, and the same argmax per row.
REL_TOL = 1e-4


def expect_golden(got, ref):
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= REL_TOL * np.max(np.abs(ref))
    assert np.array_equal(got.argmax(axis=-1), ref.argmax(axis=-1))


def cli_run(cli, model, x, tmp_path):
    """`effi run MODEL --input data=x.npy --output y.npy` (1 thread, passes all), y."""
    x_path, y_path = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x_path, x)
    subprocess.run([cli, "run", str(model), "--input", f"data={x_path}", "--output", str(y_path)],
                   check=True, capture_output=True, timeout=120)
    return np.load(y_path)


@contextlib.contextmanager
def raises_effi(code, match):
    """An effi.Error (a RuntimeError) with code `code` and a one-line message matching `match`."""
    with pytest.raises(effi.Error, match=match) as excinfo:
        yield excinfo
    assert isinstance(excinfo.value, RuntimeError)
    assert excinfo.value.code == code, str(excinfo.value)
    assert "\n" not in str(excinfo.value)


@pytest.fixture(scope="module")
def fmnist():
    return effi.Model(FMNIST_MODEL)


def test_version_and_isa():
    assert re.fullmatch(r"\d+\.\d+\.\d+", effi.__version__)
    assert re.fullmatch(r"\S+ \(\S+\)", effi.active_isa()), effi.active_isa()


def test_model_description(fmnist):
    [inp], [out] = fmnist.inputs, fmnist.outputs
    assert (inp.name, inp.dtype, inp.shape) == ("data", "float32", (1, 3, 96, 96))
    assert (out.name, out.dtype, out.shape) == ("output", "float32", (1, 10))
    assert "Ankle boot" in fmnist.metadata["labels"]
    assert fmnist.threads == 1
    assert repr(inp) == "TensorInfo(name='data', dtype='float32', shape=(1, 3, 96, 96))"
    assert repr(fmnist) == "<effi.Model inputs=['data'] outputs=['output'] threads=1>"
    dyn = effi.Model(TEST_MODELS / "tiny_dynbatch_op13.onnx")
    assert dyn.inputs[0].shape == (-1, 3, 64, 64)


TINY_MODELS = ["tiny_op11", "tiny_dynbatch_op13", "tiny_v2_op17"]
L1_INPUTS = ["0_randn", "4_bittern", "5_goldfish"]


def test_tiny_models_match_onnx_runtime():
    # Generated models with ONNX Runtime goldens in the repository: no ../shared needed.
    for name in TINY_MODELS:
        model = effi.Model(TEST_MODELS / f"{name}.onnx")
        for k in range(2):
            y = model.run({"data": np.load(TEST_MODELS / name / f"in_{k}.npy")})["output"]
            expect_golden(y, np.load(TEST_MODELS / name / f"ort_{k}.npy"))


def test_tiny_models_equal_cli(cli, tmp_path):
    # The same library code as `effi run`: bit-identical, not merely close.
    for name in TINY_MODELS:
        model = effi.Model(TEST_MODELS / f"{name}.onnx")
        x = np.load(TEST_MODELS / name / "in_0.npy")
        y = model.run({"data": x})["output"]
        assert np.array_equal(y, cli_run(cli, TEST_MODELS / f"{name}.onnx", x, tmp_path)), name


def test_l1_matches_goldens(shared):
    golden = shared / "golden" / "efficientformer_l1"
    model = effi.Model(shared / "models" / "efficientformer_l1.op11.onnx")
    for name in L1_INPUTS:
        y = model.run({"data": np.load(golden / f"input_{name}.npy")})["output"]
        assert y.dtype == np.float32 and y.shape == (1, 1000)
        expect_golden(y, np.load(golden / f"ort_{name}.npy"))
        expect_golden(y, np.load(golden / f"torch_{name}.npy"))


def test_l1_equals_cli(shared, cli, tmp_path):
    model_path = shared / "models" / "efficientformer_l1.op11.onnx"
    model = effi.Model(model_path)
    for name in L1_INPUTS:
        x = np.load(shared / "golden" / "efficientformer_l1" / f"input_{name}.npy")
        y = model.run({"data": x})["output"]
        assert np.array_equal(y, cli_run(cli, model_path, x, tmp_path)), name


def test_fmnist_matches_torch(shared, fmnist):
    golden = shared / "golden" / "efficientformer_l1_fmnist96"
    x = np.load(golden / "input_test64.npy")[:16]
    ref = np.load(golden / "torch_test64.npy")[:16]
    got = np.concatenate([fmnist.run(x[i:i + 1])["output"] for i in range(len(x))])
    expect_golden(got, ref)


def test_inputs_in_place_or_copied_give_the_same_outputs():
    model = effi.Model(TEST_MODELS / "tiny_op11.onnx")
    x = np.load(TEST_MODELS / "tiny_op11" / "in_0.npy")
    before = x.copy()
    want = model.run({"data": x})["output"]
    assert np.array_equal(x, before)  # read in place, never written
    # Fortran order, a strided view, a misaligned buffer: copied once into a contiguous array.
    fortran = np.asfortranarray(x)
    strided = np.repeat(x, 2, axis=3)[..., ::2]
    raw = bytearray(x.nbytes + 1)
    misaligned = np.frombuffer(raw, dtype=np.float32, count=x.size, offset=1).reshape(x.shape)
    misaligned[...] = x
    assert not strided.flags.c_contiguous and not misaligned.flags.aligned
    for variant in [fortran, strided, misaligned]:
        assert np.array_equal(model.run({"data": variant})["output"], want)
    # One array for a one-input model; a nested list of float32 values is an array too.
    assert np.array_equal(model.run(x)["output"], want)


def test_outputs_outlive_the_model():
    model = effi.Model(TEST_MODELS / "tiny_dynbatch_op13.onnx", threads=2)
    x = np.concatenate([np.load(TEST_MODELS / "tiny_dynbatch_op13" / f"in_{k}.npy")
                        for k in range(2)])
    out = model.run({"data": x})
    del model
    y = out["output"]
    assert y.shape == (2, 10) and y.flags.c_contiguous and y.flags.writeable
    for k in range(2):
        expect_golden(y[k:k + 1], np.load(TEST_MODELS / "tiny_dynbatch_op13" / f"ort_{k}.npy"))


def test_concurrent_runs_from_python_threads(fmnist):
    # 4 threads on one Model, each with its own input, 6 runs each: every output equals the
    # sequential one (each call has its own session; the GIL is released while it runs).
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((1, 3, 96, 96), dtype=np.float32) for _ in range(4)]
    want = [fmnist.run({"data": x})["output"] for x in xs]
    results = [[] for _ in xs]
    errors = []

    def worker(i):
        try:
            for _ in range(6):
                results[i].append(fmnist.run({"data": xs[i]})["output"])
        except Exception as e:  # reported below: an exception in a thread does not fail a test
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, outs in enumerate(results):
        assert len(outs) == 6
        for y in outs:
            assert np.array_equal(y, want[i])


def test_threads_option():
    x = np.load(TEST_MODELS / "tiny_op11" / "in_1.npy")
    one = effi.Model(TEST_MODELS / "tiny_op11.onnx", threads=1).run(x)["output"]
    two = effi.Model(TEST_MODELS / "tiny_op11.onnx", threads=2).run(x)["output"]
    expect_golden(two, one)
    with raises_effi("invalid_argument", r"^threads must be 1\.\.256, got 0$"):
        effi.Model(TEST_MODELS / "tiny_op11.onnx", threads=0)


def run_with_max_isa(value, code):
    """Runs `code` in a fresh interpreter under EFFI_MAX_ISA=value (read once, at the first use)."""
    env = dict(os.environ, EFFI_MAX_ISA=value)
    return subprocess.run([sys.executable, "-c", "import effi, numpy as np\n" + code], env=env,
                          capture_output=True, text=True, timeout=120)


def test_max_isa_environment_variable(tmp_path):
    x = np.load(TEST_MODELS / "tiny_op11" / "in_0.npy")
    np.save(tmp_path / "x.npy", x)
    done = run_with_max_isa("scalar", f"""
print(effi.active_isa())
model = effi.Model({str(TEST_MODELS / "tiny_op11.onnx")!r})
np.save({str(tmp_path / "y.npy")!r}, model.run(np.load({str(tmp_path / "x.npy")!r}))["output"])
""")
    assert done.returncode == 0, done.stderr
    assert re.match(r"(SCALAR|EMU128) \(", done.stdout), done.stdout  # Highway's scalar targets
    expect_golden(np.load(tmp_path / "y.npy"), np.load(TEST_MODELS / "tiny_op11" / "ort_0.npy"))
    bad = run_with_max_isa("avx5", f"""
try:
    effi.Model({str(TEST_MODELS / "tiny_op11.onnx")!r})
except effi.Error as e:
    print(e.code, e)
""")
    assert bad.returncode == 0, bad.stderr
    assert bad.stdout.startswith(
        "invalid_argument EFFI_MAX_ISA='avx5' is not valid; valid: scalar,"), bad.stdout


def test_bad_model_files(tmp_path):
    with raises_effi("io", "no such file"):
        effi.Model(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(bytes(range(256)) * 16)
    with raises_effi("invalid_model", "garbage.onnx"):
        effi.Model(garbage)
    with raises_effi("invalid_model", "not a valid ONNX model"):
        effi.Model.from_bytes(b"\xff" * 100)
    with raises_effi("invalid_argument", r"^unknown pass 'no_such_pass' \(known: all, none, "):
        effi.Model(TEST_MODELS / "tiny_op11.onnx", passes="all,-no_such_pass")
    # Hostile models of the loader's tests: one effi.Error each, never a crash.
    hostile = SOURCE_DIR / "tests" / "testdata" / "hostile"
    for name in ["cycle.onnx", "init_dims_overflow.onnx", "input_dim_2e40.onnx", "empty.onnx"]:
        with pytest.raises(effi.Error):
            effi.Model(hostile / name)


def test_bad_inputs():
    model = effi.Model(TEST_MODELS / "tiny_op11.onnx")
    x = np.zeros((1, 3, 64, 64), np.float32)
    cases = [
        ({"dat": x}, r"^model has no input named 'dat' \(inputs: 'data'\)$"),
        ({"data": x[:, :, :, :63]},
         r"^input 'data' must have shape \[1,3,64,64\], got \[1,3,64,63\]$"),
        ({"data": x[0]}, r"^input 'data' must have shape"),
        ({"data": x.astype(np.float64)},
         r"^input 'data' must be float32, got float64 "
         r"\(convert it with \.astype\(numpy\.float32\)\)$"),
        ({"data": x.astype(">f4")}, r"^input 'data' must be float32, got >f4"),
        ({"data": "abc"}, r"^input 'data' must be float32, got <U3"),
        ({}, r"^missing input 'data'$"),
    ]
    for inputs, message in cases:
        with raises_effi("invalid_argument", message):
            model.run(inputs)
    with pytest.raises(TypeError, match="input names must be str, got int"):
        model.run({0: x})
    with pytest.raises(TypeError, match=r"input 'data' is not an array \(a list\)"):
        model.run({"data": [[1.0], [2.0, 3.0]]})  # ragged
    with raises_effi("invalid_argument", r"^input 'data' must be float32, got object"):
        model.run({"data": object()})
    # The model still runs after every rejected call.
    assert model.run({"data": x})["output"].shape == (1, 10)


def write_png(path, rgb):
    """An 8-bit RGB PNG of a uint8 [height, width, 3] array (lossless: the same pixels back)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    h, w, _ = rgb.shape
    rows = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))  # filter 0 (none) per row
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit, colour type 2 (RGB)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_classify_bundled_images_like_cli(cli, fmnist):
    images = sorted((SOURCE_DIR / "assets" / "images").glob("*.png"))
    assert len(images) == 12
    out = subprocess.run([cli, "classify", str(FMNIST_MODEL), *map(str, images), "--json",
                          "--top", "3"], check=True, capture_output=True, timeout=120).stdout
    results = json.loads(out)["results"]
    assert len(results) == len(images)
    for path, result in zip(images, results):
        want = [(t["label"], t["prob"], t["index"]) for t in result["top"]]
        assert fmnist.classify(path, top=3) == want, path.name


def test_classify_path_bytes_and_array(fmnist, tmp_path):
    boot = SOURCE_DIR / "assets" / "images" / "00_ankle_boot.png"
    top = fmnist.classify(str(boot))
    assert len(top) == 5 and [p[0] for p in top][:1] == ["Ankle boot"] and top[0][2] == 9
    assert abs(top[0][1] - 0.907) < 1e-3 and sorted(p[1] for p in top)[::-1] == [p[1] for p in top]
    assert fmnist.classify(boot.read_bytes()) == top
    # An RGB array classifies as the PNG holding the same pixels.
    rgb = np.random.default_rng(3).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    write_png(tmp_path / "rgb.png", rgb)
    assert fmnist.classify(rgb, top=10) == fmnist.classify(tmp_path / "rgb.png", top=10)
    assert fmnist.classify(np.asfortranarray(rgb), top=1) == fmnist.classify(rgb, top=1)


def test_concurrent_classify(fmnist):
    images = sorted((SOURCE_DIR / "assets" / "images").glob("*.png"))[:4]
    want = [fmnist.classify(path) for path in images]
    got = [None] * len(images)

    def worker(i):
        got[i] = [fmnist.classify(images[i]) for _ in range(3)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [[w] * 3 for w in want]


def test_classify_bad_input(fmnist, tmp_path):
    with raises_effi("io", "no such file"):
        fmnist.classify(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with raises_effi("invalid_image", "bad.png"):
        fmnist.classify(tmp_path / "bad.png")
    with raises_effi("invalid_image", "unrecognised format"):
        fmnist.classify(b"GIF89a" + b"\0" * 40)
    for array in [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8),
                  np.zeros((8, 8, 3), np.float32), np.zeros((0, 8, 3), np.uint8)]:
        with raises_effi("invalid_argument", r"^classify\(\): an image array must be uint8 "
                                             r"\(height, width, 3\), RGB; got "):
            fmnist.classify(array)
    with raises_effi("invalid_argument", "top"):
        fmnist.classify(np.zeros((8, 8, 3), np.uint8), top=0)


def tiny_onnx(metadata=None):
    """Relu over a float32 [1, 4] input 'inpXX' (no image classifier), serialized."""
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Relu", ["inpXX"], ["outXX"])], "relu",
        [helper.make_tensor_value_info("inpXX", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("outXX", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()


def test_non_utf8_names_and_metadata():
    # protobuf does not check a model's strings: names and metadata that are not UTF-8 come out as
    # os.fsdecode would give them (lone surrogates) and the names still address the inputs.
    data = tiny_onnx({"labels": "VVVV"}).replace(b"inpXX", b"inp\xff\xfe")
    model = effi.Model.from_bytes(data.replace(b"VVVV", b"\xff\xfe\xfd\xfc"))
    assert model.inputs[0].name == "inp\udcff\udcfe"
    assert model.metadata == {"labels": "\udcff\udcfe\udcfd\udcfc"}
    x = np.array([[-1, 2, -3, 4]], np.float32)
    assert np.array_equal(model.run({"inp\udcff\udcfe": x})["outXX"], np.maximum(x, 0))
    assert "inp\ufffd\ufffd" in repr(model)
    with raises_effi("invalid_argument", "^model has no input named 'inp\ufffd'"):
        model.run({"inp\udcff": x})


def test_classify_needs_an_image_classifier():
    model = effi.Model.from_bytes(tiny_onnx())
    assert model.run(np.ones((1, 4), np.float32))["outXX"].tolist() == [[1, 1, 1, 1]]
    with raises_effi("unsupported", r"float32 \[N,3,H,W\] input"):
        model.classify(np.zeros((8, 8, 3), np.uint8))

# effi.evaluate (effi::Evaluate): the numbers `effi eval --json` prints, on the bundled
# Fashion-MNIST model and the first 16 test images (Debian's dataset-fashion-mnist) and with two
# models side by side; logits and progress; effi.Error with its code for bad input.
import contextlib
import json
import pathlib
import subprocess

import numpy as np
import pytest

import effi
from conftest import FMNIST_MODEL, TEST_MODELS

T10K = pathlib.Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
TINY = TEST_MODELS / "tiny_op11.onnx"  # 64x64, no metadata

needs_fmnist = pytest.mark.skipif(
    not T10K.exists(), reason=f"{T10K} not found (Debian package dataset-fashion-mnist)")


def cli_eval(cli, models, limit):
    out = subprocess.run([cli, "eval", *map(str, models), "--data", str(T10K), "--limit",
                          str(limit), "--json"], check=True, capture_output=True, timeout=120)
    return json.loads(out.stdout)


def idx_set(directory, labels):
    """An uncompressed IDX pair of flat gray 28x28 images with `labels`; the images' path."""
    def header(dims):
        return bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    images = directory / "x-images-idx3-ubyte"
    images.write_bytes(header([len(labels), 28, 28]) + bytes([64]) * (len(labels) * 784))
    (directory / "x-labels-idx1-ubyte").write_bytes(header([len(labels)]) + bytes(labels))
    return images


@needs_fmnist
def test_evaluate_equals_cli_json(cli):
    calls = []
    got = effi.evaluate(FMNIST_MODEL, T10K, limit=16, threads=2, logits=True,
                        progress=lambda done, total: calls.append((done, total)))
    want = cli_eval(cli, [FMNIST_MODEL], 16)
    assert got["count"] == want["count"] == 16
    assert got["results"] == [dict(r, model=str(FMNIST_MODEL)) for r in want["results"]]
    assert list(got["results"][0]) == list(want["results"][0])  # the CLI's key order
    assert got["dataset"].startswith("IDX '") and "10000 images 28x28" in got["dataset"]
    assert got["seconds"] > 0
    logits = got["logits"]
    assert logits.dtype == np.float32 and logits.shape == (16, 10)
    assert calls[0] == (0, 16) and calls[-1] == (16, 16)


@needs_fmnist
def test_two_models_side_by_side_equal_cli(cli):
    got = effi.evaluate([str(FMNIST_MODEL), TINY], str(T10K), limit=8)
    want = cli_eval(cli, [FMNIST_MODEL, TINY], 8)
    assert got["results"] == [dict(r, model=str(m)) for r, m in
                              zip(want["results"], [FMNIST_MODEL, TINY])]
    assert "logits" not in got


@contextlib.contextmanager
def raises_effi(code, match):
    """An effi.Error with code `code` and a one-line message matching `match`."""
    with pytest.raises(effi.Error, match=match) as excinfo:
        yield excinfo
    assert excinfo.value.code == code, str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_bad_input_raises_effi_error(tmp_path):
    images = idx_set(tmp_path, [1, 2, 10])
    with raises_effi("io", "no such file or folder"):
        effi.evaluate(TINY, tmp_path / "nothing")
    with raises_effi("io", "none.onnx"):
        effi.evaluate(tmp_path / "none.onnx", images)
    with raises_effi("invalid_argument", "label 10 of IDX .* is out of range"):
        effi.evaluate(TINY, images)
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes((FMNIST_MODEL.parents[1] / "images" /
                                               "06_coat.png").read_bytes())
    with raises_effi("invalid_argument", "no labels"):
        effi.evaluate(TINY, tmp_path / "flat")
    with raises_effi("invalid_argument", "threads"):
        effi.evaluate(TINY, images, threads=-1)
    with raises_effi("invalid_argument", "passes|pass"):
        effi.evaluate(TINY, images, passes="no_such_pass")
    with pytest.raises(TypeError):
        effi.evaluate(TINY, images, progress=3)
    # Beyond the limit the bad label is not read.
    assert effi.evaluate([TINY], images, limit=2)["count"] == 2


def test_progress_exception_stops_the_run(tmp_path):
    images = idx_set(tmp_path, [1, 2, 3, 4, 5, 6])
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 1:
            raise KeyError("stop")
    with pytest.raises(KeyError, match="stop"):
        effi.evaluate(TINY, images, threads=1, progress=progress)
    assert seen == [0, 1]

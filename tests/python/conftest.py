# Paths for the Python module's tests. ctest (python/CMakeLists.txt) sets PYTHONPATH to the built
# module and EFFI_CLI / EFFI_SOURCE_DIR / EFFI_SHARED_DIR; run by hand, the defaults are the
# repository this file is in, its ../shared and build/effi:
#   PYTHONPATH=build/python /usr/bin/python3 -m pytest -q tests/python
import os
import pathlib

import pytest

SOURCE_DIR = pathlib.Path(
    os.environ.get("EFFI_SOURCE_DIR") or pathlib.Path(__file__).resolve().parents[2])
SHARED_DIR = pathlib.Path(os.environ.get("EFFI_SHARED_DIR") or SOURCE_DIR.parent / "shared")
TEST_MODELS = SOURCE_DIR / "tests" / "models"
FMNIST_MODEL = SOURCE_DIR / "assets" / "models" / "efficientformer_l1_fmnist96.onnx"


@pytest.fixture(scope="session")
def cli():
    """The effi CLI of the same build (EFFI_CLI); skips where the build has no CLI."""
    path = os.environ.get("EFFI_CLI", str(SOURCE_DIR / "build" / "effi"))
    if not path or not os.access(path, os.X_OK):
        pytest.skip("no effi CLI in this build (EFFI_BUILD_TOOLS=OFF): nothing to compare with")
    return path


@pytest.fixture(scope="session")
def shared():
    """../shared (the reference models and goldens); skips where it is absent (a user's clone)."""
    if not (SHARED_DIR / "models").is_dir():
        pytest.skip(f"{SHARED_DIR} is absent: the shared golden models are not available")
    return SHARED_DIR

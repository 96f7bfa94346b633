#!/usr/bin/env bash
# Installs every build/test dependency of effi from Debian packages (and ONNX Runtime for the
# side-by-side benchmark/oracle scripts from npm). Idempotent; needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Installs the given packages that are not installed yet.
install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "effi: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

PKGS=(
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  libjpeg62-turbo-dev libpng-dev libyuv-dev libhwy-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist zlib1g-dev
  python3-numpy python3-onnx  # test-data generators and the QDQ check (tests/quant/check_qdq.py)
  python3-dev pybind11-dev python3-pytest  # the Python module (python/) and its tests (tests/python)
)
# Node.js + npm (for the ONNX Runtime oracle/benchmark scripts): the machine image may ship its
# own build (whose bundled npm conflicts with Debian's npm package), so only install when absent.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then PKGS+=(nodejs npm); fi

if [ "${1:-}" = "--arm64" ]; then
  # Cross toolchain, qemu and the arm64 -dev packages the ARM64 test build links against.
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then $SUDO dpkg --add-architecture arm64; fi
  install_missing g++-aarch64-linux-gnu qemu-user libgtest-dev:arm64 libhwy-dev:arm64 libfmt-dev:arm64
  exit 0
fi

install_missing "${PKGS[@]}"

# ONNX Runtime (npm onnxruntime-node ships its CPU library; no install scripts, no downloads).
if [ "${EFFI_SKIP_NPM:-0}" != 1 ] && [ ! -d node_modules/onnxruntime-node ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || \
    npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi

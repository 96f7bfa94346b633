#!/usr/bin/env bash
# Quick start 1: install what is missing, build effi (Release), classify the bundled demo images
# with the bundled Fashion-MNIST EfficientFormer-L1.
set -euo pipefail
cd "$(dirname "$0")/.."
EFFI_SKIP_NPM=1 scripts/install_deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target effi
exec build/effi classify "$@"

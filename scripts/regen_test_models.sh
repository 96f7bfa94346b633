#!/bin/sh
# Regenerate the small EfficientFormer test models in tests/models/ (see tests/models/README.md).
# Needs /usr/bin/python3 with torch 1.13 + onnx + numpy, and node with onnxruntime-node installed
# in the repository root (`npm install --ignore-scripts`). Deterministic: reruns give identical files.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
GEN="$PY scripts/gen_efficientformer.py"
OUT=tests/models
TINY="--depths 1,1,2,2 --widths 16,24,32,48 --num-vit 1 --img-size 64 --num-classes 10 --key-dim 8 --heads 2 --seed 0"

mkdir -p "$OUT"
# One tiny L1-shaped network (same weights, same inputs) in several exports.
$GEN $TINY --opset 11 --out $OUT/tiny_op11.onnx
$GEN $TINY --opset 13 --out $OUT/tiny_op13.onnx
$GEN $TINY --opset 17 --out $OUT/tiny_op17.onnx
$GEN $TINY --opset 13 --dynamic-batch --extra-batch 3 --out $OUT/tiny_dynbatch_op13.onnx
$GEN $TINY --opset 17 --dynamic-batch --extra-batch 3 --out $OUT/tiny_dynbatch_op17.onnx
$GEN $TINY --opset 11 --fold --out $OUT/tiny_folded_op11.onnx
# L3-like: several attention blocks after a Flat in the middle of stage 3, 3x3 token grid.
$GEN --depths 2,2,3,4 --widths 16,24,32,48 --num-vit 3 --img-size 96 --num-classes 7 --key-dim 8 --heads 4 \
     --seed 1 --opset 11 --out $OUT/tiny_l3like_op11.onnx
# L7-like: num_vit == depth of stage 3, so Flat comes first, right after the downsample.
$GEN --depths 1,1,1,2 --widths 16,24,32,48 --num-vit 2 --img-size 64 --num-classes 10 --key-dim 8 --heads 2 \
     --seed 2 --opset 11 --out $OUT/tiny_l7like_op11.onnx
# EfficientFormerV2 (scripts/gen_efficientformer_v2.py): the tiny `custom` preset has every V2 block type
# (ConvMlp with depthwise mid conv, stride-2 attention with Resize, attention downsample, talking heads).
GEN2="$PY scripts/gen_efficientformer_v2.py"
$GEN2 --arch custom --seed 0 --opset 11 --out $OUT/tiny_v2_op11.onnx
$GEN2 --arch custom --seed 0 --opset 17 --out $OUT/tiny_v2_op17.onnx
du -sh "$OUT"

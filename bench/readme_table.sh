#!/usr/bin/env bash
# Produces the README's effi-vs-ONNX-Runtime table: EfficientFormer-L1 (the shared timm export) and
# an L3-shaped model (timm's efficientformer_l3 graph with random weights, generated here by
# scripts/gen_efficientformer.py because no L3 export ships with the reference material), at 1 and
# 2 threads, via bench/compare_ort (alternating rounds, medians). Needs a Release build in build/
# (or EFFI=path/to/effi).
# A second table compares int8 on L1 224: effi and ONNX Runtime on the same QDQ file (written by
# `effi quantize --output-qdq on`, every Conv/Gemm/MatMul int8) against both on the float file,
# all four alternating in one compare_ort run (--also), at 1 and 2 threads. Below it: the op types of the graph ONNX
# Runtime actually runs for the QDQ file, i.e. which layers its int8 kernels take.
# A third table (--only v2, or no --only) times EfficientFormerV2 S0/S1/S2/L at 224 (generated here
# by scripts/gen_efficientformer_v2.py into build/models, ~1 min each; no V2 export ships with the
# reference material), with each model's effective GFLOP/s (2 x MACs from `effi inspect` / p50).
# Usage: bench/readme_table.sh [--only fp32|int8|v2] [--rounds 7] [--iters 30]
#        (every other flag goes to compare_ort)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
only=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only) [ $# -gt 1 ] || { echo "readme_table: --only needs fp32, int8 or v2" >&2; exit 2; }; only="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$only" in "" | fp32 | int8 | v2) ;; *) echo "readme_table: --only takes fp32, int8 or v2, not '$only'" >&2; exit 2 ;; esac
set -- ${args[@]+"${args[@]}"}
effi="${EFFI:-$root/build/effi}"
[ -x "$effi" ] || { echo "readme_table: $effi not found: build it (Release) or set EFFI" >&2; exit 1; }
l1="$root/../shared/models/efficientformer_l1.op11.onnx"
l3="$root/build/models/efficientformer_l3.op11.onnx"
# The int8 model. Calibration only sets the scales, which do not change the work per inference,
# so the two shared photos (../shared/images: bittern, goldfish; the default minmax observer) do
# for a speed benchmark; this file is not meant for accuracy numbers. Generated once: delete it to
# requantize after the quantizer changes.
# Written with --output-qdq on (quantize_static's layout), the one ONNX Runtime runs entirely in
# int8: both engines then run the same file on their int8 kernels.
l1q="$root/build/models/efficientformer_l1.qdq_out.onnx"
calib="$root/../shared/images"
[ -f "$l1" ] || { echo "readme_table: $l1 not found (needs ../shared)" >&2; exit 1; }
if { [ -z "$only" ] || [ "$only" = fp32 ]; } && [ ! -f "$l3" ]; then
  mkdir -p "$(dirname "$l3")"
  echo "readme_table: generating $l3 (torch export, ~1 min)" >&2
  /usr/bin/python3 "$root/scripts/gen_efficientformer.py" --arch l3 --out "$l3" --num-inputs 0 >&2
fi
if { [ -z "$only" ] || [ "$only" = int8 ]; } && [ ! -f "$l1q" ]; then
  qhelp="$("$effi" quantize --help 2>&1)" || { echo "readme_table: $effi has no 'quantize' (too old?)" >&2; exit 1; }
  # Every layer int8, the issue-12 speed target's setting: --fallback none where the quantizer
  # has --fallback; without it every Conv/Gemm/MatMul is quantized anyway.
  qflags=()
  if [[ "$qhelp" == *--fallback* ]]; then qflags=(--fallback none); fi
  if [[ "$qhelp" == *--output-qdq* ]]; then qflags+=(--output-qdq on); fi
  mkdir -p "$(dirname "$l1q")"
  echo "readme_table: generating $l1q (effi quantize, calibration: $calib)" >&2
  "$effi" quantize "$l1" --calib "$calib" ${qflags[@]+"${qflags[@]}"} --out "$l1q" >&2
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# 1-thread rows run pinned to the last CPU (node, ONNX Runtime and effi alike): unpinned, the
# scheduler may put one engine on a core that also takes this VM's interrupts (measured ~15 %
# slower here), which swamps the ratio. 2-thread rows use both cores, unpinned.
last_cpu=$(($(nproc) - 1))
if [ -z "$only" ] || [ "$only" = fp32 ]; then
  taskset -c "$last_cpu" "$here/compare_ort" "$l1" --json --threads 1 --effi "$effi" "$@" >"$out/l1_1.json"
  "$here/compare_ort" "$l1" --json --threads 2 --effi "$effi" "$@" >"$out/l1_2.json"
  taskset -c "$last_cpu" "$here/compare_ort" "$l3" --json --threads 1 --iters 10 --effi "$effi" "$@" >"$out/l3_1.json"
  "$here/compare_ort" "$l3" --json --threads 2 --iters 10 --effi "$effi" "$@" >"$out/l3_2.json"
  node - "$out/l1_1.json" "$out/l1_2.json" "$out/l3_1.json" "$out/l3_2.json" <<'EOF'
const fs = require('fs');
console.log('| model | threads | ONNX Runtime p50 | effi p50 | effi / ORT | load effi / ORT | peak RSS effi / ORT |');
console.log('|---|---|---|---|---|---|---|');
for (const f of process.argv.slice(2)) {
  const j = JSON.parse(fs.readFileSync(f, 'utf8'));
  for (const r of j.rows)
    console.log(`| ${r.model.replace('.op11.onnx', '')} | ${r.threads} | ${r.ort_ms.toFixed(2)} ms | ${r.effi_ms.toFixed(2)} ms | ` +
      `**${r.ratio.toFixed(2)}** | ${r.effi_load_ms.toFixed(0)} / ${r.ort_load_ms.toFixed(0)} ms | ` +
      `${r.effi_peak_rss_mb.toFixed(0)} / ${j.ort_peak_rss_mb.toFixed(0)} MiB |`);
}
EOF
fi
if [ -z "$only" ] || [ "$only" = v2 ]; then
  [ -z "$only" ] && echo
  v2_json=()
  for arch in s0 s1 s2 l; do
    m="$root/build/models/efficientformer_v2_$arch.op11.onnx"
    if [ ! -f "$m" ]; then
      mkdir -p "$(dirname "$m")"
      echo "readme_table: generating $m (torch export)" >&2
      /usr/bin/python3 "$root/scripts/gen_efficientformer_v2.py" --arch "$arch" --out "$m" --num-inputs 0 >&2
    fi
    macs="$("$effi" inspect "$m" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).macs))')"
    taskset -c "$last_cpu" "$here/compare_ort" "$m" --json --threads 1 --effi "$effi" "$@" >"$out/v2_${arch}_1.json"
    "$here/compare_ort" "$m" --json --threads 2 --effi "$effi" "$@" >"$out/v2_${arch}_2.json"
    v2_json+=("$macs" "$out/v2_${arch}_1.json" "$out/v2_${arch}_2.json")
  done
  node - "${v2_json[@]}" <<'EOF'
const fs = require('fs');
console.log('| model | threads | ONNX Runtime p50 | effi p50 | effi / ORT | effi GFLOP/s | load effi / ORT | peak RSS effi / ORT |');
console.log('|---|---|---|---|---|---|---|---|');
const a = process.argv.slice(2);
for (let i = 0; i < a.length; i += 3) {
  const macs = Number(a[i]);
  for (const f of a.slice(i + 1, i + 3)) {
    const j = JSON.parse(fs.readFileSync(f, 'utf8'));
    for (const r of j.rows)
      console.log(`| ${r.model.replace('.op11.onnx', '').replace('efficientformer_', '')} | ${r.threads} | ` +
        `${r.ort_ms.toFixed(2)} ms | ${r.effi_ms.toFixed(2)} ms | **${r.ratio.toFixed(2)}** | ` +
        `${(2 * macs / r.effi_ms / 1e6).toFixed(0)} | ${r.effi_load_ms.toFixed(0)} / ${r.ort_load_ms.toFixed(0)} ms | ` +
        `${r.effi_peak_rss_mb.toFixed(0)} / ${j.ort_peak_rss_mb.toFixed(0)} MiB |`);
  }
}
EOF
fi
[ -n "$only" ] && [ "$only" != int8 ] && exit 0
[ -z "$only" ] && echo
taskset -c "$last_cpu" "$here/compare_ort" "$l1" --also "$l1q" --json --threads 1 --effi "$effi" "$@" >"$out/q_1.json"
"$here/compare_ort" "$l1" --also "$l1q" --json --threads 2 --effi "$effi" "$@" >"$out/q_2.json"
node - "$out/q_1.json" "$out/q_2.json" <<'EOF'
const fs = require('fs');
console.log('| model | threads | ORT fp32 | ORT int8 (QDQ) | effi fp32 | effi int8 | effi int8 / effi fp32 | effi int8 / ORT int8 |');
console.log('|---|---|---|---|---|---|---|---|');
const ms = (v) => `${v.toFixed(2)} ms`;
for (const f of process.argv.slice(2)) {
  for (const r of JSON.parse(fs.readFileSync(f, 'utf8')).rows)
    console.log(`| ${r.model.replace('.op11.onnx', '')} | ${r.threads} | ${ms(r.ort_ms)} | ${ms(r.also.ort_ms)} | ` +
      `${ms(r.effi_ms)} | ${ms(r.also.effi_ms)} | **${r.also.effi_vs_main_effi.toFixed(2)}** | **${r.also.ratio.toFixed(2)}** |`);
}
EOF
# Which layers ONNX Runtime runs in int8: the op types of its optimized graph for the QDQ file
# (level 'all', as timed). A Conv/Gemm/MatMul it did not fuse stays a float op fed by
# DequantizeLinear nodes, which dequantize its weights again on every run.
"$here/compare_ort" "$l1q" --ort-optimized "$out/ort_qdq.onnx"
/usr/bin/python3 - "$out/ort_qdq.onnx" <<'EOF'
import collections
import sys

import onnx

ops = collections.Counter(n.op_type for n in onnx.load(sys.argv[1]).graph.node)
int8 = ['QLinearConv', 'QGemm', 'QLinearMatMul', 'MatMulIntegerToFloat', 'ConvInteger', 'MatMulInteger']
flt = ['Conv', 'FusedConv', 'Gemm', 'FusedGemm', 'MatMul', 'FusedMatMul']
fmt = lambda names: ', '.join(f'{ops[k]} {k}' for k in names if ops[k]) or 'none'
print(f'\nONNX Runtime on the QDQ file runs in int8: {fmt(int8)}; in float: {fmt(flt)}; '
      f'{ops["DequantizeLinear"]} DequantizeLinear and {ops["QuantizeLinear"]} QuantizeLinear left in its graph.')
EOF

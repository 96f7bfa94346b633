#!/usr/bin/env bash
# Produces the README's effi-vs-ONNX-Runtime table: EfficientFormer-L1 (the shared timm export) and
# an L3-shaped model (timm's efficientformer_l3 graph with random weights, generated here by
# scripts/gen_efficientformer.py because no L3 export ships with the reference material), at 1 and
# 2 threads, via bench/compare_ort (alternating rounds, medians). Needs a Release build in build/.
# Usage: bench/readme_table.sh [--rounds 7] [--iters 30]   (extra flags go to compare_ort)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
l1="$root/../shared/models/efficientformer_l1.op11.onnx"
l3="$root/build/models/efficientformer_l3.op11.onnx"
[ -f "$l1" ] || { echo "readme_table: $l1 not found (needs ../shared)" >&2; exit 1; }
if [ ! -f "$l3" ]; then
  mkdir -p "$(dirname "$l3")"
  echo "readme_table: generating $l3 (torch export, ~1 min)" >&2
  /usr/bin/python3 "$root/scripts/gen_efficientformer.py" --arch l3 --out "$l3" --num-inputs 0 >&2
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# 1-thread rows run pinned to the last CPU (node, ONNX Runtime and effi alike): unpinned, the
# scheduler may put one engine on a core that also takes this VM's interrupts (measured ~15 %
# slower here), which swamps the ratio. 2-thread rows use both cores, unpinned.
last_cpu=$(($(nproc) - 1))
taskset -c "$last_cpu" "$here/compare_ort" "$l1" --json --threads 1 "$@" >"$out/l1_1.json"
"$here/compare_ort" "$l1" --json --threads 2 "$@" >"$out/l1_2.json"
taskset -c "$last_cpu" "$here/compare_ort" "$l3" --json --threads 1 --iters 10 "$@" >"$out/l3_1.json"
"$here/compare_ort" "$l3" --json --threads 2 --iters 10 "$@" >"$out/l3_2.json"
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

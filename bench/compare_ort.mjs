// Side-by-side latency of ONNX Runtime (onnxruntime-node, CPU EP, graph optimisation 'all') and
// effi on the same model and thread count, alternating in rounds within one run so both see the
// same machine state; prints medians of per-round p50s and the ratio effi/ORT.
// --also MODEL2 (e.g. the int8 QDQ file quantized from MODEL) adds ORT and effi on MODEL2 to every
// round, so all four engine/model pairs alternate in one run and their ratios share machine state;
// ORT's peak RSS then covers both sessions.
// --ort-optimized OUT.onnx only writes the graph ONNX Runtime runs for MODEL (same options, via
// SessionOptions.optimizedModelFilePath) and exits: its op types show which QDQ groups ORT fused
// into int8 kernels (QLinearConv, QGemm, QLinearMatMul, MatMulIntegerToFloat) and which it runs as
// DequantizeLinear + float op.
// Usage: node bench/compare_ort.mjs MODEL [--threads 1,2] [--rounds 5] [--iters 20] [--effi build/effi]
//          [--also MODEL2] [--json] [--ort-optimized OUT.onnx]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import url from 'node:url';

const here = path.dirname(url.fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'package.json'));
// Node's own footprint before ONNX Runtime is loaded: subtracted for an apples-to-apples RSS.
const nodeBaseRss = process.memoryUsage().rss / (1024 * 1024);
const ort = require('onnxruntime-node');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
// Flags that take no value; every other --flag consumes the next argument.
const boolFlags = new Set(['--json']);
const model = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--') ||
  boolFlags.has(args[i - 1])));
if (!model) {
  console.error('usage: node bench/compare_ort.mjs MODEL [--threads 1,2] [--rounds 5] [--iters 20] [--effi PATH] ' +
    '[--also MODEL2] [--json] [--ort-optimized OUT.onnx]');
  process.exit(2);
}
const threadsList = opt('--threads', '1,2').split(',').map(Number);
const rounds = Number(opt('--rounds', '5'));
const iters = Number(opt('--iters', '20'));
const effi = opt('--effi', path.join(here, '..', 'build', 'effi'));
const asJson = args.includes('--json');
const also = opt('--also', undefined);
const models = also ? [model, also] : [model];
const ortOptions = (threads) => ({
  executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
});

const optimizedOut = opt('--ort-optimized', undefined);
if (optimizedOut) {
  // Level 'all' adds NCHWc layout nodes and warns that the file is machine-specific (severity 1);
  // the file is only read for its op types, so warnings are silenced.
  await ort.InferenceSession.create(model, { ...ortOptions(1), optimizedModelFilePath: optimizedOut,
    logSeverityLevel: 3 });
  process.exit(0);
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const p50 = median;

async function ortRound(session, feeds) {
  const lat = [];
  for (let i = 0; i < iters; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return p50(lat);
}

function effiRound(m, threads) {
  const out = execFileSync(effi, ['bench', m, '--threads', String(threads), '--iterations', String(iters),
    '--warmup', '3', '--json'], { encoding: 'utf8' });
  const j = JSON.parse(out);
  return { p50: j.latency_ms.p50, isa: j.isa, rss: j.peak_rss_mb, load: j.load_ms };
}

async function openOrt(m, threads) {
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(m, ortOptions(threads));
  const load = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find?.((x) => x.name === name) : undefined;
    let dims = meta?.shape?.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    if (!dims) dims = [1, 3, 224, 224];
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; ++i) data[i] = Math.sin(i * 12.9898) * 0.5;
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  for (let i = 0; i < 3; ++i) await session.run(feeds);  // warm-up
  return { session, feeds, load, ortP50: [], effiP50: [], info: {} };
}

const rows = [];
for (const threads of threadsList) {
  const runs = [];
  for (const m of models) runs.push(await openOrt(m, threads));
  for (let r = 0; r < rounds; ++r) {
    for (let k = 0; k < models.length; ++k) {
      const x = runs[k];
      x.ortP50.push(await ortRound(x.session, x.feeds));
      x.info = effiRound(models[k], threads);
      x.effiP50.push(x.info.p50);
    }
  }
  const summary = runs.map((x, k) => {
    const o = median(x.ortP50), e = median(x.effiP50);
    return { model: path.basename(models[k]), threads, ort_ms: o, effi_ms: e, ratio: e / o, isa: x.info.isa,
      effi_peak_rss_mb: x.info.rss, effi_load_ms: x.info.load, ort_load_ms: x.load,
      ort_rounds: x.ortP50, effi_rounds: x.effiP50 };
  });
  const row = summary[0];
  if (also) {
    const a = summary[1];
    // Cross ratios of the same run: MODEL2 against MODEL within each engine (int8 / fp32 when
    // MODEL2 is MODEL's QDQ file).
    row.also = { ...a, effi_vs_main_effi: a.effi_ms / row.effi_ms, ort_vs_main_ort: a.ort_ms / row.ort_ms };
  }
  rows.push(row);
  for (const x of runs) await x.session.release?.();
}
const ortProcessRss = process.resourceUsage().maxRSS / 1024;
const ortRss = ortProcessRss - nodeBaseRss;

if (asJson) {
  console.log(JSON.stringify({ rows, ort_process_peak_rss_mb: ortProcessRss, ort_peak_rss_mb: ortRss,
    node_base_rss_mb: nodeBaseRss }, null, 2));
} else {
  console.log(`model ${model}   rounds ${rounds} x ${iters} runs, alternating; medians of per-round p50`);
  console.log('threads   ONNX Runtime   effi        effi/ORT   effi ISA');
  for (const r of rows)
    console.log(`${String(r.threads).padEnd(9)} ${r.ort_ms.toFixed(2).padStart(8)} ms  ${r.effi_ms.toFixed(2).padStart(7)} ms  ${r.ratio.toFixed(3).padStart(7)}    ${r.isa}`);
  console.log(`load: effi ${rows.map((r) => r.effi_load_ms.toFixed(0)).join('/')} ms, ORT ${rows.map((r) => r.ort_load_ms.toFixed(0)).join('/')} ms` +
    `   peak RSS: effi ${rows.map((r) => r.effi_peak_rss_mb.toFixed(0)).join('/')} MiB, ORT ${ortRss.toFixed(0)} MiB ` +
    `(node process ${ortProcessRss.toFixed(0)} MiB minus node's own ${nodeBaseRss.toFixed(0)} MiB)`);
  if (also) {
    console.log(`also ${also}, same rounds (ORT and effi on both models alternate):`);
    console.log('threads   ONNX Runtime   effi        effi/ORT   ORT vs first   effi vs first');
    for (const r of rows)
      console.log(`${String(r.threads).padEnd(9)} ${r.also.ort_ms.toFixed(2).padStart(8)} ms  ${r.also.effi_ms.toFixed(2).padStart(7)} ms  ` +
        `${r.also.ratio.toFixed(3).padStart(7)}    ${r.also.ort_vs_main_ort.toFixed(3).padStart(9)}      ${r.also.effi_vs_main_effi.toFixed(3).padStart(9)}`);
  }
}

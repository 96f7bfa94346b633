// Side-by-side latency of ONNX Runtime (onnxruntime-node, CPU EP, graph optimisation 'all') and
// effi on the same model and thread count, alternating in rounds within one run so both see the
// same machine state; prints medians of per-round p50s and the ratio effi/ORT.
// Usage: node bench/compare_ort.mjs MODEL [--threads 1,2] [--rounds 5] [--iters 20] [--effi build/effi]
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
const model = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--')));
if (!model) {
  console.error('usage: node bench/compare_ort.mjs MODEL [--threads 1,2] [--rounds 5] [--iters 20] [--effi PATH] [--json]');
  process.exit(2);
}
const threadsList = opt('--threads', '1,2').split(',').map(Number);
const rounds = Number(opt('--rounds', '5'));
const iters = Number(opt('--iters', '20'));
const effi = opt('--effi', path.join(here, '..', 'build', 'effi'));
const asJson = args.includes('--json');

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

function effiRound(threads) {
  const out = execFileSync(effi, ['bench', model, '--threads', String(threads), '--iterations', String(iters),
    '--warmup', '3', '--json'], { encoding: 'utf8' });
  const j = JSON.parse(out);
  return { p50: j.latency_ms.p50, isa: j.isa, rss: j.peak_rss_mb, load: j.load_ms };
}

const rows = [];
for (const threads of threadsList) {
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
  });
  const ortLoad = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find?.((m) => m.name === name) : undefined;
    let dims = meta?.shape?.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    if (!dims) dims = [1, 3, 224, 224];
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; ++i) data[i] = Math.sin(i * 12.9898) * 0.5;
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  for (let i = 0; i < 3; ++i) await session.run(feeds);  // warm-up
  const ortP50 = [], effiP50 = [];
  let info = {};
  for (let r = 0; r < rounds; ++r) {
    ortP50.push(await ortRound(session, feeds));
    info = effiRound(threads);
    effiP50.push(info.p50);
  }
  const o = median(ortP50), e = median(effiP50);
  rows.push({ model: path.basename(model), threads, ort_ms: o, effi_ms: e, ratio: e / o, isa: info.isa,
    effi_peak_rss_mb: info.rss, effi_load_ms: info.load, ort_load_ms: ortLoad,
    ort_rounds: ortP50, effi_rounds: effiP50 });
  await session.release?.();
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
}

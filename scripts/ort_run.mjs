#!/usr/bin/env node
// Run an ONNX model with ONNX Runtime (onnxruntime-node, CPU execution provider) on .npy inputs
// and write its outputs as .npy. Reference runs for effi's test data; not part of the engine.
//
//   node scripts/ort_run.mjs MODEL.onnx --input NAME=in.npy [--input NAME2=in2.npy ...]
//        --output out.npy [--threads N] [--opt-level disabled|basic|extended|all] [--quiet]
//
// --input may omit "NAME=" when the model has exactly one input. The first output is written to
// out.npy; further outputs (if any) to out_1.npy, out_2.npy, ... Float outputs are written as
// float32 ('<f4'); integer/bool outputs keep their type. onnxruntime-node is resolved from the
// repository's node_modules: run `npm install --ignore-scripts` in the repository root once.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// ---------------------------------------------------------------------------------------------
// Minimal .npy reader / writer (format versions 1.0, 2.0, 3.0; C order only).
// ---------------------------------------------------------------------------------------------
const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

// descr -> [onnxruntime tensor type, TypedArray constructor]
const NPY_TYPES = {
  '<f4': ['float32', Float32Array],
  '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
  '<i2': ['int16', Int16Array],
  '|i1': ['int8', Int8Array],
  '<u8': ['uint64', BigUint64Array],
  '<u4': ['uint32', Uint32Array],
  '<u2': ['uint16', Uint16Array],
  '|u1': ['uint8', Uint8Array],
  '|b1': ['bool', Uint8Array],
};

function readNpy(file) {
  const buf = readFileSync(file);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(NPY_MAGIC)) {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf[6];
  let headerLen;
  let off;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    off = 10;
  } else if (major === 2 || major === 3) {
    headerLen = buf.readUInt32LE(8);
    off = 12;
  } else {
    throw new Error(`${file}: unsupported .npy version ${major}`);
  }
  const header = buf.subarray(off, off + headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: bad .npy header: ${header}`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran-order arrays are not supported`);
  let d = descr[1];
  if (d === '<b1' || d === '|b1' || d === '?') d = '|b1';
  if (d === '<i1') d = '|i1';
  if (d === '<u1') d = '|u1';
  const t = NPY_TYPES[d];
  if (!t) throw new Error(`${file}: unsupported dtype '${descr[1]}' (little-endian numeric only)`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const dataOff = off + headerLen;
  const [type, Ctor] = t;
  const nbytes = count * Ctor.BYTES_PER_ELEMENT;
  if (buf.length - dataOff < nbytes) throw new Error(`${file}: truncated data`);
  // Copy into a fresh, aligned buffer.
  const data = new Ctor(count);
  new Uint8Array(data.buffer).set(buf.subarray(dataOff, dataOff + nbytes));
  return { type: type === 'bool' ? 'bool' : type, data, dims };
}

function writeNpy(file, descr, dims, typedArray) {
  const shapeStr = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // Total header (magic 6 + version 2 + len 2 + header + '\n') padded to a multiple of 64.
  const base = 10 + header.length + 1;
  header += ' '.repeat((64 - (base % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  NPY_MAGIC.copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(typedArray.buffer, typedArray.byteOffset, typedArray.byteLength);
  writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

// ---------------------------------------------------------------------------------------------
function usage(msg) {
  if (msg) console.error(`ort_run: ${msg}`);
  console.error(
    'usage: node scripts/ort_run.mjs MODEL.onnx --input [NAME=]in.npy [...] --output out.npy\n' +
      '                                [--threads N] [--opt-level disabled|basic|extended|all] [--quiet]');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { model: null, inputs: [], output: null, threads: 0, optLevel: 'all', quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${s} needs a value`);
      return argv[++i];
    };
    if (s === '--input' || s === '-i') a.inputs.push(next());
    else if (s === '--output' || s === '-o') a.output = next();
    else if (s === '--threads') a.threads = Number.parseInt(next(), 10);
    else if (s === '--opt-level') a.optLevel = next();
    else if (s === '--quiet' || s === '-q') a.quiet = true;
    else if (s === '--help' || s === '-h') usage();
    else if (s.startsWith('-')) usage(`unknown option ${s}`);
    else if (!a.model) a.model = s;
    else usage(`unexpected argument ${s}`);
  }
  if (!a.model) usage('no model given');
  if (a.inputs.length === 0) usage('no --input given');
  if (!a.output) usage('no --output given');
  if (!Number.isFinite(a.threads) || a.threads < 0) usage('--threads must be >= 0');
  if (!['disabled', 'basic', 'extended', 'all'].includes(a.optLevel)) usage('bad --opt-level');
  return a;
}

function loadOrt() {
  // Resolve from this script's location, so the repository root's node_modules is used.
  const require = createRequire(import.meta.url);
  try {
    return require('onnxruntime-node');
  } catch (e) {
    console.error(
      'ort_run: cannot load onnxruntime-node. Run `npm install --ignore-scripts` in the repository\n' +
        `root (package.json lists it as a devDependency). Cause: ${e.message}`);
    process.exit(3);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const opts = { executionProviders: ['cpu'], graphOptimizationLevel: args.optLevel };
  if (args.threads > 0) {
    opts.intraOpNumThreads = args.threads;
    opts.interOpNumThreads = 1;
  }
  const session = await ort.InferenceSession.create(args.model, opts);

  const feeds = {};
  for (const spec of args.inputs) {
    let name;
    let file;
    const eq = spec.indexOf('=');
    if (eq > 0 && !spec.slice(0, eq).includes(path.sep)) {
      name = spec.slice(0, eq);
      file = spec.slice(eq + 1);
    } else {
      if (session.inputNames.length !== 1) {
        usage(`model has inputs [${session.inputNames.join(', ')}]: use --input NAME=file.npy`);
      }
      name = session.inputNames[0];
      file = spec;
    }
    if (!session.inputNames.includes(name)) {
      usage(`model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
    }
    let arr = readNpy(file);
    if (arr.type === 'float64') {  // numpy's default dtype; the models take float32
      if (!args.quiet) console.error(`ort_run: ${file}: float64 input converted to float32`);
      arr = { type: 'float32', data: Float32Array.from(arr.data), dims: arr.dims };
    }
    feeds[name] = new ort.Tensor(arr.type, arr.data, arr.dims);
  }
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length) usage(`missing inputs: ${missing.join(', ')}`);

  const results = await session.run(feeds);
  const ext = path.extname(args.output) || '.npy';
  const stem = args.output.slice(0, args.output.length - path.extname(args.output).length);
  session.outputNames.forEach((oname, k) => {
    const t = results[oname];
    const file = k === 0 ? args.output : `${stem}_${k}${ext}`;
    let descr;
    let data;
    switch (t.type) {
      case 'float32': descr = '<f4'; data = t.data; break;
      case 'float64': case 'float16': descr = '<f4'; data = Float32Array.from(t.data, Number); break;
      case 'int64': descr = '<i8'; data = t.data; break;
      case 'int32': descr = '<i4'; data = t.data; break;
      case 'uint8': descr = '|u1'; data = t.data; break;
      case 'int8': descr = '|i1'; data = t.data; break;
      case 'bool': descr = '|b1'; data = Uint8Array.from(t.data, (v) => (v ? 1 : 0)); break;
      default: throw new Error(`output ${oname}: unsupported type ${t.type}`);
    }
    writeNpy(file, descr, t.dims.map(Number), data);
    if (!args.quiet) console.log(`${oname} [${t.dims.join(',')}] ${t.type} -> ${file}`);
  });
  if (typeof session.release === 'function') await session.release();
}

main().catch((e) => {
  console.error(`ort_run: ${e.stack || e}`);
  process.exit(1);
});

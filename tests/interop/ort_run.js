// Runs an ONNX model with onnxruntime-node: ort_run.js MODEL OUT_PREFIX IN.npy...
// Inputs bind to the session's input names in order; output k is written to
// OUT_PREFIX_k.npy. The NPY dtypes handled are those of the DTYPES table.
// Required as a module it runs nothing and exports runModel (and its NPY
// helpers) for other test drivers (tests/models/ort_jobs.js).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

// NPY descr -> [onnxruntime tensor type, typed array]; '|b1' is numpy's bool.
const DTYPES = {
  '<f4': ['float32', Float32Array],
  '<f8': ['float64', Float64Array],
  '<i4': ['int32', Int32Array],
  '<i8': ['int64', BigInt64Array],
  '|i1': ['int8', Int8Array],
  '|u1': ['uint8', Uint8Array],
  '|b1': ['bool', Uint8Array],
};

function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not an NPY file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim())
    .filter((s) => s.length).map(Number);
  if (!DTYPES[descr]) throw new Error(`${path}: dtype ${descr} not handled`);
  const [type, Ctor] = DTYPES[descr];
  const bytes = buf.subarray(start);
  const data = new Ctor(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return new ort.Tensor(type, data, shape);
}

function writeNpy(path, tensor) {
  const descr = Object.keys(DTYPES).find((d) => DTYPES[d][0] === tensor.type);
  if (!descr) throw new Error(`output type ${tensor.type} not handled`);
  const dims = tensor.dims.length === 1 ? `${tensor.dims[0]},` : tensor.dims.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const data = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  fs.writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), data]));
}

async function runModel(model, outPrefix, inputs) {
  const session = await ort.InferenceSession.create(model);
  const feeds = {};
  session.inputNames.forEach((name, i) => { feeds[name] = readNpy(inputs[i]); });
  const results = await session.run(feeds);
  session.outputNames.forEach((name, k) => writeNpy(`${outPrefix}_${k}.npy`, results[name]));
}

module.exports = { runModel, readNpy, writeNpy };

if (require.main === module) {
  const [model, outPrefix, ...inputs] = process.argv.slice(2);
  runModel(model, outPrefix, inputs)
    .catch((e) => { console.error(`ort_run: ${e.message}`); process.exit(1); });
}

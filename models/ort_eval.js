// Test accuracy of an ONNX classifier on Fashion-MNIST t10k, computed by
// onnxruntime, as an independent check of `lpsparsify eval`.
//
//   node models/ort_eval.js MODEL [DATA_DIR]
//
// DATA_DIR holds t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz
// (default /usr/share/datasets/fashion-mnist). Pixels are fed as x / 255 in
// [N, 1, 28, 28] float32 batches to the model's first input; the prediction
// is the argmax of its first output. Prints one line:
//   MODEL: onnxruntime 1.30.0 accuracy 89.53% (8953/10000)
// onnxruntime-node is resolved from tests/interop (install it there with
// `ONNXRUNTIME_NODE_INSTALL=skip npm install`).
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { createRequire } = require('module');

const interopRequire = createRequire(path.join(__dirname, '..', 'tests', 'interop', 'package.json'));
const ort = interopRequire('onnxruntime-node');

const DEFAULT_DATA = '/usr/share/datasets/fashion-mnist';
const IDX_UBYTE = 0x08;
const PIXEL_SCALE = 255;
const BATCH = 500;

// Reads a gzip IDX file of uint8 values; returns { dims, data: Uint8Array }.
function readIdx(file) {
  const buf = zlib.gunzipSync(fs.readFileSync(file));
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== IDX_UBYTE) {
    throw new Error(`${file}: not a uint8 IDX file`);
  }
  const rank = buf[3];
  const dims = [];
  for (let i = 0; i < rank; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const start = 4 + 4 * rank;
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== start + count) throw new Error(`${file}: size does not match its dims`);
  return { dims, data: buf.subarray(start) };
}

async function main() {
  const [model, dataDir = DEFAULT_DATA] = process.argv.slice(2);
  if (!model) throw new Error('usage: node models/ort_eval.js MODEL [DATA_DIR]');
  const images = readIdx(path.join(dataDir, 't10k-images-idx3-ubyte.gz'));
  const labels = readIdx(path.join(dataDir, 't10k-labels-idx1-ubyte.gz'));
  const [n, rows, cols] = images.dims;
  if (labels.dims[0] !== n) throw new Error(`${dataDir}: ${n} images but ${labels.dims[0]} labels`);
  const session = await ort.InferenceSession.create(model);
  const plane = rows * cols;
  let correct = 0;
  for (let first = 0; first < n; first += BATCH) {
    const count = Math.min(BATCH, n - first);
    const x = new Float32Array(count * plane);
    for (let i = 0; i < x.length; i++) x[i] = images.data[first * plane + i] / PIXEL_SCALE;
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [count, 1, rows, cols]) };
    const logits = (await session.run(feeds))[session.outputNames[0]];
    const classes = logits.dims[1];
    for (let s = 0; s < count; s++) {
      let best = 0;
      for (let c = 1; c < classes; c++) {
        if (logits.data[s * classes + c] > logits.data[s * classes + best]) best = c;
      }
      if (best === labels.data[first + s]) correct++;
    }
  }
  const version = interopRequire('onnxruntime-node/package.json').version;
  console.log(`${model}: onnxruntime ${version} accuracy ${(100 * correct / n).toFixed(2)}% ` +
              `(${correct}/${n})`);
}

main().catch((e) => { console.error(`ort_eval: ${e.message}`); process.exit(1); });

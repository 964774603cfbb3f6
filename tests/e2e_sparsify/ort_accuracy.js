// Top-1 accuracy of an image classifier under onnxruntime-node, as an
// independent check of `lpsparsify eval`:
//   ort_accuracy.js MODEL IMAGES.idx[.gz] LABELS.idx[.gz] [SCALE]
// Images are uint8 IDX [N, H, W] or [N, C, H, W], fed as float32 x * SCALE
// (default 1/255) shaped like the model's input ([N, H*W] or [N, 1, H, W]
// from its rank; [N, C, H, W] images keep their shape).
// Prints one JSON line {"samples": N, "correct": C, "accuracy": C / N}.
// onnxruntime-node is resolved through NODE_PATH (tests/interop/node_modules).
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

const BATCH = 500;
const IDX_UBYTE = 0x08;

function readIdx(path) {
  let buf = fs.readFileSync(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== IDX_UBYTE) throw new Error(`${path}: not a uint8 IDX file`);
  const rank = buf[3];
  const dims = [];
  for (let d = 0; d < rank; d++) dims.push(buf.readUInt32BE(4 + 4 * d));
  const data = buf.subarray(4 + 4 * rank);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`${path}: size does not match its dims`);
  return { dims, data };
}

// The input shape for a batch of `count` images of `pixels` each.
function inputShape(session, count, imageDims) {
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  const rank = meta && meta.shape ? meta.shape.length : 2;
  const pixels = imageDims.reduce((a, b) => a * b, 1);
  if (rank === 2) return [count, pixels];
  if (rank === 4 && imageDims.length === 3) return [count, ...imageDims];
  if (rank === 4) return [count, 1, ...imageDims];
  throw new Error(`model input of rank ${rank} is not handled`);
}

async function main() {
  const [model, imagesPath, labelsPath, scaleArg] = process.argv.slice(2);
  const scale = scaleArg ? Number(scaleArg) : 1 / 255;
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  const n = images.dims[0];
  const imageDims = images.dims.slice(1);
  const pixels = imageDims.reduce((a, b) => a * b, 1);
  if (labels.dims[0] !== n) throw new Error('images and labels disagree on the sample count');
  const session = await ort.InferenceSession.create(model);
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  let correct = 0;
  for (let start = 0; start < n; start += BATCH) {
    const count = Math.min(BATCH, n - start);
    const x = new Float32Array(count * pixels);
    for (let i = 0; i < count * pixels; i++) x[i] = images.data[start * pixels + i] * scale;
    const feeds = { [inputName]: new ort.Tensor('float32', x, inputShape(session, count, imageDims)) };
    const out = (await session.run(feeds))[outputName];
    const classes = out.dims[1];
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (out.data[i * classes + c] > out.data[i * classes + best]) best = c;
      if (best === labels.data[start + i]) correct++;
    }
  }
  console.log(JSON.stringify({ samples: n, correct, accuracy: correct / n }));
}

main().catch((e) => { console.error(`ort_accuracy: ${e.message}`); process.exit(1); });

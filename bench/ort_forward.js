// ort_forward.js MODEL BATCH MIN_SECONDS THREADS: onnxruntime-node's
// inference throughput on one model, measured like bench_forward: every
// non-fixed dim of every input bound to BATCH, a fixed input pattern,
// WARMUP_RUNS untimed runs, then timed runs until MIN_SECONDS have passed
// (at least MIN_TIMED_RUNS). THREADS is the intra-op thread count; inter-op
// parallelism is off (sequential execution), as in our engine.
// Prints: samples_per_s=<median> best_samples_per_s=<fastest run> runs=<n> seconds=<float>
// with rates from per-run times, as bench_forward does.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tests', 'interop', 'node_modules', 'onnxruntime-node'));

const WARMUP_RUNS = 3;
const MIN_TIMED_RUNS = 5;
const PATTERN_MULT = 2654435761n;
const PATTERN_RANGE = 4294967296;

function patternInput(meta, batch) {
  if (meta.type !== 'float32' || !meta.shape) throw new Error(`input ${meta.name}: only float inputs are benchmarked`);
  const dims = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : batch));
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const h = Number((BigInt(i + 1) * PATTERN_MULT) & 0xffffffffn);
    data[i] = (h / PATTERN_RANGE) * 2 - 1;
  }
  return new ort.Tensor('float32', data, dims);
}

async function main() {
  const [model, batchArg, secondsArg, threadsArg] = process.argv.slice(2);
  const batch = Number(batchArg);
  const minSeconds = Number(secondsArg);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threadsArg),
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    feeds[name] = patternInput(session.inputMetadata[i], batch);
  });
  for (let r = 0; r < WARMUP_RUNS; r++) await session.run(feeds);
  const times = [];
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (times.length < MIN_TIMED_RUNS || elapsed < minSeconds) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const t1 = process.hrtime.bigint();
    times.push(Number(t1 - t0) / 1e9);
    elapsed = Number(t1 - start) / 1e9;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`samples_per_s=${(batch / median).toFixed(1)} best_samples_per_s=${(batch / times[0]).toFixed(1)} `
    + `runs=${times.length} seconds=${elapsed.toFixed(3)}`);
}

main().catch((e) => { console.error(`ort_forward: ${e.message}`); process.exit(1); });

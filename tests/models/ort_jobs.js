// Runs several ONNX models with onnxruntime-node in one process (node's start-up
// and onnxruntime's load dominate a tiny model's run): ort_jobs.js JOBS.json,
// where JOBS.json is [{"model": M, "out": PREFIX, "inputs": [IN.npy, ...]}, ...].
// Each job is tests/interop/ort_run.js's runModel; output k goes to PREFIX_k.npy.
// A failing job names its model on stderr and the process exits 1.
'use strict';
const fs = require('fs');
const path = require('path');
const { runModel } = require(path.join(__dirname, '..', 'interop', 'ort_run.js'));

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of jobs) {
    try {
      await runModel(job.model, job.out, job.inputs);
    } catch (e) {
      throw new Error(`${job.model}: ${e.message}`);
    }
  }
}

main().catch((e) => { console.error(`ort_jobs: ${e.message}`); process.exit(1); });

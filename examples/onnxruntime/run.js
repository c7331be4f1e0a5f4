// run.js runs an exported vlbert model with ONNX Runtime for Node (npm
// onnxruntime-node, CPU) on inputs stored as raw little-endian files. It is the
// runner vlbert's tests use to check exported models, and a worked example:
//
//   node run.js MODEL.onnx DIR [REPEAT]
//
// DIR/request.json is {"runs": [[{"name", "type": "float32"|"int64", "dims": [...],
// "file": "x.bin"}, ...], ...]}: one list of named inputs per run, each file holding
// the tensor's values in row-major order. For every run i the outputs go to
// DIR/out<i>_<name>.bin, and DIR/response.json lists them ({"runs": [{"outputs":
// [{"name", "dims", "file"}], "error": "..."}], "ms": [...]}); a run that ONNX
// Runtime rejects (a wrong input shape, an out-of-range index) records its error
// and the next run goes on. REPEAT > 1 runs each request that many times and
// records the median and the fastest wall time in ms ("ms", "min_ms");
// ORT_THREADS=n sets the intra-op thread count (default: ONNX Runtime's choice).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, dir, repeatArg] = process.argv.slice(2);
  if (!modelPath || !dir) {
    console.error('usage: node run.js MODEL.onnx DIR [REPEAT]');
    process.exit(2);
  }
  const repeat = Math.max(1, parseInt(repeatArg || '1', 10));
  const threads = parseInt(process.env.ORT_THREADS || '0', 10);
  const opts = { graphOptimizationLevel: 'all' };
  if (threads > 0) { opts.intraOpNumThreads = threads; opts.interOpNumThreads = 1; }
  const session = await ort.InferenceSession.create(modelPath, opts);
  const req = JSON.parse(fs.readFileSync(path.join(dir, 'request.json'), 'utf8'));
  const resp = { runs: [], ms: [], min_ms: [] };
  for (let i = 0; i < req.runs.length; i++) {
    const feeds = {};
    for (const inp of req.runs[i]) {
      const buf = fs.readFileSync(path.join(dir, inp.file));
      const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      const data = inp.type === 'int64' ? new BigInt64Array(ab) : new Float32Array(ab);
      feeds[inp.name] = new ort.Tensor(inp.type, data, inp.dims);
    }
    const run = { outputs: [] };
    try {
      const times = [];
      let results;
      for (let r = 0; r < repeat; r++) {
        const t0 = process.hrtime.bigint();
        results = await session.run(feeds);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      times.sort((a, b) => a - b);
      resp.ms.push(times[Math.floor(times.length / 2)]);
      resp.min_ms.push(times[0]);
      for (const name of session.outputNames) {
        const t = results[name];
        const file = `out${i}_${name}.bin`;
        fs.writeFileSync(path.join(dir, file), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        run.outputs.push({ name, dims: t.dims, type: t.type, file });
      }
    } catch (err) {
      run.error = String(err && err.message ? err.message : err);
      resp.ms.push(null);
      resp.min_ms.push(null);
    }
    resp.runs.push(run);
  }
  fs.writeFileSync(path.join(dir, 'response.json'), JSON.stringify(resp));
}

main().catch((err) => { console.error(err); process.exit(1); });

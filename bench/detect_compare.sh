#!/usr/bin/env bash
# detect_compare.sh: `vlbert bench detect` vs bench/detect_torch.py bench (the same
# bottom-up-attention network, the same seeded weights, one 600x1000 image, 300
# proposals), side by side on this CPU.
#
# Round r runs every thread count once for each side, alternating which side goes
# first; each run reports the median of STEPS timed images after WARMUP untimed ones.
# One JSON line per run goes to $RESULTS (with the 1-minute load average before the
# run); at the end, per thread count: the median ms/image and CPU ms/image of each
# side, the per-round ratios torch / vlbert (> 1: vlbert is faster) with
# min/median/max, peak RSS, and both sides' stage times (where the time goes).
#
# Environment: THREADS ["1 2"] ROUNDS [2] STEPS [2] WARMUP [1]
#   RESULTS [bench/results/detect-<UTC time>.jsonl] PYTHON [/usr/bin/python3]
#   VLBERT [build ./cmd/vlbert into a temp dir]
# PyTorch runs with OMP_WAIT_POLICY=PASSIVE (no spin-waiting on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-"1 2"}
ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-2}
WARMUP=${WARMUP:-1}
PYTHON=${PYTHON:-/usr/bin/python3}
RESULTS=${RESULTS:-bench/results/detect-$(date -u +%Y%m%d-%H%M).jsonl}
if [ -z "${VLBERT:-}" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  go build -o "$tmp/vlbert" ./cmd/vlbert
  VLBERT=$tmp/vlbert
fi
mkdir -p "$(dirname "$RESULTS")"

record() { # side threads round json
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  printf '{"side":"%s","threads":%s,"round":%s,"load1":%s,"result":%s}\n' "$1" "$2" "$3" "$load" "$4" >>"$RESULTS"
}
run_go() { record vlbert "$1" "$2" "$("$VLBERT" bench detect --threads "$1" --rounds "$STEPS" --warmup "$WARMUP" --json)"; }
run_torch() {
  record torch "$1" "$2" "$(env OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$1" OPENBLAS_NUM_THREADS="$1" MKL_NUM_THREADS="$1" \
    "$PYTHON" bench/detect_torch.py bench --threads "$1" --rounds "$STEPS" --warmup "$WARMUP" --json)"
}
for r in $(seq "$ROUNDS"); do
  for t in $THREADS; do
    if [ $((r % 2)) -eq 1 ]; then run_go "$t" "$r"; run_torch "$t" "$r"; else run_torch "$t" "$r"; run_go "$t" "$r"; fi
  done
done
"$PYTHON" - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for t in sorted({r['threads'] for r in rows}):
    by = {(r['side'], r['round']): r for r in rows if r['threads'] == t}
    rounds = sorted({k[1] for k in by})
    print(f"threads={t}")
    for side in ('vlbert', 'torch'):
        rs = [by[(side, x)]['result'] for x in rounds if (side, x) in by]
        ms = statistics.median(r['ms_per_image'] for r in rs)
        cpu = statistics.median(r['cpu_ms_per_image'] for r in rs)
        rss = max(r['peak_rss_mb'] for r in rs)
        st = {k: round(statistics.median(r['stages_ms'][k] for r in rs)) for k in rs[0]['stages_ms']}
        loads = [by[(side, x)]['load1'] for x in rounds if (side, x) in by]
        print(f"  {side:6s} median {ms:9.0f} ms/image ({1e3/ms:.3f} images/s), CPU {cpu:9.0f} ms/image, peak RSS {rss:6.0f} MB, stages {st}, load {loads}")
    for key, name in (('ms_per_image', 'wall'), ('cpu_ms_per_image', 'CPU')):
        q = [by[('torch', x)]['result'][key] / by[('vlbert', x)]['result'][key] for x in rounds if ('torch', x) in by and ('vlbert', x) in by]
        if q:
            print(f"  torch/vlbert {name}: min {min(q):.2f} median {statistics.median(q):.2f} max {max(q):.2f} over {len(q)} rounds")
PY
